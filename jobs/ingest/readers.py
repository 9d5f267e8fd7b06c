"""Readers: landed files -> one row per record with its origin, original text and raw fields.

Every reader returns `Parsed`: a DataFrame with `_source_file`, `_record` ("line 12",
"record 7", "line 3 hit 2") and its number `_n`, `_original` (the text, or base64 of the
bytes), `_encoding` ("text" or "base64"), `_raw` (a struct of the source values as text)
and `_rule`/`_reason` for record-level problems; plus file-level quarantine rows (empty or
truncated files) made on the driver. Typing and row rules come after, in `fields.apply_fields`.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from jobs.ingest import landed
from jobs.ingest.landed import LandedFile, UnreadableFileError
from jobs.ingest.sources import TableSpec
from jobs.runtime.text_files import read_lines

FileRow = tuple[str, str, str, str, str, str]  # source, record, original, encoding, rule, reason


@dataclass
class Parsed:
    df: DataFrame | None
    file_rows: list[FileRow] = field(default_factory=list)


def relative_source(path: Column) -> Column:
    """Spark's file URI -> "<feed>/<delivery>/<file>", the form quarantine and lineage show."""
    return F.regexp_extract(path, r"([^/]+/[^/]+/[^/]+)$", 1)


def _null_failures(rule: str | None = None, reason: str | None = None) -> list[Column]:
    return [
        F.lit(rule).cast("string").alias("_rule"),
        F.lit(reason).cast("string").alias("_reason"),
    ]


# -- building the all-text schema a record is first parsed into ---------------------------------


def _insert(tree: dict, parts: list[str], leaf: object) -> None:
    for part in parts[:-1]:
        tree = tree.setdefault(part, {})
    tree.setdefault(parts[-1], leaf)


def _struct(tree: dict) -> StructType:
    fields = []
    for name, sub in tree.items():
        if isinstance(sub, dict):
            fields.append(StructField(name, _struct(sub)))
        else:
            fields.append(StructField(name, sub))
    return StructType(fields)


def text_schema(table: TableSpec, explode: str | None = None) -> StructType:
    """The record's schema with every leaf as text (arrays of text for array fields).

    With `explode="hits"`, fields from `hit.x` become members of the array `hits`.
    """
    tree: dict = {}
    element: dict = {}
    for spec in table.fields:
        parts = spec.source.split(".")
        leaf = ArrayType(StringType()) if spec.type == "array" else StringType()
        if explode and parts[0] == "hit":
            _insert(element, parts[1:], leaf)
        else:
            _insert(tree, parts, leaf)
    if explode:
        tree[explode] = ArrayType(_struct(element))
    return _struct(tree)


# -- text feeds -----------------------------------------------------------------------------------


def _screen(files: Sequence[LandedFile], expect: str) -> tuple[list[LandedFile], list[FileRow]]:
    """Split files into readable ones and rows for quarantine (empty, truncated gzip)."""
    readable, rows = [], []
    for file in files:
        if file.size == 0:
            rows.append((file.relative, "file", "", "text", "empty_file", "the file is empty"))
            continue
        if file.gzipped and (problem := landed.gzip_problem(file.path, file.limits)):
            rule, why = problem
            if rule == "decompression_bomb":  # one row for the file: its text is not kept
                rows.append((file.relative, "file", "", "gzip", rule, why))
                continue
            lines = landed.recovered_lines(file.path, file.limits) or [""]
            rows.extend(
                (file.relative, f"line {n}", text, "text", rule, why)
                for n, text in enumerate(lines, start=1)
            )
            continue
        landed.check_text(file, expect)
        readable.append(file)
    return readable, rows


