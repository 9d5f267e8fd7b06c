"""Append-only JSON-lines files that survive a crash: each line is flushed and fsync'd before
the caller goes on; a line torn by a crash is ended before the next one is written (readers
skip it as unparsable)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO


def open_append(path: Path) -> TextIO:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        os.write(fd, b"\n")
    return os.fdopen(fd, "a", encoding="utf-8")


def write_line(file: TextIO, text: str) -> None:
    file.write(text + "\n")
    file.flush()
    os.fsync(file.fileno())
