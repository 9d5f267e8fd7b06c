"""Locks between processes: which job may change a set of tables now.

- `FileLock`: flock(2) on a file on the on-prem disk. The kernel drops it when its holder
  exits or is killed, so a crashed job never blocks the next one.
- `PgAdvisoryLock`: a PostgreSQL session advisory lock, held by a connection of its own;
  PostgreSQL drops it when that connection closes or its process dies.

Both are shared (readers, appenders) or exclusive (writers that must be alone: a MERGE of keys,
VACUUM at 0 hours), wait up to `timeout` seconds, then raise LockTimeout naming the lock. Within
one process a lock is re-entrant: a job that holds it may open another handle on it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

from jobs.errors import OfferlakeError

log = logging.getLogger("offerlake.locks")

Mode = Literal["shared", "exclusive"]
SHARED: Mode = "shared"
EXCLUSIVE: Mode = "exclusive"
POLL_SECONDS = 0.5


class LockTimeout(OfferlakeError):
    """Another process held the lock for longer than the caller would wait."""


class _Held:
    """What this process holds of one lock: the OS handle, its mode and how many users."""

    def __init__(self, handle: Any, mode: Mode) -> None:
        self.handle = handle
        self.mode = mode
        self.users = 0


_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


class _Lock:
    """Re-entrant per process; subclasses take and drop the OS-level lock."""

    def __init__(self, key: str, name: str, mode: Mode, timeout: float) -> None:
        self.key = key
        self.name = name
        self.mode = mode
        self.timeout = timeout
        self._acquired = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.mode})"

    @property
    def exclusive(self) -> bool:
        return self._acquired and _HELD[self.key].mode == EXCLUSIVE

    def acquire(self) -> None:
        if self._acquired:
            return
        with _GUARD:
            held = _HELD.get(self.key)
            if held is not None:
                if self.mode == EXCLUSIVE and held.mode == SHARED:
                    raise OfferlakeError(
                        f"{self.name}: this process holds it shared and cannot take it exclusive"
                    )
                held.users += 1
                self._acquired = True
                return
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            handle = self._try()
            if handle is not None:
                break
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"{self.name} ({self.mode}): another job held it for more than "
                    f"{self.timeout:g} s; it is released when that job ends"
                )
            if not waited:
                log.warning("waiting for %s (%s), held by another job", self.name, self.mode)
                waited = True
            time.sleep(POLL_SECONDS)
        with _GUARD:
            held = _HELD.setdefault(self.key, _Held(handle, self.mode))
            held.users += 1
        self._acquired = True

    def release(self) -> None:
        if not self._acquired:
            return
        self._acquired = False
        with _GUARD:
            held = _HELD[self.key]
            held.users -= 1
            if held.users:
                return
            del _HELD[self.key]
        self._drop(held.handle)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _try(self) -> Any:  # the OS handle when taken, else None
        raise NotImplementedError

    def _drop(self, handle: Any) -> None:
        raise NotImplementedError


class FileLock(_Lock):
    """flock(2) on `path` (created with its folder). Works across processes on one host's disk
    and on NFS v4 (whose server keeps the lock)."""

    def __init__(self, path: str | Path, mode: Mode = EXCLUSIVE, timeout: float = 3600) -> None:
        self.path = Path(path)
        super().__init__(f"file:{self.path.resolve()}", str(self.path), mode, timeout)

    def _try(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        flag = fcntl.LOCK_EX if self.mode == EXCLUSIVE else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, flag | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _drop(self, handle: Any) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


class PgAdvisoryLock(_Lock):
    """pg_advisory_lock on hashtext(`name`), held by a connection opened for it."""

    def __init__(
        self, conninfo: dict[str, Any], name: str, mode: Mode = EXCLUSIVE, timeout: float = 3600
    ) -> None:
        self.conninfo = conninfo
        where = f"{conninfo.get('host')}:{conninfo.get('port')}/{conninfo.get('dbname')}"
        super().__init__(f"pg:{where}:{name}", f"advisory lock {name!r} on {where}", mode, timeout)
        self._lock_name = name

    def _try(self) -> Any:
        import psycopg

        conn = psycopg.connect(**self.conninfo, autocommit=True)
        function = (
            "pg_try_advisory_lock" if self.mode == EXCLUSIVE else ("pg_try_advisory_lock_shared")
        )
        try:
            taken = conn.execute(f"SELECT {function}(hashtext(%s))", (self._lock_name,)).fetchone()
        except BaseException:
            conn.close()
            raise
        if taken and taken[0]:
            return conn
        conn.close()
        return None

    def _drop(self, handle: Any) -> None:
        handle.close()  # the session ends: PostgreSQL drops its advisory locks
