"""Which dates an Airflow run processes: its triggering asset events' dates in order, else the
trigger form's date, else its logical date; and the dates its outlet events carry on."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset

from jobs.orchestration.run_dates import NoRunDate, announce, run_dates


def _event(extra, dag="ingest"):
    return SimpleNamespace(extra=extra, source_dag_id=dag, source_run_id="r1")


def test_an_asset_triggered_run_takes_every_date_of_its_events_oldest_first_once():
    raw, stage = Asset("offerlake_raw"), Asset("offerlake_stage")
    events = {
        raw: [_event({"date": "2026-04-02"}), _event({"dates": ["2026-03-31", "2026-04-01"]})],
        stage: [_event({"date": "2026-04-01", "dates": ["2026-04-01"]})],
    }
    context = {"triggering_asset_events": events, "logical_date": None}
    assert run_dates(context) == ["2026-03-31", "2026-04-01", "2026-04-02"]


def test_an_event_without_a_date_is_an_error_that_names_the_asset_and_its_source():
    events = {Asset("offerlake_raw"): [_event({}, dag="someone_else")]}
    with pytest.raises(NoRunDate, match="offerlake_raw from someone_else/r1 carries no date"):
        run_dates({"triggering_asset_events": events})
    events = {Asset("offerlake_raw"): [_event({"date": "31/03/2026"})]}
    with pytest.raises(NoRunDate, match="'31/03/2026' is not a date"):
        run_dates({"triggering_asset_events": events})


def test_a_manual_run_takes_its_date_param_then_its_logical_date_then_when_it_ran():
    logical = datetime(2026, 3, 31, tzinfo=UTC)
    assert run_dates({"params": {"date": "2026-04-05"}, "logical_date": logical}) == ["2026-04-05"]
    assert run_dates({"params": {"date": None}, "logical_date": logical}) == ["2026-03-31"]
    run = SimpleNamespace(logical_date=None, run_after=datetime(2026, 4, 9, 7, tzinfo=UTC))
    assert run_dates({"triggering_asset_events": {}, "dag_run": run}) == ["2026-04-09"]
    with pytest.raises(NoRunDate):
        run_dates({"dag_run": SimpleNamespace(logical_date=None, run_after=None)})


def test_announce_puts_the_dates_on_every_outlet_event():
    events = {"a": SimpleNamespace(extra={}), "b": SimpleNamespace(extra={})}
    announce({"outlet_events": events}, ["a", "b"], ["2026-03-31", "2026-04-01"])
    assert events["a"].extra == {"date": "2026-04-01", "dates": ["2026-03-31", "2026-04-01"]}
    assert events["b"].extra == events["a"].extra
