"""Line numbers of text rows stay exact when Spark splits a file into many blocks."""

from __future__ import annotations

import gzip

from jobs.runtime.text_files import read_lines


def test_line_numbers_are_exact_across_splits_and_files(spark, tmp_path):
    plain = tmp_path / "big.txt"
    plain.write_text("".join(f"row {n:05d} " + "x" * (n % 37) + "\n" for n in range(1, 5001)))
    packed = tmp_path / "small.txt.gz"
    packed.write_bytes(gzip.compress(b"".join(b"gz %d\r\n" % n for n in range(1, 301))))
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8k")  # ~25 blocks for big.txt
    try:
        rows = read_lines(spark, [str(plain), str(packed)]).collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    big = sorted((r._line, r.value) for r in rows if r._source_file.endswith("big.txt"))
    assert [line for line, _ in big] == list(range(1, 5001))
    assert all(value.startswith(f"row {line:05d} ") for line, value in big)
    small = {r._line: r.value for r in rows if r._source_file.endswith(".gz")}
    assert small == {n: f"gz {n}" for n in range(1, 301)}
