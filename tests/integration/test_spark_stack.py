"""The Spark stack works together: Delta, Sedona, Great Expectations, pandas UDFs, versions."""

import json
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import great_expectations as gx
import pandas as pd
import pyspark
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from shapely.geometry import shape

from jobs.runtime.delta_io import merge_delta, on_conflict, read_delta, write_delta
from jobs.runtime.expectations import validate
from jobs.runtime.spark import JARS_DIR


def test_pyspark_matches_the_spark_and_library_jars(spark):
    assert spark.version == pyspark.__version__
    jars = {p.name for p in JARS_DIR.glob("*.jar")}
    assert f"delta-spark_2.12-{version('delta-spark')}.jar" in jars
    assert any(
        j.startswith("sedona-spark-shaded-3.5_2.12-" + version("apache-sedona")) for j in jars
    )
    assert spark.sparkContext._jvm.scala.util.Properties.versionNumberString().startswith("2.12")


def test_delta_write_merge_and_time_travel(spark, tmp_path):
    path = str(tmp_path / "clients")
    first = spark.createDataFrame([(1, "a"), (2, "b")], "client_id int, segment string")
    write_delta(first, path)
    updates = spark.createDataFrame([(2, "B"), (3, "c")], "client_id int, segment string")
    merge_delta(updates, path, keys=["client_id"])
    merge_delta(updates, path, keys=["client_id"])  # the same input again changes nothing
    expected = spark.createDataFrame(
        [(1, "a"), (2, "B"), (3, "c")], "client_id int, segment string"
    )
    assert_df_equality(read_delta(spark, path), expected, ignore_row_order=True)
    assert_df_equality(read_delta(spark, path, version=0), first, ignore_row_order=True)


def test_replace_where_rewrites_only_that_date(spark, tmp_path):
    path = str(tmp_path / "kpis")
    schema = "run_date string, value int"
    write_delta(
        spark.createDataFrame([("2026-01-01", 1), ("2026-01-02", 2)], schema),
        path,
        partition_by=["run_date"],
    )
    write_delta(
        spark.createDataFrame([("2026-01-02", 20)], schema),
        path,
        mode="replace_where",
        replace_where="run_date = '2026-01-02'",
    )
    expected = spark.createDataFrame([("2026-01-01", 1), ("2026-01-02", 20)], schema)
    assert_df_equality(read_delta(spark, path), expected, ignore_row_order=True)


def test_sedona_contains_agrees_with_shapely_on_real_osm_geometries(spark, shared_datasets):
    osm = shared_datasets / "osm_pois" / "visakhapatnam_Kubs-03_POIS"
    boundary = json.loads((osm / "boundary.geojson").read_text())["features"]
    banks = json.loads((osm / "banks.geojson").read_text())["features"]
    milan = json.loads((shared_datasets / "osm_pois/milano_osmItalia/finance.geojson").read_text())
    points = [(f["properties"]["osm_id"], json.dumps(f["geometry"])) for f in banks]
    points += [(str(f["properties"]["id"]), json.dumps(f["geometry"])) for f in milan["features"]]
    areas = [(f["properties"]["osm_id"], json.dumps(f["geometry"])) for f in boundary]
    spark.createDataFrame(points, "id string, geojson string").createOrReplaceTempView("pois")
    spark.createDataFrame(areas, "id string, geojson string").createOrReplaceTempView("areas")
    inside = spark.sql("""
        SELECT DISTINCT p.id FROM pois p JOIN areas a
        ON ST_Contains(ST_GeomFromGeoJSON(a.geojson), ST_GeomFromGeoJSON(p.geojson))""")
    got = {r.id for r in inside.collect()}
    polygons = [shape(f["geometry"]) for f in boundary]
    expected = {
        pid for pid, g in points if any(poly.contains(shape(json.loads(g))) for poly in polygons)
    }
    assert got == expected
    assert got and not got & {str(f["properties"]["id"]) for f in milan["features"]}


def test_sedona_dwithin_measures_metres_on_the_spheroid(spark):
    # two points in Prague ~79 m apart along a meridian
    row = spark.sql("""
        SELECT ST_DWithin(ST_Point(14.4378, 50.0755), ST_Point(14.4378, 50.0762), 100, true) near,
               ST_DWithin(ST_Point(14.4378, 50.0755), ST_Point(14.4378, 50.0762), 50, true) far
    """).first()
    assert row.near is True and row.far is False


def test_great_expectations_fails_on_bad_rows(spark):
    df = spark.createDataFrame([(1, 10.0), (2, -5.0), (None, 3.0)], "id int, amount double")
    outcome = validate(
        df,
        "amounts",
        [
            gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="id"),
        ],
    )
    assert not outcome.success
    assert len(outcome.failures) == 2
    good = spark.createDataFrame([(1, 10.0)], "id int, amount double")
    assert validate(
        good,
        "amounts_ok",
        [gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0)],
    ).success


def test_pandas_udf_runs_in_the_project_python(spark):
    @pandas_udf("double")
    def doubled(v: pd.Series) -> pd.Series:
        return v * 2

    got = spark.range(3).select(doubled(F.col("id").cast("double")).alias("x"))
    assert [r.x for r in got.collect()] == [0.0, 2.0, 4.0]


def test_jobs_writing_one_new_table_at_once_all_land(spark, tmp_path):
    """Four jobs (a day's campaign DAGs) replace their own rows of one date in a table none of
    them finds: one creates it, the others' commits conflict (ProtocolChangedException,
    ConcurrentAppendException), and write_delta tries them again on the new snapshot."""
    path = str(tmp_path / "deliverable_offers")

    def write(campaign: str) -> None:
        rows = spark.createDataFrame([(campaign, "2026-03-31")], "campaign string, run_date string")
        where = f"run_date = '2026-03-31' AND campaign = '{campaign}'"
        write_delta(rows, path, "replace_where", partition_by=["run_date"], replace_where=where)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, ["a", "b", "c", "d"]))
    assert sorted(r.campaign for r in read_delta(spark, path).collect()) == ["a", "b", "c", "d"]


def test_a_write_that_lost_a_commit_race_is_tried_again_and_other_errors_are_not(spark):
    from delta.exceptions import ConcurrentAppendException
    from tenacity import wait_none

    calls = []

    @on_conflict
    def lost_twice():
        calls.append("try")
        if len(calls) < 3:
            raise ConcurrentAppendException("Files were added by a concurrent update", "")
        return "committed"

    assert lost_twice.retry_with(wait=wait_none())() == "committed" and len(calls) == 3

    @on_conflict
    def broken():
        calls.append("broken")
        raise ValueError("not a commit race")

    with pytest.raises(ValueError):
        broken.retry_with(wait=wait_none())()
    assert calls.count("broken") == 1
