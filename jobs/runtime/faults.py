"""Kill points for fault-injection tests: `kill_point("erase:after-raw")` kills the process with
SIGKILL (as `kill -9` would) when OFFERLAKE_KILL_AT names that point, and does nothing otherwise.
Placed between a job's commits, so a test can stop a real process there and re-run the job."""

from __future__ import annotations

import os
import signal

ENV = "OFFERLAKE_KILL_AT"


def kill_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
