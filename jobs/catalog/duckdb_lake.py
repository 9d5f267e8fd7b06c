"""DuckDB over the lake: every stage and analytics Delta table as a view read through DuckDB's
delta extension (installed from PyPI with the package `duckdb-extension-delta`, so no network
is needed). For a local lake; an S3 lake is for Athena and Trino (README)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from duckdb_extensions import import_extension

from jobs.catalog.analyst_sql import checked
from jobs.catalog.queries import view_name
from jobs.catalog.tables import ZONES
from jobs.errors import ConfigError
from jobs.runtime.config import LakeConfig
from jobs.runtime.zones import zone_root


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(config: LakeConfig) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per lake table (`analytics_kpis`, `stage_allies`, ...),
    which can read those tables' folders and nothing else."""
    if "://" in config.lake_root:
        raise ConfigError("duckdb: the lake is not a local folder; query S3 with Athena or Trino")
    con = duckdb.connect()
    import_extension("delta", con=con)
    con.execute("LOAD delta")
    tables = []
    for zone in ZONES:
        root = Path(zone_root(config, zone))
        if not root.is_dir():
            continue
        for table in sorted(p for p in root.iterdir() if (p / "_delta_log").is_dir()):
            view = view_name(zone.value, table.name)
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM delta_scan({_literal(str(table))})")
            tables.append(f"{table}/")
    # shut: no file but the views' tables may be read, nothing may be written, attached or
    # installed, and no one can undo it (on-prem zones and the vault key stay out of reach)
    con.execute(f"SET allowed_directories = [{', '.join(map(_literal, tables))}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def query(config: LakeConfig, sql: str) -> duckdb.DuckDBPyRelation:
    """An analyst's SQL over the views, checked first (jobs/catalog/analyst_sql.py)."""
    con = connect(config)
    listed = con.execute("select view_name from duckdb_views() where not internal").fetchall()
    return con.sql(checked(sql, {v for (v,) in listed}, "duckdb"))
