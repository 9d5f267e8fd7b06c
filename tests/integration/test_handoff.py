"""Stage `handoff`: D's non-holdout offers exported as Parquet with a manifest that on-prem
delivery verifies (jobs/delivery)."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality

from jobs.delivery import manifest
from jobs.delivery.handoff import SCHEMA
from jobs.delivery.manifest import HandoffError
from tests.lakes import Lake

DAY = date(2026, 3, 31)
RUN = "match-2026-03-31"
OFFERS = (
    "run_date date, run_id string, client_id string, campaign string, variant string, "
    "channel string, parameters string, send_at timestamp, expires_at timestamp, "
    "holdout boolean, priority int, expected_value double, topic string, ally_id string, "
    "reason string"
)


def _offer(client: str, holdout: bool = False, day: date = DAY, campaign: str = "car_loan"):
    send = datetime(day.year, day.month, day.day, 9)
    return (
        day,
        f"match-{day.isoformat()}",
        client,
        campaign,
        "prime",
        "email",
        '{"rate": 3.9}',
        send,
        send.replace(hour=23),
        holdout,
        10,
        120.0,
        "loans",
        None,
        "segment = family",
    )


def _write_offers(lake: Lake) -> None:
    rows = [_offer(f"cl_{i:03d}") for i in range(30)]
    rows += [_offer("cl_held", holdout=True), _offer("cl_other_day", day=date(2026, 3, 30))]
    df = lake.spark.createDataFrame(rows, OFFERS)
    df.write.format("delta").partitionBy("run_date").save(
        str(lake.root / "lake" / "analytics" / "deliverable_offers")
    )


@pytest.fixture
def offers_lake(lake):
    _write_offers(lake)
    return lake


def _folder(lake) -> Path:
    return lake.root / "lake" / "handoff" / RUN


def test_handoff_exports_the_runs_offers_without_holdouts(offers_lake):
    result = offers_lake.run("handoff", DAY)[f"handoff/{RUN}"]
    assert (result.rows_read, result.rows_written, result.rows_withheld) == (31, 30, 1)
    assert result.reconciled
    folder = _folder(offers_lake)
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".parquet")) == [
        manifest.MANIFEST
    ]
    assert not list(folder.parent.glob(".*")), "the staging folder is gone once published"
    got = offers_lake.spark.read.parquet(str(folder))
    assert got.schema == SCHEMA
    assert sorted(r.client_id for r in got.collect()) == [f"cl_{i:03d}" for i in range(30)]

    body = json.loads((folder / manifest.MANIFEST).read_text())
    assert body["run_id"] == RUN and body["rows"] == 30
    for name, entry in body["files"].items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert manifest.verify(str(folder)).rows == 30


def test_a_rerun_replaces_the_handoff_with_the_same_rows(offers_lake):
    offers_lake.run("handoff", DAY)
    first = offers_lake.spark.read.parquet(str(_folder(offers_lake))).collect()
    (_folder(offers_lake) / "stray.parquet").write_bytes(b"left from an earlier crash")
    offers_lake.run("handoff", DAY)
    second = offers_lake.spark.read.parquet(str(_folder(offers_lake)))
    assert_df_equality(offers_lake.spark.createDataFrame(first, SCHEMA), second)
    assert manifest.verify(str(_folder(offers_lake))).rows == 30


def test_a_day_without_offers_hands_off_an_empty_verified_run(offers_lake):
    result = offers_lake.run("handoff", date(2026, 4, 1))["handoff/match-2026-04-01"]
    assert (result.rows_read, result.rows_written) == (0, 0)
    folder = offers_lake.root / "lake" / "handoff" / "match-2026-04-01"
    assert manifest.verify(str(folder)).rows == 0
    assert offers_lake.spark.read.parquet(str(folder)).schema == SCHEMA


def test_no_deliverable_offers_yet_is_a_note_not_an_error(lake):
    result = lake.run("handoff", DAY)[f"handoff/{RUN}"]
    assert result.rows_written == 0 and "no deliverable_offers yet" in result.notes


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Path:
    """One handoff, made once; tests that tamper with it take a copy (`handed_off`)."""
    lake = Lake(tmp_path_factory.mktemp("handoff") / "lake", spark)
    _write_offers(lake)
    lake.run("handoff", DAY)
    return _folder(lake)


@pytest.fixture
def handed_off(published, tmp_path) -> Path:
    return Path(shutil.copytree(published, tmp_path / RUN))


def _part(folder: Path) -> Path:
    return sorted(folder.glob("part-*.parquet"))[0]


def test_a_changed_file_is_refused_naming_it(handed_off):
    part = _part(handed_off)
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(HandoffError, match=rf"changed file {part.name}"):
        manifest.verify(str(handed_off))


def test_a_missing_file_is_refused_naming_it(handed_off):
    part = _part(handed_off)
    part.unlink()
    with pytest.raises(HandoffError, match=rf"missing file {part.name}"):
        manifest.verify(str(handed_off))


def test_an_extra_file_is_refused_naming_it(handed_off):
    (handed_off / "part-99999-extra.parquet").write_bytes(_part(handed_off).read_bytes())
    with pytest.raises(HandoffError, match="extra file part-99999-extra.parquet"):
        manifest.verify(str(handed_off))


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{not json", "malformed manifest"),
        ('{"format": "offerlake-handoff/1", "run_id": "x", "rows": 1}', "malformed manifest"),
        ('{"format": "something-else/9", "run_id": "x", "rows": 0, "files": {}}', "format is"),
    ],
)
def test_a_malformed_manifest_refuses_the_handoff(handed_off, text, reason):
    (handed_off / manifest.MANIFEST).write_text(text)
    with pytest.raises(HandoffError, match=reason):
        manifest.verify(str(handed_off))


def test_rows_that_disagree_with_the_files_are_refused(handed_off):
    path = handed_off / manifest.MANIFEST
    body = json.loads(path.read_text())
    body["rows"] += 1
    path.write_text(json.dumps(body))
    with pytest.raises(HandoffError, match="says 31 rows but its files list 30"):
        manifest.verify(str(handed_off))


def test_a_folder_without_a_manifest_is_not_a_handoff(handed_off):
    (handed_off / manifest.MANIFEST).unlink()
    with pytest.raises(HandoffError, match="no manifest"):
        manifest.verify(str(handed_off))
