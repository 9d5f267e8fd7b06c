"""Leases (jobs/runtime/lease.py): a holder whose process died on this host is taken over at once;
a live holder, or one on another host, keeps its lease until it ends."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from jobs.runtime.lease import Lease


def _held_by(tmp_path, pid: int, host: str | None = None) -> Lease:
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"host": host or socket.gethostname(), "pid": pid, "id": "other", "until": until}
    (tmp_path / "run.lease").write_text(json.dumps(body))
    return Lease(tmp_path, "run", ttl_seconds=60, wait_seconds=0)


def test_the_lease_of_a_dead_process_on_this_host_is_taken_at_once(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lease = _held_by(tmp_path, int(gone.stdout))
    assert lease.acquire() is None
    lease.check()
    lease.release()


def test_a_live_holder_or_one_on_another_host_keeps_its_lease(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _held_by(tmp_path, alive.pid).acquire()["id"] == "other"
        assert _held_by(tmp_path, 999_999_999, host="elsewhere").acquire()["id"] == "other"
    finally:
        alive.kill()
