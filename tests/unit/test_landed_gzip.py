"""Landed .gz files are streamed, never inflated whole: complete, truncated and bomb files."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

from jobs.ingest.landed import gzip_problem, recovered_lines
from jobs.runtime.config import MIB, GzipLimits


def _zeros(mib: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MIB)
    return b"".join(packer.compress(block) for _ in range(mib)) + packer.flush()


def test_whole_and_multi_member_files_pass_and_a_cut_one_is_truncated(tmp_path):
    one = gzip.compress(b"a\nb\n", mtime=0)
    path = tmp_path / "ok.gz"
    path.write_bytes(one + gzip.compress(b"c\n", mtime=0))
    assert gzip_problem(path) is None
    cut = tmp_path / "cut.gz"
    text = "\n".join(f"line {n}" for n in range(5000)).encode()
    whole = gzip.compress(text, mtime=0)
    cut.write_bytes(whole[: len(whole) // 2])
    rule, why = gzip_problem(cut)
    assert rule == "truncated_gzip" and "truncated" in why
    lines = recovered_lines(cut)
    assert lines[0] == "line 0" and 0 < len(lines) < 5000


def test_a_bomb_is_stopped_by_size_or_by_ratio_without_inflating_it_in_memory(tmp_path):
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(_zeros(96))  # 96 MiB of zeros in about 100 KB
    assert bomb.stat().st_size < MIB
    tracemalloc.start()
    rule, why = gzip_problem(bomb)  # the defaults: ratio 200 once past 64 MiB
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rule == "decompression_bomb" and "times" in why
    assert peak < 8 * MIB, f"streamed in pieces, peak {peak:,} bytes"
    by_size = GzipLimits(max_inflated_bytes=10 * MIB, max_ratio=1e9)
    rule, why = gzip_problem(bomb, by_size)
    assert rule == "decompression_bomb" and "limits 10 MiB" in why
    roomy = GzipLimits(max_inflated_bytes=200 * MIB, max_ratio=1e9)
    assert gzip_problem(bomb, roomy) is None
