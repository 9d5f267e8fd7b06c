"""Kill points for fault-injection tests (tests/integration/test_kill_anywhere.py, `make soak`).

Jobs call `kill_point(name)` after each commit that matters (a Delta commit, a message sent, a
step of an erasure plan). Nothing happens unless OFFERLAKE_KILL_AT is set:

- `OFFERLAKE_KILL_AT=erase:planned` kills the process at the point of that name;
- `OFFERLAKE_KILL_AT=#7` kills it at the 7th point it passes, whatever its name.

The kill is SIGKILL, as `kill -9` sends: no cleanup, no `finally`, no flush. Spark's JVM is
killed first, so no write of the job goes on without its driver. With OFFERLAKE_KILL_TRACE set
to a file, each point passed is appended to it (`<n> <name>`), so a harness learns where a
process died. `passed()` lists the points this process has passed (an in-process run's trace).
"""

from __future__ import annotations

import os
import signal

ENV = "OFFERLAKE_KILL_AT"
TRACE = "OFFERLAKE_KILL_TRACE"

_passed: list[str] = []


def passed() -> list[str]:
    """The names of the kill points this process has passed, in order."""
    return list(_passed)


def reset() -> None:
    _passed.clear()


def commit_point(path: str) -> None:
    """A kill point after a commit to the table at path (named by its zone and table)."""
    kill_point("commit:" + "/".join(str(path).rstrip("/").split("/")[-2:]))


def kill_point(name: str) -> None:
    _passed.append(name)
    if trace := os.environ.get(TRACE):
        with open(trace, "a") as out:
            out.write(f"{len(_passed)} {name}\n")
    wanted = os.environ.get(ENV)
    if wanted and wanted in (name, f"#{len(_passed)}"):
        _die()


def _die() -> None:
    from pyspark import SparkContext

    gateway = getattr(SparkContext, "_gateway", None)
    jvm = getattr(gateway, "proc", None)
    if jvm is not None:
        os.kill(jvm.pid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
