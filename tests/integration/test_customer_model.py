"""`offerlake run model` on the gated small bank: one row per customer token, 1,000+ metrics."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.cli import main
from jobs.model.catalog import load_catalog
from jobs.model.quality import DataQualityError
from tests.lakes import SMALL_BANK, copy_lake

RUN_DATE = SMALL_BANK.delivery_date


def test_one_row_per_customer_token_with_every_catalog_metric(modelled):
    lake, results = modelled
    c360 = lake.table("analytics/customer_360")
    clients = lake.table("stage/crm_clients")
    assert results["analytics/customer_360"].rows_written == clients.count()
    assert c360.select("client_id").distinct().count() == c360.count() == clients.count()
    assert c360.join(clients, "client_id", "left_anti").count() == 0  # tokens, as in stage
    catalog = load_catalog(lake.config.conf_dir)
    metrics = [m.name for m in catalog.metrics + catalog.derived]
    assert len(metrics) >= 1000
    assert set(metrics) <= set(c360.columns)


def test_metrics_carry_the_banks_behaviour(modelled):
    lake, _ = modelled
    c360 = lake.table("analytics/customer_360")
    totals = c360.agg(
        F.sum("card_spend_total_all_sum").alias("card"),
        F.sum("txn_credit_all_count").alias("credits"),
        F.sum(F.col("tenure_days").isNotNull().cast("int")).alias("tenures"),
    ).first()
    # the card feed's spend reaches customers through card number -> mainframe card -> client
    card = lake.table("stage/card_transactions").where("amount > 0").agg(F.sum("amount")).first()[0]
    assert 0 < totals.card <= float(card) + 0.01
    assert totals.credits > 0
    # every customer whose join year reached stage (k-anonymity suppresses it in small groups)
    joined = c360.where(F.col("client_created_date").isNotNull()).count()
    assert totals.tenures == joined > 0


def test_every_customer_gets_a_rule_segment_a_cluster_and_a_lifetime_value(modelled):
    lake, results = modelled
    segments = lake.table("analytics/segments")
    assert segments.count() == lake.table("analytics/customer_360").count()
    assert segments.where("clv IS NULL OR clv < 0 OR rule_segment IS NULL").count() == 0
    assert {r.value_tier for r in segments.select("value_tier").distinct().collect()} == {
        "high",
        "medium",
        "low",
    }
    # clusters are numbered by mean CLV: "value 1 of k" is the highest-value cluster
    means = segments.groupBy("cluster", "cluster_label").agg(F.avg("clv").alias("clv")).collect()
    k = len(means)
    assert k >= 2 and f"k-means k = {k} by silhouette" in results["analytics/segments"].notes[0]
    by_cluster = sorted(means, key=lambda r: r.cluster)
    assert [r.cluster_label for r in by_cluster] == [f"value {i} of {k}" for i in range(1, k + 1)]
    assert [r.clv for r in by_cluster] == sorted((r.clv for r in by_cluster), reverse=True)


def test_segment_profiles_add_up_to_the_customers(modelled):
    lake, _ = modelled
    profiles = lake.table("analytics/segment_profiles")
    sizes = {
        r.kind: r.n for r in profiles.groupBy("kind").agg(F.sum("customers").alias("n")).collect()
    }
    customers = lake.table("analytics/segments").count()
    assert sizes == {"rule": customers, "kmeans": customers}


def test_rerunning_the_same_date_gives_the_same_tables(modelled):
    lake, _ = modelled
    tables = ("analytics/customer_360", "analytics/segments", "analytics/segment_profiles")
    before = {t: lake.table(t).localCheckpoint() for t in tables}
    lake.run("model", RUN_DATE)
    for t in tables:
        assert_df_equality(lake.table(t), before[t], ignore_row_order=True)


def test_features_describe_shows_a_metric_for_campaign_authors(capsys):
    assert main(["features", "describe", "card_spend_fuel_two_wheeler_last_90d_sum"]) == 0
    out = capsys.readouterr().out
    assert "card purchases at fuel_two_wheeler merchants" in out
    assert "card_transactions" in out and "last_90d" in out
    assert main(["features", "list", "--grep", "two_wheeler"]) == 0
    assert "card_spend_fuel_two_wheeler_all_sum" in capsys.readouterr().out


def test_quality_results_are_recorded_and_published_as_data_docs(modelled):
    lake, _ = modelled
    checks = lake.table("analytics/data_quality").where(F.col("as_of") == RUN_DATE)
    tables = {r.table for r in checks.select("table").distinct().collect()}
    assert tables == {"customer_360", "segments"}
    assert checks.where("critical AND NOT success").count() == 0
    docs = lake.root / "lake" / "analytics" / "_data_quality" / "gx" / "data_docs" / "index.html"
    assert "customer_360" in docs.read_text()


def test_a_failing_critical_expectation_stops_the_stage_and_undoes_the_write(modelled, tmp_path):
    from jobs.model.run import TABLE, write_checked
    from jobs.runtime.context import RunContext
    from jobs.runtime.zones import Side

    lake = copy_lake(modelled[0], tmp_path)
    before = lake.table(TABLE).localCheckpoint()
    # corrupt data: one customer twice, as a CRM delivering a client twice would make it
    corrupted = before.unionByName(before.limit(1)).localCheckpoint()
    ctx = RunContext(lake.config, Side.LAKE, RUN_DATE, _spark=lake.spark)
    with pytest.raises(DataQualityError) as error:
        write_checked(ctx, TABLE, corrupted)
    assert "expect_column_values_to_be_unique client_id: 2 unexpected" in str(error.value)
    assert "expect_table_row_count_to_equal" in str(error.value)
    assert "the write was undone" in str(error.value)
    assert_df_equality(lake.table(TABLE), before, ignore_row_order=True)
    failed = lake.table("analytics/data_quality").where("critical AND NOT success")
    assert {r.column for r in failed.collect()} == {"client_id", ""}


def test_the_planted_car_intenders_show_in_their_metrics(modelled, bank):
    """Car intenders (truth/personas.csv) deposit 50,000+ in a month's first two weeks, never let
    the balance fall below 300,000 and buy two-wheeler fuel; most other customers do not do all
    three. The small bank covers 20 days, so the windows are this month and all history; the
    six-month versions of the same metrics are checked by hand in test_model_compile."""
    from jobs.generate.account_transactions import CAR_INTENDER_FLOOR
    from jobs.match.explain import planted_personas
    from jobs.runtime.context import RunContext
    from jobs.runtime.zones import Side

    lake, _ = modelled
    ctx = RunContext(lake.config, Side.ONPREM, RUN_DATE, _spark=lake.spark)
    personas = planted_personas(ctx, str(bank / "truth" / "personas.csv"))
    fits = (
        (F.col("deposits_50k_first_2w_months_this_month_first_14d") == 1)
        & (F.col("balance_min_all") >= CAR_INTENDER_FLOOR)
        & (F.col("card_spend_fuel_two_wheeler_last_30d_sum") > 0)
    )
    rows = (
        lake.table("analytics/customer_360")
        .join(personas, "client_id")
        .groupBy((F.col("persona") == "car_intender").alias("car_intender"))
        .agg(F.count("*").alias("n"), F.sum(fits.cast("int")).alias("fit"))
        .collect()
    )
    by = {r.car_intender: r for r in rows}
    assert by[True].n > 0 and by[True].fit == by[True].n
    assert by[False].fit / by[False].n < 0.2


def test_home_and_work_areas_are_where_the_nights_and_working_hours_are(modelled):
    """Home is the ~1 km cell of most night pings, work that of weekday working hours: each
    customer's areas lie within a cell of the average of those pings in stage."""
    lake, _ = modelled
    pings = lake.table("stage/location_pings")
    hour = F.hour("ts")
    weekday = F.dayofweek("ts").between(2, 6)
    means = pings.groupBy("client_id").agg(
        F.avg(F.when((hour < 6) | (hour >= 22), F.col("lat"))).alias("night_lat"),
        F.avg(F.when((hour < 6) | (hour >= 22), F.col("lon"))).alias("night_lon"),
        F.avg(F.when(hour.between(9, 16) & weekday, F.col("lat"))).alias("work_lat"),
        F.avg(F.when(hour.between(9, 16) & weekday, F.col("lon"))).alias("work_lon"),
    )
    rows = (
        lake.table("analytics/customer_360")
        .join(means, "client_id")
        .select("home_area_90d", "work_area_90d", "commutes_90d", *means.columns[1:])
        .collect()
    )
    assert rows, "the small bank has customers who share their location"

    def near(area, lat, lon):  # the cell's south-west corner, within one cell of the mean
        corner = [float(x) for x in area.split(",")]
        return abs(corner[0] + 0.005 - lat) <= 0.015 and abs(corner[1] + 0.005 - lon) <= 0.015

    homes = [r for r in rows if r.night_lat is not None]
    works = [r for r in rows if r.work_lat is not None]
    assert homes and works
    assert all(near(r.home_area_90d, r.night_lat, r.night_lon) for r in homes)
    assert all(near(r.work_area_90d, r.work_lat, r.work_lon) for r in works)
    assert sum(r.commutes_90d for r in rows) > len(rows) / 2  # work districts are random


