"""The lake's tables in the AWS Glue Data Catalog (boto3), so Athena queries them.

Each zone is a database; each Delta table an external table of type DELTA at its S3 location,
with its columns and partition keys (Athena reads the data through the Delta log). Registering
is idempotent: a table already there is updated, and a table this job registered earlier whose
Delta table is gone is dropped (tables registered by others are left alone).
"""

from __future__ import annotations

import boto3

from jobs.catalog.settings import CatalogSettings
from jobs.catalog.tables import LakeTable

OWNER = "offerlake"  # tables carry Parameters.registered_by = offerlake


def table_input(t: LakeTable) -> dict:
    columns = [
        {"Name": f.name, "Type": f.dataType.simpleString()}
        for f in t.schema
        if f.name not in t.partitions
    ]
    keys = [
        {"Name": f.name, "Type": f.dataType.simpleString()}
        for p in t.partitions
        for f in t.schema
        if f.name == p
    ]
    return {
        "Name": t.name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "table_type": "DELTA",
            "classification": "delta",
            "spark.sql.sources.provider": "delta",
            "EXTERNAL": "TRUE",
            "registered_by": OWNER,
        },
        "PartitionKeys": keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": t.location,
            "InputFormat": "org.apache.hadoop.mapred.SequenceFileInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveSequenceFileOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": {"path": t.location},
            },
        },
    }


def _existing(glue, database: str) -> dict[str, dict]:
    found = {}
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        for table in page["TableList"]:
            found[table["Name"]] = table
    return found


def register(tables: list[LakeTable], settings: CatalogSettings) -> dict[str, int]:
    """Create or update every table; drop ours that are gone. -> counts by action."""
    glue = boto3.client("glue", region_name=settings.glue.region)
    counts = {"created": 0, "updated": 0, "dropped": 0}
    for zone, database in sorted(settings.glue.databases.items()):
        try:
            glue.create_database(
                DatabaseInput={"Name": database, "Description": f"offerlake lake/{zone}"}
            )
        except glue.exceptions.AlreadyExistsException:
            pass
        existing = _existing(glue, database)
        mine = [t for t in tables if t.zone == zone]
        for t in mine:
            if t.name in existing:
                glue.update_table(DatabaseName=database, TableInput=table_input(t))
                counts["updated"] += 1
            else:
                glue.create_table(DatabaseName=database, TableInput=table_input(t))
                counts["created"] += 1
        names = {t.name for t in mine}
        for name, table in existing.items():
            if name not in names and table.get("Parameters", {}).get("registered_by") == OWNER:
                glue.delete_table(DatabaseName=database, Name=name)
                counts["dropped"] += 1
    return counts
