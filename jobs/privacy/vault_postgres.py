"""The vault in PostgreSQL (`vault.store: postgres`): the production option.

Same methods as DeltaVaultStore. Bulk rows move with Spark JDBC (read, and write into a
session's staging table); statements that must be atomic run through psycopg in one
transaction: `INSERT ... SELECT ... ON CONFLICT` from the staging table, UPDATE, DELETE.
Tables are `vault_<name>`, created on first use with their primary keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.errors import ConfigError
from jobs.privacy.vault_store import APPEND_ONLY, NOW, SCHEMAS, Match, check_purge, columns_of
from jobs.runtime.locks import Mode, PgAdvisoryLock

PG_TYPES = {"string": "text", "binary": "bytea", "timestamp": "timestamp", "long": "bigint"}
PRIMARY_KEYS = {
    "keys": ("key_id",),
    "data_keys": ("owner",),
    "token_map": ("kind", "blind_index"),
    "contacts": ("owner", "field"),
    "erasures": ("erasure_id",),
}
UNIQUE = {"token_map": ("token",)}


def conninfo(jdbc_url: str) -> dict[str, Any]:
    """`jdbc:postgresql://host:port/db?user=u&password=p` -> psycopg connect() arguments."""
    if not jdbc_url.startswith("jdbc:postgresql://"):
        raise ConfigError("vault.postgres_url must be a jdbc:postgresql:// URL")
    parsed = urlparse(jdbc_url.removeprefix("jdbc:"))
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return {
        "host": parsed.hostname,
        "port": parsed.port or 5432,
        "dbname": parsed.path.lstrip("/"),
        "user": query.get("user"),
        "password": query.get("password"),
    }


class PostgresVaultStore:
    def __init__(self, spark: SparkSession, jdbc_url: str, prefix: str = "vault_") -> None:
        self.spark = spark
        self._url = jdbc_url
        self._conninfo = conninfo(jdbc_url)
        self.prefix = prefix
        self._ready: set[str] = set()
        self.held = None  # the vault lock this store's user holds (see `lock`)

    def __repr__(self) -> str:  # no password
        c = self._conninfo
        return f"PostgresVaultStore({c['host']}:{c['port']}/{c['dbname']}, {self.prefix}*)"

    def _connect(self):
        import psycopg

        return psycopg.connect(**self._conninfo)

    def lock(self, mode: Mode, timeout: float) -> PgAdvisoryLock:
        """An advisory lock named for this vault's tables, in the vault's own database."""
        return PgAdvisoryLock(self._conninfo, f"offerlake:{self.prefix}", mode, timeout)

    def table(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _ddl(self, name: str, table: str, keys: bool = True) -> str:
        columns = [c.strip().split(" ") for c in SCHEMAS[name].split(",")]
        parts = [f"{c} {PG_TYPES[t]}" for c, t in columns]
        if keys and name in PRIMARY_KEYS:
            parts.append(f"PRIMARY KEY ({', '.join(PRIMARY_KEYS[name])})")
        if keys and name in UNIQUE:
            parts.append(f"UNIQUE ({', '.join(UNIQUE[name])})")
        return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(parts)})"

    def _ensure(self, name: str) -> None:
        if name not in self._ready:
            with self._connect() as conn:
                conn.execute(self._ddl(name, self.table(name)))
                if name in APPEND_ONLY:
                    conn.execute(_REFUSE_CHANGES)
                    conn.execute(
                        f"CREATE OR REPLACE TRIGGER {self.table(name)}_append_only "
                        f"BEFORE UPDATE OR DELETE OR TRUNCATE ON {self.table(name)} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION offerlake_append_only()"
                    )
            self._ready.add(name)

    def exists(self, name: str) -> bool:
        with self._connect() as conn:
            found = conn.execute("SELECT to_regclass(%s)", (self.table(name),)).fetchone()[0]
        return found is not None

    def read(self, name: str) -> DataFrame:
        self._ensure(name)
        df = self.spark.read.jdbc(self._url, self.table(name), properties=self._jdbc_props())
        return df.select(*[df[c].cast(t) for c, t in _typed(name)])

    def rows(self, name: str, rows: list[tuple]) -> DataFrame:
        return self.spark.createDataFrame(rows, SCHEMAS[name])

    def _jdbc_props(self) -> dict[str, str]:
        return {"driver": "org.postgresql.Driver"}

    def _staged(self, name: str, df: DataFrame) -> str:
        """Write df into a fresh unlogged staging table; the caller drops it."""
        staging = f"{self.prefix}stage_{uuid.uuid4().hex[:10]}"
        with self._connect() as conn:
            conn.execute(
                self._ddl(name, staging, keys=False).replace(
                    "CREATE TABLE", "CREATE UNLOGGED TABLE"
                )
            )
        df.select(*columns_of(name)).write.jdbc(
            self._url, staging, mode="append", properties=self._jdbc_props()
        )
        return staging

    def _from_staging(self, name: str, df: DataFrame, statement: str) -> int:
        """Run statement ({t} table, {s} staging, {c} columns) on df staged; rows it changed."""
        self._ensure(name)
        staging = self._staged(name, df)
        columns = ", ".join(columns_of(name))
        try:
            with self._connect() as conn:
                cursor = conn.execute(statement.format(t=self.table(name), s=staging, c=columns))
                return cursor.rowcount
        finally:
            with self._connect() as conn:
                conn.execute(f"DROP TABLE IF EXISTS {staging}")

    def insert_new(self, name: str, df: DataFrame, keys: Sequence[str]) -> None:
        self._from_staging(
            name,
            df,
            "INSERT INTO {t} ({c}) SELECT {c} FROM {s} "
            f"ON CONFLICT ({', '.join(keys)}) DO NOTHING",
        )

    def upsert(self, name: str, df: DataFrame, keys: Sequence[str], changed: str) -> None:
        others = [c for c in columns_of(name) if c not in keys]
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
        self._from_staging(
            name,
            df,
            f"INSERT INTO {{t}} ({{c}}) SELECT {{c}} FROM {{s}} ON CONFLICT ({', '.join(keys)}) "
            f"DO UPDATE SET {sets} WHERE {{t}}.{changed} IS DISTINCT FROM EXCLUDED.{changed}",
        )

    def rewrap(self, name: str, df: DataFrame) -> int:
        """Set `wrapped` and `kek_id` of the rows of df's owners that still hold a wrapped key
        (a destroyed key is never brought back). The number of rows updated."""
        given = ("owner", "wrapped", "kek_id")
        blank = {c: F.lit(None).cast(t) for c, t in _typed(name) if c not in given}
        return self._from_staging(
            name,
            df.select(*given).withColumns(blank),
            "UPDATE {t} t SET wrapped = s.wrapped, kek_id = s.kek_id FROM {s} s "
            "WHERE t.owner = s.owner AND t.wrapped IS NOT NULL",
        )

    def append(self, name: str, df: DataFrame) -> None:
        self._from_staging(name, df, "INSERT INTO {t} ({c}) SELECT {c} FROM {s}")

    def replace(self, name: str, df: DataFrame) -> None:
        self._from_staging(name, df, "DELETE FROM {t}; INSERT INTO {t} ({c}) SELECT {c} FROM {s}")

    def _where(self, match: Match) -> tuple[str, list]:
        clauses, params = [], []
        for column, value in match.items():
            values = list(value) if isinstance(value, list | tuple) else [value]
            clauses.append(f"{column} = ANY(%s)")
            params.append(values)
        return " AND ".join(clauses) or "TRUE", params

    def update(self, name: str, match: Match, values: dict[str, Any]) -> None:
        self._ensure(name)
        where, params = self._where(match)
        sets, set_params = [], []
        for column, value in values.items():
            if value is NOW:
                sets.append(f"{column} = now() AT TIME ZONE 'UTC'")
            else:
                sets.append(f"{column} = %s")
                set_params.append(value)
        with self._connect() as conn:
            conn.execute(
                f"UPDATE {self.table(name)} SET {', '.join(sets)} WHERE {where}",
                set_params + params,
            )

    def delete(self, name: str, match: Match) -> None:
        self._ensure(name)
        where, params = self._where(match)
        with self._connect() as conn:
            conn.execute(f"DELETE FROM {self.table(name)} WHERE {where}", params)

    def purge_history(self, names: Sequence[str]) -> None:
        """VACUUM FULL, under the vault's exclusive lock: each table is copied into a new file
        without its dead row versions (a destroyed key, a blanked value) and the old file is
        deleted. A plain VACUUM only marks dead versions reusable: their bytes stay in the
        table's pages until overwritten. What backups and WAL keep is the README's
        "Privacy" section."""
        import psycopg

        check_purge(self.held)
        with psycopg.connect(**self._conninfo, autocommit=True) as conn:
            for name in names:
                conn.execute(f"VACUUM FULL {self.table(name)}")


_REFUSE_CHANGES = """
CREATE OR REPLACE FUNCTION offerlake_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: rows are never changed or deleted', TG_TABLE_NAME;
END
$$"""


def _typed(name: str) -> list[tuple[str, str]]:
    return [tuple(c.strip().split(" ")) for c in SCHEMAS[name].split(",")]  # type: ignore[misc]
