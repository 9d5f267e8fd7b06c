"""Files of the lake without Spark: pyarrow's filesystems for folders and small files, delta-rs
(`deltalake`) for a Delta table's metadata. For jobs that need no JVM (catalog, handoff files).

A path is a local folder or an s3a:// URI (Spark's name), read here as s3://. S3 credentials and
region come from the usual AWS environment; the endpoint of an S3-compatible store from
conf/lake.yaml `s3_endpoint` (or AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import json
import os

from pyarrow import fs as pafs
from pyspark.sql.types import StructType

DELTA_LOG = "_delta_log"


def _uri(path: str) -> str:
    return "s3://" + path.removeprefix("s3a://") if path.startswith("s3a://") else path


def filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow filesystem and path inside it for a local folder or an s3a:// (s3://) URI."""
    return pafs.FileSystem.from_uri(_uri(path))


def list_folders(path: str) -> list[str]:
    """Names of the folders directly under path, sorted ([] when path does not exist)."""
    fs, root = filesystem(path)
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def list_delta_tables(path: str) -> list[str]:
    """Names of the Delta tables (folders with a `_delta_log`) directly under path, sorted."""
    fs, root = filesystem(path)
    names = list_folders(path)
    logs = fs.get_file_info([f"{root}/{n}/{DELTA_LOG}" for n in names])
    return [n for n, log in zip(names, logs, strict=True) if log.type == pafs.FileType.Directory]


def storage_options(path: str, s3_endpoint: str | None = None) -> dict[str, str]:
    """delta-rs options for path: an S3-compatible endpoint when one is set."""
    endpoint = s3_endpoint or os.environ.get("AWS_ENDPOINT_URL")
    if not path.startswith(("s3a://", "s3://")) or not endpoint:
        return {}
    options = {"AWS_ENDPOINT_URL": endpoint}
    if endpoint.startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"
    return options


def delta_metadata(path: str, s3_endpoint: str | None = None) -> tuple[StructType, list[str]]:
    """(schema, partition columns) of the Delta table's current version, read from its log by
    delta-rs: the schema JSON is Delta's own, the one Spark reads as a StructType."""
    from deltalake import DeltaTable

    table = DeltaTable(_uri(path), storage_options=storage_options(path, s3_endpoint))
    schema = StructType.fromJson(json.loads(table.schema().to_json()))
    return schema, list(table.metadata().partition_columns)
