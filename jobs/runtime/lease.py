"""A lease on the on-prem disk: one holder at a time for a named piece of work (the delivery of
one handoff), for a limited time that the holder keeps renewing while it works.

`<folder>/<name>.lease` names the holder (host, pid, a random id) and when the lease ends. It is
read and replaced only under a short flock (jobs/runtime/locks.py), and replaced whole (a
temporary file, then rename), so no reader sees half of it. A background thread renews it every
third of its time. A holder that dies stops renewing: once its lease ends, the next process takes
it. A holder that stalls past its end loses it, and `check` (called before each step that must
not be done twice) then stops it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs.errors import OfferlakeError
from jobs.runtime.locks import EXCLUSIVE, FileLock

log = logging.getLogger("offerlake.lease")


class LeaseLost(OfferlakeError):
    """The lease ended and another process took it: stop before doing anything twice."""


def _now() -> datetime:
    return datetime.now(UTC)


_THREADS: dict[str, threading.Lock] = {}  # the flock is per process: threads take this too
_THREADS_GUARD = threading.Lock()


class _Guard:
    """The short critical section around reading and replacing a lease file."""

    def __init__(self, path: Path) -> None:
        self.file = FileLock(path, EXCLUSIVE, timeout=60)
        with _THREADS_GUARD:
            self.thread = _THREADS.setdefault(str(path.resolve()), threading.Lock())

    def __enter__(self) -> None:
        self.thread.acquire()
        try:
            self.file.acquire()
        except BaseException:
            self.thread.release()
            raise

    def __exit__(self, *exc) -> None:
        self.file.release()
        self.thread.release()


def _dead_here(body: dict) -> bool:
    """The holder ran on this host and its process no longer exists (killed, crashed): its lease
    need not run out. A holder on another host, or a pid now in use again, waits for the end."""
    if body.get("host") != socket.gethostname() or not isinstance(body.get("pid"), int):
        return False
    try:
        os.kill(body["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    def __init__(self, folder: Path, name: str, ttl_seconds: float, wait_seconds: float = 0):
        self.path = Path(folder) / f"{name}.lease"
        self.name = name
        self.ttl = ttl_seconds
        self.wait = wait_seconds
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        self._guard = _Guard(self.path.with_suffix(".lease.lock"))
        self._held = False
        self._lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Lease({self.name})"

    def holder(self) -> dict | None:
        """The current lease's body, None when there is none."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # not written by a Lease (replaced whole): treated as free

    def _write(self) -> None:
        until = _now() + timedelta(seconds=self.ttl)
        body = json.dumps({**self.me, "until": until.isoformat()})
        tmp = self.path.with_name(f".{self.path.name}.{self.me['id']}")
        with open(tmp, "w") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def _mine(self, body: dict | None) -> bool:
        return body is not None and body.get("id") == self.me["id"]

    def _try(self) -> dict | None:
        """Take the lease if it is free, ended, or ours; else the other holder's body."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._guard:
            body = self.holder()
            ended = body is not None and datetime.fromisoformat(body["until"]) <= _now()
            if body is None or self._mine(body) or ended or _dead_here(body):
                if body is not None and not self._mine(body):
                    why = f"ended at {body.get('until')}" if ended else "its process is gone"
                    log.warning(
                        "%s: the lease of %s:%s %s; taking it over",
                        self.name, body.get("host"), body.get("pid"), why,
                    )  # fmt: skip
                self._write()
                return None
            return body

    def acquire(self) -> dict | None:
        """Take the lease, waiting up to `wait_seconds`. None when taken; else the body of the
        lease another process holds (the caller exits cleanly)."""
        deadline = time.monotonic() + self.wait
        while (other := self._try()) is not None:
            if time.monotonic() >= deadline:
                return other
            time.sleep(min(1.0, max(0.05, self.wait / 20)))
        self._held = True
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{self.name}", daemon=True)
        self._renewer.start()
        return None

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._guard:
                if not self._mine(self.holder()):
                    self._lost = True
                    return
                self._write()

    def check(self) -> None:
        """Raise LeaseLost unless this process still holds the lease (before each send)."""
        if not self._held or self._lost or not self._mine(self.holder()):
            self._lost = True
            raise LeaseLost(
                f"{self.name}: this process no longer holds its lease (it ended and another "
                "process took it over); stopping before anything is done twice"
            )

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._guard:
            if self._mine(self.holder()):
                self.path.unlink()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
