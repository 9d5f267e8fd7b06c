"""`offerlake query` is lake-side: an analyst's SQL is one read-only query over the lake's views
(jobs/catalog/analyst_sql.py), and each engine is shut as well, so SQL that slipped past the
check still reaches neither the on-prem zones nor the vault's key file."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from jobs.catalog import duckdb_lake
from jobs.catalog.analyst_sql import QueryRefused, checked
from jobs.catalog.queries import QUERIES, spark_query
from jobs.cli import main
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Side

VIEWS = {
    "analytics_kpis",
    "analytics_segments",
    "analytics_effective_notifications",
    "stage_allies",
}
KEY = "onprem/keys/vault.key"
RAW = "onprem/raw/crm_clients"

BOTH = [
    "select 1; select 2",
    "delete from analytics_kpis",
    "insert into analytics_kpis select * from analytics_kpis",
    "create view v as select 1",
    "drop view analytics_kpis",
    "select * from range(3)",
    "select * from main.analytics_kpis",
    "select * from analytics_kpis where campaign in (select name from onprem_crm)",
    "with x as (select * from read_files('/lake/onprem/raw')) select * from x",
]
DUCKDB = [
    f"select * from read_blob('/lake/{KEY}')",
    f"select * from '/lake/{KEY}'",
    f"select * from delta_scan('/lake/{RAW}')",
    "select (select count(*) from read_text('/etc/passwd'))",
    "select * from analytics_kpis, (select * from read_csv('/x.csv'))",
    "copy (select 1) to '/tmp/out.csv'",
    "attach '/tmp/other.db'",
    "set enable_external_access = true",
    "install httpfs",
    "select * from glob('/*')",
    "select * from query('select 1')",
]
SPARK = [
    f"select * from delta.`/lake/{RAW}`",
    "select * from parquet.`/lake/onprem/raw/crm_clients/part-0.parquet`",
    "select reflect('java.lang.System', 'getenv', 'HOME')",
    "select java_method('java.lang.System', 'getenv', 'HOME')",
    "select * from analytics_kpis where campaign = (select max(x) from delta.`/p`)",
    "set spark.sql.runSQLOnFiles = true",
    "cache table analytics_kpis",
]


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_the_named_queries_and_ctes_pass(name, dialect):
    assert checked(QUERIES[name], VIEWS, dialect) == QUERIES[name]
    cte = "with k as (select * from analytics_kpis) select count(*) from k"
    assert checked(cte, VIEWS, dialect) == cte


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [(d, s) for d in ("duckdb", "spark") for s in BOTH]
    + [("duckdb", s) for s in DUCKDB]
    + [("spark", s) for s in SPARK],
)
def test_anything_but_one_query_over_the_views_is_refused(dialect, sql):
    with pytest.raises(QueryRefused, match="^query: "):
        checked(sql, VIEWS, dialect)


@pytest.fixture
def lake(tmp_path):
    """A lake folder with one analytics table, beside an on-prem raw table and a key file."""
    write_deltalake(str(tmp_path / "lake/analytics/kpis"), pa.table({"campaign": ["a", "b"]}))
    write_deltalake(str(tmp_path / RAW), pa.table({"email": ["jan@example.com"]}))
    (tmp_path / KEY).parent.mkdir(parents=True)
    (tmp_path / KEY).write_bytes(b"not for the lake side")
    return tmp_path


def test_duckdb_reads_the_views_and_no_other_file_even_past_the_check(lake):
    con = duckdb_lake.connect(LakeConfig.load(lake=str(lake)))
    assert sorted(con.sql("select campaign from analytics_kpis").fetchall()) == [("a",), ("b",)]
    for sql in (
        f"select * from read_blob('{lake / KEY}')",
        f"select * from delta_scan('{lake / RAW}')",
        f"copy (select 1) to '{lake / 'out.csv'}'",
        "set enable_external_access = true",
        f"attach '{lake / 'other.db'}'",
    ):
        with pytest.raises(Exception, match="Permission Error|Cannot change configuration"):
            con.execute(sql)
    assert not (lake / "out.csv").exists()


def test_the_query_command_refuses_with_the_reason_and_answers_a_query(lake, capsys):
    argv = ["--lake", str(lake), "query"]
    assert main([*argv, f"select * from read_blob('{lake / KEY}')"]) == 1
    err = capsys.readouterr().err
    assert "table functions are refused" in err and "not for the lake side" not in err
    assert main([*argv, "select count(*) as n from analytics_kpis"]) == 0
    assert "2" in capsys.readouterr().out


def test_spark_runs_the_query_in_a_session_that_reads_no_path(lake, spark):
    ctx = RunContext(LakeConfig.load(lake=str(lake)), Side.LAKE, date(2026, 3, 1), _spark=spark)
    answer = spark_query(ctx, "select count(*) as n from analytics_kpis")
    assert answer.first().n == 2
    with pytest.raises(QueryRefused, match="not one of the lake's"):
        spark_query(ctx, f"select * from delta.`{lake / RAW}`")
    from pyspark.errors import AnalysisException

    with pytest.raises(AnalysisException):  # the second wall: the query's own session
        answer.sparkSession.sql(f"select * from delta.`{lake / RAW}`").collect()
    assert spark.conf.get("spark.sql.runSQLOnFiles") == "true"  # the shared session untouched
