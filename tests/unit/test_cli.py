import subprocess
import sys

import pytest

from jobs.cli import build_parser, main
from jobs.pipeline import STAGE_NAMES


def test_unbuilt_stage_exits_2_and_says_so(tmp_path, capsys):
    code = main(["--lake", str(tmp_path), "run", "model", "--date", "2026-03-01"])
    assert code == 2
    assert "stage model is not built yet" in capsys.readouterr().err


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


@pytest.mark.parametrize("command", ["generate", "run", "pipeline", "stages"])
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
