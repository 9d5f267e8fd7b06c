"""Which dates an Airflow run is for, and how that date travels on to the runs it starts.

Airflow 3 gives a run started by an Asset event no logical date, so `{{ ds }}` cannot say which
day's data it should process (apache/airflow#58516). The date therefore travels with the data:

- a task that announces an Asset attaches its dates to the event:
  `outlet_events[asset].extra = {"date": LAST, "dates": [D1, D2, ...]}`;
- an asset-triggered run takes its dates from its triggering events, all of them, in date order
  (events that queued up while the DAG was busy mean several dates in one run);
- a manual run takes the `date` param of its trigger form when given, else its logical date; a
  scheduled or backfilled run its logical date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

DATE_PARAM = "date"


class NoRunDate(ValueError):
    """The run carries no date to process: an asset event without one, or no date at all."""


def _iso(value: object, where: str) -> str:
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError as error:
        raise NoRunDate(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from error


def event_dates(extra: Mapping | None, where: str) -> list[str]:
    """The dates an asset event's `extra` carries (`dates`, or the single `date`)."""
    extra = extra or {}
    values = extra.get("dates") or ([extra["date"]] if extra.get("date") else [])
    if not values:
        raise NoRunDate(
            f"{where} carries no date in its extra ({dict(extra)}): announce assets from "
            "offerlake tasks, or post the event with extra {'date': 'YYYY-MM-DD'}"
        )
    return [_iso(v, where) for v in values]


def triggering_dates(events: Mapping) -> list[str]:
    """Every date of a run's triggering asset events, sorted, once each."""
    found: set[str] = set()
    for asset in events:
        for event in events[asset]:
            where = f"asset event of {getattr(asset, 'name', asset)}"
            source = getattr(event, "source_dag_id", None)
            if source:
                where += f" from {source}/{getattr(event, 'source_run_id', '?')}"
            found.update(event_dates(getattr(event, "extra", None), where))
    return sorted(found)


def run_dates(context: Mapping) -> list[str]:
    """The dates this task's run is for, oldest first (see the module's description)."""
    events = context.get("triggering_asset_events")
    if events:
        return triggering_dates(events)
    params = context.get("params") or {}
    if params.get(DATE_PARAM):
        return [_iso(params[DATE_PARAM], f"param {DATE_PARAM}")]
    dag_run = context.get("dag_run")
    for value in (
        context.get("logical_date"),
        getattr(dag_run, "logical_date", None),
        getattr(dag_run, "run_after", None),
    ):
        if value:
            return [value.date().isoformat()]
    raise NoRunDate("the run has no triggering asset event, date param or logical date")


def announce(context: Mapping, outlets: Iterable, dates: list[str]) -> None:
    """Attach `dates` to the events this task's outlets emit when it succeeds."""
    events = context["outlet_events"]
    for asset in outlets:
        events[asset].extra = {"date": dates[-1], "dates": list(dates)}