def read_jsonl(spark: SparkSession, table: TableSpec, files: Sequence[LandedFile]) -> Parsed:
    """JSON lines; with option `explode: hits`, one row per element of that array."""
    readable, file_rows = _screen(files, "JSON lines")
    if not readable:
        return Parsed(None, file_rows)
    explode = table.options.get("explode")
    schema = text_schema(table, explode)
    # fields the layout may carry beyond those we map (real GA exports carry dozens)
    names = table.options.get("columns") or [f.name for f in schema.fields]
    known = F.array(*[F.lit(n) for n in names])
    keys = F.json_object_keys("value")
    unknown = F.array_except(keys, known)
    lines = read_lines(spark, [str(f.path) for f in readable]).filter(F.trim("value") != "")
    df = lines.select(
        relative_source(F.col("_source_file")).alias("_source_file"),
        F.concat(F.lit("line "), F.col("_line")).alias("_record"),
        F.col("_line").alias("_n"),
        F.col("value").alias("_original"),
        F.lit("text").alias("_encoding"),
        F.from_json("value", schema).alias("_raw"),
        F.when(keys.isNull(), "malformed_json")
        .when(F.size(unknown) > 0, "unknown_column")
        .alias("_rule"),
        F.when(keys.isNull(), F.lit("not a JSON object"))
        .when(
            F.size(unknown) > 0,
            F.concat(F.lit("unknown field(s) "), F.array_join(unknown, ", ")),
        )
        .alias("_reason"),
    )
    if explode:
        element = F.posexplode_outer(F.col("_raw").getField(explode)).alias("_hit_index", "hit")
        df = df.select("*", element)
        hit_struct = F.struct(
            *[
                F.col("_raw").getField(f.name).alias(f.name)
                for f in schema.fields
                if f.name != explode
            ],
            F.col("hit"),
        )
        df = df.select(
            "_source_file",
            F.when(F.col("_hit_index").isNull(), F.col("_record"))
            .otherwise(F.concat("_record", F.lit(" hit "), F.col("_hit_index") + 1))
            .alias("_record"),
            "_n",
            "_original",
            "_encoding",
            hit_struct.alias("_raw"),
            F.when(F.col("_rule").isNull() & F.col("hit").isNull(), "no_hits")
            .otherwise(F.col("_rule"))
            .alias("_rule"),
            F.when(F.col("_rule").isNull() & F.col("hit").isNull(), F.lit("session has no hits"))
            .otherwise(F.col("_reason"))
            .alias("_reason"),
        )
    return Parsed(df, file_rows)


def _csv_header(file: LandedFile, sep: str, quote: str) -> list[str]:
    first = landed.head_bytes(file).decode("utf-8", errors="replace").lstrip("\ufeff")
    line = first.splitlines()[0] if first else ""
    return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=sep, quotechar=quote))]


def expected_columns(table: TableSpec) -> list[str]:
    return list(table.options.get("columns") or dict.fromkeys(f.source for f in table.fields))


def read_csv(spark: SparkSession, table: TableSpec, files: Sequence[LandedFile]) -> Parsed:
    """Delimited text with a header line that must name the expected columns in order.

    A file whose header adds or lacks columns (schema drift) has all its rows quarantined
    (`on_unknown_column: quarantine`) or stops the feed (`fail`); a header with none of the
    expected columns means the file is not this feed's format.
    """
    sep = table.options.get("sep", ",")
    quote = table.options.get("quote", '"')
    skip = int(table.options.get("skip_lines", 0))
    columns = expected_columns(table)
    readable, file_rows = _screen(files, f"'{sep}'-separated text")
    if not readable:
        return Parsed(None, file_rows)
    drift: dict[str, str] = {}
    if table.options.get("header", True):
        for file in readable:
            header = _csv_header(file, sep, quote)
            if header == columns:
                continue
            if not set(header) & set(columns):
                raise UnreadableFileError(
                    f"{file.relative}: header {header[:6]} has none of the expected columns "
                    f"{columns[:6]}...; the file is not {table.name} data"
                )
            extra = [c for c in header if c not in columns]
            lacking = [c for c in columns if c not in header]
            why = (
                f"header differs from {table.source_file}: "
                f"unknown column(s) {extra}, missing column(s) {lacking}"
                if extra or lacking
                else "header has the expected columns in another order"
            )
            if table.on_unknown_column == "fail":
                raise UnreadableFileError(f"{file.relative}: {why} (on_unknown_column: fail)")
            drift[file.relative] = why
        skip += 1
    ddl = ", ".join(f"`{c}` STRING" for c in columns) + ", `_extra` STRING"
    options = {"sep": sep, "quote": quote, "escape": table.options.get("escape", quote)}
    lines = read_lines(spark, [str(f.path) for f in readable]).filter(
        (F.col("_line") > skip) & (F.trim("value") != "")
    )
    source = relative_source(F.col("_source_file"))
    drifted = F.lit(None).cast("string")
    for name, why in drift.items():
        drifted = F.when(source == name, F.lit(why)).otherwise(drifted)
    raw = F.from_csv(F.col("value"), ddl, options)
    # an odd number of quote characters: the line stops inside a quoted field
    open_quote = F.size(F.split(F.col("_original"), re.escape(quote))) % 2 == 0
    return Parsed(
        lines.select(
            source.alias("_source_file"),
            F.concat(F.lit("line "), F.col("_line")).alias("_record"),
            F.col("_line").alias("_n"),
            F.col("value").alias("_original"),
            F.lit("text").alias("_encoding"),
            raw.alias("_raw"),
            drifted.alias("_drift"),
        ).select(
            "_source_file",
            "_record",
            "_n",
            "_original",
            "_encoding",
            "_raw",
            F.when(F.col("_drift").isNotNull(), "unknown_column")
            .when(open_quote, "truncated_record")
            .when(F.col("_raw._extra").isNotNull(), "wrong_field_count")
            .alias("_rule"),
            F.when(F.col("_drift").isNotNull(), F.col("_drift"))
            .when(open_quote, F.lit("the record ends inside a quoted field (cut off?)"))
            .when(
                F.col("_raw._extra").isNotNull(),
                F.lit(f"more than the {len(columns)} expected fields"),
            )
            .alias("_reason"),
        ),
        file_rows,
    )


