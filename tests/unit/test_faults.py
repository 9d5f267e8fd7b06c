"""Kill points (jobs/runtime/faults.py): a real process dies by SIGKILL at the point named, by name
or by its place in the order, and its trace says which points it passed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobs.runtime import faults

SCRIPT = """
from jobs.runtime.faults import commit_point, kill_point
kill_point("one")
commit_point("/lake/onprem/raw/accounts/")
kill_point("three")
print("finished")
"""


def _run(tmp_path, kill_at: str | None):
    trace = tmp_path / "trace"
    env = {**os.environ, faults.TRACE: str(trace)}
    env.pop(faults.ENV, None)
    if kill_at:
        env[faults.ENV] = kill_at
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True)
    return done, trace.read_text().splitlines()


@pytest.mark.parametrize("kill_at", ["#2", "commit:raw/accounts"])
def test_a_process_dies_by_sigkill_at_the_point_by_number_or_name(tmp_path, kill_at):
    done, passed = _run(tmp_path, kill_at)
    assert done.returncode == -9 and "finished" not in done.stdout
    assert passed == ["1 one", "2 commit:raw/accounts"]


def test_without_a_kill_every_point_is_passed_and_traced(tmp_path):
    done, passed = _run(tmp_path, None)
    assert done.returncode == 0 and "finished" in done.stdout
    assert passed == ["1 one", "2 commit:raw/accounts", "3 three"]


def test_a_point_past_the_last_kills_nothing(tmp_path):
    done, passed = _run(tmp_path, "#4")
    assert done.returncode == 0 and len(passed) == 3


def test_the_points_passed_in_process_are_listed_and_reset():
    faults.reset()
    faults.commit_point("s3a://bucket/lake/stage/accounts")
    assert faults.passed() == ["commit:stage/accounts"]
    faults.reset()
    assert faults.passed() == []
