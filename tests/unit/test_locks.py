"""Locks between processes (jobs/runtime/locks.py): real processes hold them, one is killed -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from jobs.runtime.locks import EXCLUSIVE, SHARED, FileLock, LockTimeout, PgAdvisoryLock

PG_URL = os.environ.get("OFFERLAKE_PG_URL", "")
HOLDER = """
import sys
from jobs.runtime.locks import FileLock, PgAdvisoryLock
from jobs.privacy.vault_postgres import conninfo
kind, where, mode = sys.argv[1:4]
lock = FileLock(where, mode) if kind == "file" else PgAdvisoryLock(conninfo(where), "t", mode)
lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


def _file(tmp_path):
    path = str(tmp_path / "vault" / "_vault.lock")
    return ("file", path), lambda mode, timeout=0.3: FileLock(path, mode, timeout)


def _pg(tmp_path):
    if not PG_URL:
        pytest.skip("OFFERLAKE_PG_URL is not set: PostgreSQL is started by .ci/run")
    from jobs.privacy.vault_postgres import conninfo

    return ("pg", PG_URL), lambda mode, timeout=0.3: PgAdvisoryLock(
        conninfo(PG_URL), "t", mode, timeout
    )


KINDS = [
    pytest.param(_file, id="file"),
    pytest.param(_pg, id="postgres", marks=pytest.mark.postgres),
]


def _holder(where: tuple[str, str], mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *where, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("kind", KINDS)
def test_an_exclusive_holder_keeps_everyone_out_until_it_is_killed(kind, tmp_path):
    where, lock = kind(tmp_path)
    holder = _holder(where, EXCLUSIVE)
    try:
        for mode in (EXCLUSIVE, SHARED):
            with pytest.raises(LockTimeout, match="another job held it"):
                lock(mode).acquire()
        holder.send_signal(signal.SIGKILL)  # a crashed job: the OS or PostgreSQL drops its lock
        holder.wait()
        began = time.monotonic()
        with lock(EXCLUSIVE, timeout=10) as taken:
            assert taken.exclusive
        assert time.monotonic() - began < 5
    finally:
        holder.kill()


@pytest.mark.parametrize("kind", KINDS)
def test_shared_holders_read_together_and_a_writer_waits_for_them(kind, tmp_path):
    where, lock = kind(tmp_path)
    holder = _holder(where, SHARED)
    try:
        with lock(SHARED):
            pass
        with pytest.raises(LockTimeout):
            lock(EXCLUSIVE).acquire()
        holder.stdin.close()  # the reader ends normally
        holder.wait(timeout=10)
        with lock(EXCLUSIVE, timeout=10) as taken:
            assert taken.exclusive
    finally:
        holder.kill()


def test_a_lock_is_reentrant_within_a_process_but_not_upgraded(tmp_path):
    path = tmp_path / f"{uuid.uuid4().hex}.lock"
    with FileLock(path, EXCLUSIVE, 0.3) as outer:
        with FileLock(path, SHARED, 0.3):
            assert outer.exclusive
        assert outer.exclusive  # the inner release kept the process's lock
    assert not outer.exclusive
    with FileLock(path, SHARED, 0.3):
        with pytest.raises(Exception, match="cannot take it exclusive"):
            FileLock(path, EXCLUSIVE, 0.3).acquire()
