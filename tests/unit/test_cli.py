import subprocess
import sys
from datetime import date

import pytest

from jobs.cli import build_parser, main
from jobs.pipeline import STAGE_NAMES


def test_pipeline_lists_every_stage_and_what_landed(tmp_path, capsys):
    feed = tmp_path / "onprem" / "landing" / "crm" / "2026-03-01"
    feed.mkdir(parents=True)
    (feed / "crm_clients.jsonl").write_text("{}\n")
    assert main(["--lake", str(tmp_path), "pipeline", "--date", "2026-03-01"]) == 0
    printed = capsys.readouterr().out
    assert "crm" in printed and "2026-03-01" in printed
    for name in STAGE_NAMES:
        assert name in printed


def test_bad_date_is_rejected_with_the_value():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "ingest", "--date", "24/11/2026"])


@pytest.mark.parametrize("command", ["generate", "run", "pipeline", "demo", "stages"])
def test_every_command_has_help(command):
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", command, "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "usage: offerlake" in done.stdout


def test_config_error_is_one_red_line_without_traceback(tmp_path, capsys):
    assert main(["--conf", str(tmp_path), "stages"]) == 1
    err = capsys.readouterr().err
    assert "lake.yaml: file not found" in err
    assert "Traceback" not in err


def test_run_ingest_prints_the_reconciliation_table(tmp_path, capsys, spark):
    from jobs.cli import main

    landing = tmp_path / "onprem/landing/offer_responses/2026-03-01"
    landing.mkdir(parents=True)
    (landing / "responses.jsonl").write_text(
        '{"client_id":1,"offer_id":"O-1","event":"opened","ts":"2026-03-01T10:00:00Z"}\n'
        '{"client_id":1,"offer_id":"O-1","event":"teleported","ts":"2026-03-01T10:01:00Z"}\n'
    )
    code = main(["--lake", str(tmp_path), "run", "ingest", "--date", "2026-03-01"])
    printed = capsys.readouterr().out
    assert code == 0
    row = next(line for line in printed.splitlines() if "offer_responses" in line)
    assert "2" in row and "not_allowed_value 1" in row and "reconciled" in row


def test_run_ingest_exits_1_naming_an_unreadable_file(tmp_path, capsys, spark):
    from jobs.cli import main

    landing = tmp_path / "onprem/landing/crm/2026-03-01"
    landing.mkdir(parents=True)
    (landing / "crm_clients.jsonl").write_bytes(b"\x00\x01binary\x00")
    code = main(["--lake", str(tmp_path), "run", "ingest", "--date", "2026-03-01"])
    captured = capsys.readouterr()
    assert code == 1
    assert "crm/2026-03-01/crm_clients.jsonl" in captured.out
    assert "failed" in captured.err


def test_demo_generates_a_bank_runs_its_last_day_lands_reactions_then_measures_the_next(
    tmp_path, monkeypatch, capsys
):
    """The demo's order and dates; the stages themselves are tested in tests/integration and
    tests/dags (the whole chain)."""
    from jobs import cli

    calls = []
    for name, step in (("_pipeline", "pipeline"), ("_simulate_reactions", "react")):
        monkeypatch.setattr(
            cli,
            name,
            lambda args, _, step=step: calls.append(
                (step, args.date, getattr(args, "measure", 0), getattr(args, "closing", 0))
            ),
        )
    code = main(["--lake", str(tmp_path), "demo", "--customers", "20", "--days", "10"])
    assert code == 0
    landed = tmp_path / "onprem" / "landing" / "crm" / "2026-01-10" / "crm_clients.jsonl"
    assert len(landed.read_text().splitlines()) == 20
    day, next_day = date(2026, 1, 10), date(2026, 1, 11)
    # the whole pipeline on the bank's last day; the next day only ingests and measures, and
    # closes with the summary and the report
    assert calls == [
        ("pipeline", day, False, False),
        ("react", day, 0, 0),
        ("pipeline", next_day, True, True),
    ]
    assert "demo:" in capsys.readouterr().out


def test_a_measuring_run_ingests_and_measures_and_makes_no_offers(monkeypatch, tmp_path):
    from jobs import pipeline
    from jobs.runtime.config import LakeConfig

    ran = []
    monkeypatch.setattr(pipeline, "run_stage", lambda name, *_: ran.append(name) or [])
    monkeypatch.setattr("jobs.privacy.commands.leakscan", lambda *_: ("scan", []))
    monkeypatch.setattr("jobs.runtime.spark.build_spark", lambda _: None)
    config = LakeConfig.load(lake=str(tmp_path))
    result = pipeline.run_pipeline(config, date(2026, 4, 1), stages=pipeline.MEASURE_STAGES)
    assert ran == ["ingest", "privacy", "effectiveness", "catalog"]
    assert list(result.seconds) == [*ran, "leakscan"]
    ran.clear()
    pipeline.run_pipeline(config, date(2026, 4, 1))
    assert ran == list(pipeline.STAGE_NAMES)
