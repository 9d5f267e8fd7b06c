"""Landed files of a feed: deliveries to ingest, checksums, and whole-file checks before Spark.

A file that is empty or a truncated gzip still gets ingested: its rows go to quarantine with the
reason. A gzip that inflates past conf/lake.yaml's limits (a decompression bomb) is quarantined
as one whole-file row, and the feed's other files still land. Gzips are checked by streaming
them through zlib in 1 MiB pieces, never inflated whole in memory. A file that is not what the
feed expects at all (wrong encoding, not the format) raises `UnreadableFileError` naming the
file, which fails that feed only.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jobs.errors import OfferlakeError
from jobs.runtime.config import MIB, GzipLimits

DEFAULT_LIMITS = GzipLimits()

SNIFF_BYTES = 64 * 1024
CHUNK = 1 << 20


class UnreadableFileError(OfferlakeError):
    """A whole landed file cannot be read as its feed's format."""


@dataclass(frozen=True)
class LandedFile:
    path: Path
    relative: str  # "<feed>/<delivery>/<name>": what _source_file and quarantine rows show
    size: int
    checksum: str  # sha256 of the bytes
    limits: GzipLimits = DEFAULT_LIMITS  # how far a .gz may inflate

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


def landed_files(
    delivery: Path, pattern: str, limits: GzipLimits = DEFAULT_LIMITS
) -> list[LandedFile]:
    landing = delivery.parent.parent
    return [
        LandedFile(p, str(p.relative_to(landing)), p.stat().st_size, sha256_of(p), limits)
        for p in sorted(delivery.glob(pattern))
        if p.is_file()
    ]


def _inflate(path: Path, limits: GzipLimits):
    """Yield the inflated pieces of a (possibly multi-member) gzip; stop at `limits` with
    `Bomb`. zlib.error and a missing end marker are the caller's to catch and see."""
    size = path.stat().st_size or 1
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            while chunk:
                piece = inflater.decompress(chunk, CHUNK)
                chunk = inflater.unconsumed_tail
                total += len(piece)
                if total > limits.max_inflated_bytes or (
                    total > limits.ratio_after and total / size > limits.max_ratio
                ):
                    raise Bomb(total, size, limits)
                yield piece
                if inflater.eof and inflater.unused_data:  # concatenated members
                    chunk = inflater.unused_data + chunk
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    if not inflater.eof:
        raise EOFError("gzip stream ends before its end marker (file truncated)")


class Bomb(Exception):
    def __init__(self, inflated: int, size: int, limits: GzipLimits) -> None:
        super().__init__(
            f"decompression bomb: {size:,} bytes inflated past {inflated:,} "
            f"({inflated / size:,.0f} times) before reading stopped; limits "
            f"{limits.max_inflated_bytes // MIB:,} MiB and {limits.max_ratio:g} times"
        )


def gzip_problem(path: Path, limits: GzipLimits = DEFAULT_LIMITS) -> tuple[str, str] | None:
    """None when the gzip stream is complete and within limits, else (rule, why)."""
    try:
        for _ in _inflate(path, limits):
            pass
    except Bomb as exc:
        return "decompression_bomb", str(exc)
    except zlib.error as exc:
        return "truncated_gzip", f"corrupt gzip data ({exc})"
    except EOFError as exc:
        return "truncated_gzip", str(exc)
    return None


def recovered_lines(path: Path, limits: GzipLimits = DEFAULT_LIMITS) -> list[str]:
    """The text a truncated gzip still yields, line by line (the last one may be cut)."""
    text = bytearray()
    try:
        for piece in _inflate(path, limits):
            text.extend(piece)
    except (Bomb, zlib.error, EOFError):
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