# -- mainframe files ------------------------------------------------------------------------------


def copybook_for(table: TableSpec, file: LandedFile, conf_dir: Path) -> Path:
    """`copybooks/x.cpy` lives in conf/; `landed:X.cpy` was delivered next to the data file."""
    name = str(table.options["copybook"])
    if name.startswith("landed:"):
        path = file.path.parent / name.removeprefix("landed:")
        if not path.is_file():
            raise UnreadableFileError(
                f"{file.relative}: its copybook {path.name} was not delivered"
            )
        return path
    return conf_dir / name


def read_cobol(
    spark: SparkSession, table: TableSpec, files: Sequence[LandedFile], conf_dir: Path
) -> Parsed:
    """EBCDIC fixed-width records decoded by Cobrix with the table's copybook.

    A trailing partial record (file size not a multiple of the record length) goes to
    quarantine with its bytes; a number Cobrix cannot decode (bad packed decimal, bad zoned
    sign) leaves the field null, and the record is quarantined with its bytes.
    """
    length = int(table.options["record_length"])
    frames, file_rows = [], []
    for file in files:
        copybook = copybook_for(table, file, conf_dir)
        if file.size == 0:
            file_rows.append(
                (file.relative, "file", "", "base64", "empty_file", "the file is empty")
            )
            continue
        landed.check_ebcdic(file, length)
        whole, tail = divmod(file.size, length)
        if tail:
            with file.path.open("rb") as handle:
                handle.seek(whole * length)
                cut = base64.b64encode(handle.read()).decode()
            file_rows.append(
                (
                    file.relative,
                    f"record {whole + 1}",
                    cut,
                    "base64",
                    "truncated_record",
                    f"last record has {tail} of {length} bytes",
                )
            )
        if not whole:
            continue
        decoded = (
            spark.read.format("cobol")
            .option("copybook", str(copybook))
            .option("schema_retention_policy", "collapse_root")
            .option("encoding", "ebcdic")
            .option("ebcdic_code_page", table.options.get("code_page", "cp037"))
            .option("generate_record_id", "true")
            .option("generate_record_bytes", "true")
            .option("debug_ignore_file_size", "true")
            .load(str(file.path))
        )
        copy_fields = [c for c in decoded.columns if not c.startswith(("File_Id", "Record_"))]
        frames.append(
            decoded.select(
                F.lit(file.relative).alias("_source_file"),
                F.concat(F.lit("record "), F.col("Record_Id") + 1).alias("_record"),
                (F.col("Record_Id") + 1).alias("_n"),
                F.base64("Record_Bytes").alias("_original"),
                F.lit("base64").alias("_encoding"),
                F.struct(*[F.col(c).cast("string").alias(c) for c in copy_fields]).alias("_raw"),
            )
        )
    if not frames:
        return Parsed(None, file_rows)
    df = frames[0]
    for frame in frames[1:]:
        df = df.unionByName(frame)
    required = [f for f in table.fields if f.required]
    rule = F.lit(None).cast("string")
    reason = F.lit(None).cast("string")
    for spec in reversed(required):
        undecodable = F.col("_raw").getField(spec.source).isNull()
        rule = F.when(undecodable, F.lit("invalid_mainframe_number")).otherwise(rule)
        reason = F.when(
            undecodable,
            F.lit(f"{spec.source}: bytes are not a valid number for its copybook picture"),
        ).otherwise(reason)
    return Parsed(df.select("*", rule.alias("_rule"), reason.alias("_reason")), file_rows)


