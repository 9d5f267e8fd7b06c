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


def rewrite_without(path: Path, unwanted) -> int:
    """Replace the file whole (a temporary file, fsync'd, then renamed) without the lines for
    which `unwanted(line)` is true; the number of lines left out. A file left empty is deleted."""
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if unwanted(line):
            dropped += 1
        else:
            kept.append(line)
    if not dropped:
        return 0
    if not kept:
        path.unlink()
        return dropped
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(kept) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return dropped
