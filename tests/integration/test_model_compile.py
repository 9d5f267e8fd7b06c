"""The catalog compiler on tiny DataFrames: windows, aggregates and the wide pivot, by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import yaml
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from jobs.model import compile as compiler
from jobs.model.catalog import CatalogError, load_catalog
from jobs.model.validate import validate

AS_OF = date(2026, 7, 20)  # last_6m = January..June; last_30d = June 21..July 20

CATALOG = {
    "sources": {"t": {"customer": "customer", "time": "ts"}},
    "dimensions": {"mcc_group": {"fuel": "mcc = 5541", "other": "true"}},
    "families": [
        {
            "name": "spend_{mcc_group}_{window}_{agg}",
            "description": "{agg} of spend at {mcc_group}, {window}",
            "source": "t",
            "value": "amount",
            "by": "mcc_group",
            "window": ["last_30d", "all"],
            "agg": ["sum", "count", "share"],
        },
        {
            "name": "deposit_months_{window}",
            "description": "months whose first two weeks held 50,000 or more, {window}",
            "source": "t",
            "filter": "amount > 0",
            "value": "amount",
            "window": "last_6m_first_14d",
            "agg": "months_where",
            "threshold": 50000,
        },
        {
            "name": "balance_{window}_{agg}",
            "description": "{agg} of the balance, {window}",
            "source": "t",
            "value": "balance",
            "window": "last_6m",
            "agg": ["min", "max", "avg", "stddev"],
        },
        {
            "name": "merchants_{window}",
            "description": "distinct merchants, {window}",
            "source": "t",
            "value": "merchant",
            "window": "all",
            "agg": "count_distinct",
        },
        {
            "name": "mcc_{window}_{agg}",
            "description": "{agg} of the merchant category, {window}",
            "source": "t",
            "value": "mcc",
            "window": "all",
            "agg": ["mode", "count_distinct"],
            "type": "long",
        },
    ],
    "derived": [
        {
            "name": "never_below_300k",
            "description": "balance never below 300,000 over six months",
            "expression": "coalesce(balance_last_6m_min >= 300000, false)",
            "type": "boolean",
        }
    ],
}

SCHEMA = "customer string, ts timestamp, mcc int, amount double, balance double, merchant string"


def events():
    c1 = [
        ("c1", datetime(2026, 7, 19, 9), 5541, 100.0, 400_000.0, "a"),
        ("c1", datetime(2026, 7, 1, 9), 5411, 300.0, 350_000.0, "b"),
    ] + [
        ("c1", datetime(2026, m, 5, 9), 0, 60_000.0, 300_000.0 + m * 1000, "a") for m in range(1, 7)
    ]
    c2 = [
        ("c2", datetime(2026, 6, 21, 9), 5541, 40.0, 1000.0, "x"),
        ("c2", datetime(2026, 6, 20, 23), 5541, 10.0, 500.0, "y"),  # 30 days back: not last_30d
        ("c2", datetime(2026, 2, 15, 9), 0, 80_000.0, 2000.0, None),  # the 15th: not first 2 weeks
        ("c2", datetime(2026, 3, 14, 9), 0, 50_000.0, 3000.0, None),  # the 14th: counts
        ("c2", datetime(2026, 7, 21, 9), 5541, 999.0, 9.0, "z"),  # after the as-of date
    ]
    return c1 + c2


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    conf = tmp_path_factory.mktemp("conf")
    (conf / "features").mkdir()
    (conf / "features" / "t.yaml").write_text(yaml.safe_dump(CATALOG))
    return load_catalog(conf)


def customer_360(spark, catalog):
    df = spark.createDataFrame(events(), SCHEMA).withColumn("_day", F.to_date("ts"))
    pairs = compiler.source_pairs(catalog, "t", df, AS_OF)
    customers = spark.createDataFrame([("c1",), ("c2",), ("c3",)], "customer string")
    wide = compiler.wide(catalog.metrics, customers, pairs)
    for m in catalog.derived:
        wide = wide.withColumn(m.name, F.expr(m.expression).cast(m.type))
    return wide


def test_metrics_match_the_definitions_worked_by_hand(spark, catalog):
    columns = [
        "customer",
        "spend_fuel_last_30d_sum",
        "spend_fuel_last_30d_count",
        "spend_other_last_30d_sum",
        "spend_fuel_last_30d_share",
        "spend_fuel_all_sum",
        "spend_fuel_all_count",
        "spend_other_all_sum",
        "deposit_months_last_6m_first_14d",
        "balance_last_6m_min",
        "balance_last_6m_max",
        "balance_last_6m_avg",
        "balance_last_6m_stddev",
        "merchants_all",
        "mcc_all_mode",
        "mcc_all_count_distinct",
        "never_below_300k",
    ]
    expected = spark.createDataFrame(
        [
            ("c1", 100.0, 1, 300.0, 0.25, 100.0, 1, 360_300.0, 6, 301_000.0, 306_000.0,
             303_500.0, 1870.8287, 2, 0, 3, True),
            ("c2", 40.0, 1, 0.0, 1.0, 50.0, 2, 130_000.0, 1, 500.0, 3000.0,
             1625.0, 1108.6779, 2, 5541, 2, False),  # mcc 5541 and 0 twice each: the greater
            ("c3", 0.0, 0, 0.0, 0.0, 0.0, 0, 0.0, 0, None, None,
             None, None, 0, None, 0, False),
        ],
        "customer string, spend_fuel_last_30d_sum double, spend_fuel_last_30d_count long, "
        "spend_other_last_30d_sum double, spend_fuel_last_30d_share double, "
        "spend_fuel_all_sum double, spend_fuel_all_count long, spend_other_all_sum double, "
        "deposit_months_last_6m_first_14d long, balance_last_6m_min double, "
        "balance_last_6m_max double, balance_last_6m_avg double, "
        "balance_last_6m_stddev double, merchants_all long, mcc_all_mode long, "
        "mcc_all_count_distinct long, never_below_300k boolean",
    )  # fmt: skip
    actual = customer_360(spark, catalog).select(*columns)
    assert_approx_df_equality(actual, expected, 1e-3, ignore_row_order=True, ignore_nullable=True)


def test_every_metric_of_the_catalog_is_a_column(spark, catalog):
    wide = customer_360(spark, catalog)
    assert set(wide.columns) == {"customer"} | {m.name for m in catalog.metrics + catalog.derived}


def test_the_plan_reads_the_source_once_without_python(spark, catalog):
    df = spark.createDataFrame(events(), SCHEMA).withColumn("_day", F.to_date("ts"))
    plan = compiler.source_pairs(catalog, "t", df, AS_OF)._jdf.queryExecution().optimizedPlan()
    text = plan.toString()
    assert text.count("LogicalRDD") == 1
    assert "PythonUDF" not in text and "BatchEvalPython" not in text


def schemas(spark):
    return {"t": spark.createDataFrame([], SCHEMA).schema}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"filter": "amout > 0"}, "t.yaml: metric deposit_months_{window}: filter `amout > 0`"),
        ({"filter": "amount + 1"}, "filter `amount + 1` is double, not a boolean"),
        ({"value": "sqrt(amount"}, "t.yaml: metric deposit_months_{window}: value `sqrt(amount`"),
    ],
)
def test_a_bad_expression_is_an_error_naming_file_and_metric(spark, tmp_path, change, message):
    spec = {**CATALOG, "families": [CATALOG["families"][0], {**CATALOG["families"][1], **change}]}
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "t.yaml").write_text(yaml.safe_dump(spec))
    base = spark.createDataFrame([], "customer string").schema
    with pytest.raises(CatalogError) as error:  # at load (parsing) or against the schemas
        validate(spark, load_catalog(tmp_path), schemas(spark), base)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "expression",
    ["spend_gold_all_sum / 2", "1) AS extra, (2"],
    ids=["an unknown metric", "not one expression"],
)
def test_a_wrong_derived_expression_is_an_error_naming_file_and_metric(spark, tmp_path, expression):
    derived = [{"name": "ratio", "description": "x", "expression": expression}]
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "t.yaml").write_text(yaml.safe_dump({**CATALOG, "derived": derived}))
    base = spark.createDataFrame([], "customer string").schema
    with pytest.raises(CatalogError, match="t.yaml: derived metric ratio: expression"):
        validate(spark, load_catalog(tmp_path), schemas(spark), base)


def test_a_metric_named_like_a_customer_attribute_is_an_error(spark, tmp_path):
    derived = [{"name": "segment", "description": "x", "expression": "1"}]
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "t.yaml").write_text(yaml.safe_dump({**CATALOG, "derived": derived}))
    base = spark.createDataFrame([], "customer string, segment string").schema
    with pytest.raises(CatalogError, match="t.yaml: metric segment: a customer attribute"):
        validate(spark, load_catalog(tmp_path), schemas(spark), base)