# -- GeoJSON and GPS tracks ----------------------------------------------------------------------


def read_geojson(spark: SparkSession, table: TableSpec, files: Sequence[LandedFile]) -> Parsed:
    """A FeatureCollection per file -> one row per feature (`geometry` kept as GeoJSON text)."""
    readable, file_rows = _screen(files, "GeoJSON")
    if not readable:
        return Parsed(None, file_rows)
    collection = "struct<type:string, features:array<string>>"
    docs = spark.read.text([str(f.path) for f in readable], wholetext=True).select(
        relative_source(F.col("_metadata.file_path")).alias("_source_file"),
        F.from_json("value", collection).alias("doc"),
    )
    not_collection = (
        docs.filter(F.col("doc").isNull() | (F.col("doc.type") != "FeatureCollection"))
        .select("_source_file")
        .collect()
    )
    if not_collection:
        raise UnreadableFileError(
            f"{not_collection[0]._source_file}: not a GeoJSON FeatureCollection"
        )
    schema = text_schema(table)
    features = docs.select("_source_file", F.posexplode("doc.features").alias("_n", "_original"))
    return Parsed(
        features.select(
            "_source_file",
            F.concat(F.lit("feature "), F.col("_n") + 1).alias("_record"),
            (F.col("_n") + 1).alias("_n"),
            "_original",
            F.lit("text").alias("_encoding"),
            F.from_json("_original", schema).alias("_raw"),
            *_null_failures(),
        ),
        file_rows,
    )


def read_plt(spark: SparkSession, table: TableSpec, files: Sequence[LandedFile]) -> Parsed:
    """GeoLife .plt tracks: 6 header lines, then lat,lon,0,altitude_ft,days,date,time.

    Files land as `<user>_<trajectory>.plt` (`020_20110911000506.plt`): both become columns.
    """
    readable, file_rows = _screen(files, "GeoLife PLT")
    if not readable:
        return Parsed(None, file_rows)
    columns = ["lat", "lon", "zero", "altitude_ft", "days", "date", "time"]
    ddl = ", ".join(f"`{c}` STRING" for c in columns) + ", `_extra` STRING"
    lines = read_lines(spark, [str(f.path) for f in readable]).filter(
        (F.col("_line") > 6) & (F.trim("value") != "")
    )
    path = F.col("_source_file")
    raw = F.from_csv("value", ddl, {"sep": ","})
    csv_fields = [raw.getField(c).alias(c) for c in columns]
    return Parsed(
        lines.select(
            relative_source(path).alias("_source_file"),
            F.concat(F.lit("line "), F.col("_line")).alias("_record"),
            F.col("_line").alias("_n"),
            F.col("value").alias("_original"),
            F.lit("text").alias("_encoding"),
            F.struct(
                *csv_fields,
                F.regexp_extract(path, r"/([^/_]+)_[^/]*\.plt$", 1).alias("user"),
                F.regexp_extract(path, r"/[^/_]+_([^/]*)\.plt$", 1).alias("trajectory"),
                raw.getField("_extra").alias("_extra"),
            ).alias("_raw"),
            F.when(raw.getField("_extra").isNotNull(), "wrong_field_count").alias("_rule"),
            F.when(raw.getField("_extra").isNotNull(), F.lit("more than 7 fields")).alias(
                "_reason"
            ),
        ),
        file_rows,
    )
