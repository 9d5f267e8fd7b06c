"""Landed files of a feed: deliveries to ingest, checksums, and whole-file checks before Spark.

A file that is empty or a truncated gzip still gets ingested: its rows go to quarantine with the
reason. A file that is not what the feed expects at all (wrong encoding, not the format) raises
`UnreadableFileError` naming the file, which fails that feed only.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jobs.errors import OfferlakeError

SNIFF_BYTES = 64 * 1024


class UnreadableFileError(OfferlakeError):
    """A whole landed file cannot be read as its feed's format."""


@dataclass(frozen=True)
class LandedFile:
    path: Path
    relative: str  # "<feed>/<delivery>/<name>": what _source_file and quarantine rows show
    size: int
    checksum: str  # sha256 of the bytes

    @property
    def gzipped(self) -> bool:
        return self.path.suffix == ".gz"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def deliveries(landing: Path, feed: str, run_date: date) -> list[Path]:
    """The feed's delivery folders named by a date up to run_date, oldest first."""
    folder = landing / feed
    if not folder.is_dir():
        return []
    found = []
    for child in sorted(folder.iterdir()):
        try:
            when = date.fromisoformat(child.name)
        except ValueError:
            continue
        if child.is_dir() and when <= run_date:
            found.append(child)
    return found


def landed_files(delivery: Path, pattern: str) -> list[LandedFile]:
    landing = delivery.parent.parent
    return [
        LandedFile(p, str(p.relative_to(landing)), p.stat().st_size, sha256_of(p))
        for p in sorted(delivery.glob(pattern))
        if p.is_file()
    ]


def gzip_tail_problem(path: Path) -> str | None:
    """None when the gzip stream is complete, else why it is not."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                inflater.decompress(chunk)
                while inflater.eof and inflater.unused_data:  # concatenated members
                    rest = inflater.unused_data
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    inflater.decompress(rest)
    except zlib.error as exc:
        return f"corrupt gzip data ({exc})"
    if not inflater.eof:
        return "gzip stream ends before its end marker (file truncated)"
    return None


def recovered_lines(path: Path) -> list[str]:
    """The text a truncated gzip still yields, line by line (the last one may be cut)."""
    text = bytearray()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                text.extend(inflater.decompress(chunk))
    except zlib.error:
        pass
    return text.decode("utf-8", errors="replace").splitlines()


def head_bytes(file: LandedFile) -> bytes:
    if file.gzipped:
        try:
            with gzip.open(file.path, "rb") as handle:
                return handle.read(SNIFF_BYTES)
        except (EOFError, OSError, zlib.error):
            return b""
    with file.path.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


def check_text(file: LandedFile, expect: str) -> None:
    """Fail clearly when a text feed's file is binary, not UTF-8, or not `expect` at all."""
    head = head_bytes(file)
    if b"\x00" in head:
        raise UnreadableFileError(f"{file.relative}: binary data where {expect} text was expected")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut by the sniff window
            raise UnreadableFileError(
                f"{file.relative}: not UTF-8 text (byte 0x{head[exc.start]:02x} at offset "
                f"{exc.start}); the feed expects {expect}"
            ) from None
    if expect == "JSON lines":
        first = next((line for line in head.splitlines() if line.strip()), b"")
        if first and not first.lstrip().startswith(b"{"):
            raise UnreadableFileError(
                f"{file.relative}: line 1 is not a JSON object; the feed expects {expect}"
            )


def check_ebcdic(file: LandedFile, record_length: int) -> None:
    """EBCDIC text is mostly bytes above 0x80; a file of ASCII spaces, digits, letters is wrong."""
    head = head_bytes(file)[: record_length * 4]
    ascii_text = sum(
        b == 0x20 or 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A for b in head
    )
    if head and ascii_text > len(head) * 0.7:
        raise UnreadableFileError(
            f"{file.relative}: looks like ASCII text, not EBCDIC fixed-width records "
            f"of {record_length} bytes"
        )