def test_channel_responsiveness_counts_each_channels_offers_and_names_the_best(modelled):
    lake, _ = modelled
    responses = lake.table("stage/offer_responses").where(F.to_date("ts") <= RUN_DATE)
    expected: dict[str, dict[str, int]] = {}
    for r in responses.groupBy("client_id", "channel", "event").count().collect():
        expected.setdefault(r.client_id, {})[f"{r.channel}_{r.event}"] = r["count"]
    names = [f"{c}_{e}" for c in ("push", "email", "sms") for e in ("sent", "opened", "accepted")]
    rows = lake.table("analytics/customer_360").select(
        "client_id", "most_responsive_channel_365d", *[f"offer_{n}_all" for n in names]
    )
    seen = 0
    for row in rows.collect():
        counts = expected.get(row.client_id, {})
        assert [row[f"offer_{n}_all"] for n in names] == [counts.get(n, 0) for n in names]
        seen += bool(counts)
    assert seen > 0
    # in the last 365 days (the whole small bank): the most accepted, then most opened channel
    for row in rows.where("most_responsive_channel_365d IS NOT NULL").collect():
        best = max(
            ("push", "email", "sms"),
            key=lambda c: (row[f"offer_{c}_accepted_all"], row[f"offer_{c}_opened_all"]),
        )
        assert row.most_responsive_channel_365d == best


def test_ally_purchases_and_visits_count_card_buys_at_partner_stores(modelled):
    from jobs.model.customers import keyed

    lake, _ = modelled
    merchants = lake.table("stage/allies").select("merchant_name", "ally_id").collect()
    ally_of = {r.merchant_name: r.ally_id for r in merchants if r.merchant_name}
    buys = keyed(
        lake.table("stage/card_transactions").where(
            (F.col("amount") > 0) & (F.to_date("ts") <= RUN_DATE)
        ),
        "user",
        "card_user",
        lambda t: lake.table(f"stage/{t}"),
    ).select("customer", F.col("merchant_name").cast("string").alias("merchant"))
    expected: dict[str, list[str]] = {}
    for r in buys.collect():
        if r.merchant in ally_of:
            expected.setdefault(r.customer, []).append(ally_of[r.merchant])
    assert expected, "the small bank's customers buy at its allies"
    rows = lake.table("analytics/customer_360").select(
        "client_id", "ally_purchases_all_count", "allies_visited_all"
    )
    for row in rows.collect():
        allies = expected.get(row.client_id, [])
        assert (row.ally_purchases_all_count, row.allies_visited_all) == (
            len(allies),
            len(set(allies)),
        )
