"""Matching rules on tiny DataFrames: compiled conditions, preferences, quiet hours, caps,
arbitration order and holdout (jobs/match, dsl/compiler)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from chispa import assert_column_equality
from pyspark.sql import functions as F

from dsl.compiler import column
from dsl.parser import parse
from jobs.match import arbitrate, preferences
from jobs.match.policy import ContactPolicy

DAY = date(2026, 3, 31)  # a Tuesday; Prague is on summer time (UTC+2)
POLICY = ContactPolicy(
    max_offers_per_customer_per_run=2,
    max_offers_per_customer_per_week=3,
    channel_caps_per_week={"sms": 1},
    time_zones={"CZ": "Europe/Prague"},
    default_time_zone="UTC",
)


def _eligible(text: str):
    (campaign,) = parse(f"campaign c eligible when {text}")
    return campaign.eligible


def test_compiled_conditions_treat_a_missing_value_as_not_met(spark):
    rows = [(1, 60000.0, "family", True), (2, 10.0, "single", True), (3, None, "family", None)]
    df = spark.createDataFrame(rows, "id int, deposits double, segment string, flag boolean")
    rule = _eligible('deposits >= 50k and segment in ("family", "young family") and flag')
    negated = _eligible("not deposits >= 50k")
    out = df.select(
        F.coalesce(column(rule), F.lit(False)).alias("got"),
        F.coalesce(column(negated), F.lit(False)).alias("got_not"),
        F.col("id").isin(1).alias("expected"),
        F.col("id").isin(2).alias("expected_not"),
    )
    assert_column_equality(out, "got", "expected")
    assert_column_equality(out, "got_not", "expected_not")


def test_arithmetic_percent_dates_and_missing_compile_like_sql(spark):
    df = spark.createDataFrame(
        [(100.0, date(2025, 1, 1), None), (10.0, date(2026, 6, 1), 1.0)],
        "spend double, opened date, score double",
    )
    rule = _eligible("spend * 10% - 5 >= 5 and opened < 2026-01-01 and score is missing")
    assert [r[0] for r in df.select(column(rule)).collect()] == [True, False]


def _candidates(spark, rows):
    schema = (
        "client_id string, campaign string, variant string, topic string, channels array<string>, "
        "country string, opt_in_email boolean, opt_in_sms boolean, opt_in_push boolean, "
        "reach_email boolean, reach_sms boolean, reach_push boolean, preferred_days array<string>, "
        "quiet_hours_start string, quiet_hours_end string, topics_opt_out array<string>, "
        "trigger_at timestamp, declined_at timestamp, send_hour int, send_minute int, "
        "expires_days int, valid_to date"
    )
    base = {
        "client_id": "t1",
        "campaign": "c",
        "variant": "v",
        "topic": "loans",
        "channels": ["push", "email"],
        "country": "CZ",
        "opt_in_email": True,
        "opt_in_sms": True,
        "opt_in_push": True,
        "reach_email": True,
        "reach_sms": True,
        "reach_push": True,
        "preferred_days": [],
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "08:00",
        "topics_opt_out": [],
        "trigger_at": None,
        "declined_at": None,
        "send_hour": 9,
        "send_minute": 0,
        "expires_days": 7,
        "valid_to": None,
    }
    names = [f.split()[0] for f in schema.split(", ")]
    return spark.createDataFrame([tuple({**base, **r}[n] for n in names) for r in rows], schema)


def test_preferences_drop_in_order_and_pick_a_reachable_consented_channel(spark):
    rows = [
        {"client_id": "ok"},
        {"client_id": "no_push", "opt_in_push": False},  # falls back to e-mail
        {"client_id": "unreachable", "opt_in_push": False, "reach_email": False},
        {"client_id": "opted_out", "topics_opt_out": ["loans"]},
        {"client_id": "declined", "declined_at": datetime(2026, 3, 20)},
        {"client_id": "no_variant", "variant": None},
    ]
    out = preferences.apply(_candidates(spark, rows), DAY, POLICY)
    got = {r.client_id: (r.channel, r.outcome) for r in out.collect()}
    assert got == {
        "ok": ("push", None),
        "no_push": ("email", None),
        "unreachable": (None, "no_channel"),
        "opted_out": ("push", "topic_opt_out"),
        "declined": ("push", "declined_recently"),
        "no_variant": ("push", "no_variant"),
    }


@pytest.mark.parametrize(
    "row, expected_utc",
    [
        ({}, datetime(2026, 3, 31, 7, 0)),  # 09:00 in Prague (UTC+2)
        ({"send_hour": 6}, datetime(2026, 3, 31, 6, 0)),  # 06:00 is quiet: moved to 08:00 local
        ({"send_hour": 23}, datetime(2026, 4, 1, 6, 0)),  # 23:00: to 08:00 the next morning
        (
            {"quiet_hours_start": "12:00", "quiet_hours_end": "14:00", "send_hour": 13},
            datetime(2026, 3, 31, 12, 0),
        ),
        ({"preferred_days": ["thu", "sat"]}, datetime(2026, 4, 2, 7, 0)),  # Tuesday -> Thursday
        ({"preferred_days": ["tue"]}, datetime(2026, 3, 31, 7, 0)),
        ({"country": "XX"}, datetime(2026, 3, 31, 9, 0)),  # unknown country: default zone UTC
        ({"trigger_at": datetime(2026, 3, 31, 19, 30)}, datetime(2026, 3, 31, 19, 30)),
        ({"trigger_at": datetime(2026, 3, 31, 21, 30)}, datetime(2026, 4, 1, 6, 0)),  # 23:30 local
    ],
)
def test_send_time_moves_out_of_quiet_hours_onto_a_preferred_day(spark, row, expected_utc):
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    out = preferences.apply(_candidates(spark, [row]), DAY, POLICY).first()
    assert out.outcome is None
    assert out.send_at == expected_utc
    assert out.expires_at == expected_utc + timedelta(days=7)


def test_an_offer_expires_no_later_than_its_campaign(spark):
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    out = preferences.apply(_candidates(spark, [{"valid_to": DAY}]), DAY, POLICY).first()
    assert out.expires_at == datetime(2026, 3, 31, 22, 0)  # midnight in Prague


def _ranked(spark, rows):
    schema = (
        "client_id string, campaign string, channel string, priority int, expected_value double, "
        "holdout double, cap_offers int, cap_days int, outcome string"
    )
    return spark.createDataFrame(
        [
            (
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                0.0,
                r[5] if len(r) > 5 else None,
                r[6] if len(r) > 6 else None,
                None,
            )
            for r in rows
        ],
        schema,
    )


def _decide(spark, rows, prior_rows=()):
    prior = spark.createDataFrame(
        list(prior_rows),
        "client_id string, campaign string, channel string, run_date date, holdout boolean",
    )
    per_customer, prior = arbitrate.prior_counts(prior, DAY, spark)
    out = arbitrate.arbitrate(_ranked(spark, rows), per_customer, prior, DAY, POLICY)
    return {(r.client_id, r.campaign): r.outcome for r in out.collect()}


def test_arbitration_takes_priority_then_value_then_a_fixed_tie_break(spark):
    rows = [
        ("a", "low", "push", 10, 500.0),
        ("a", "high", "push", 90, 1.0),
        ("a", "mid_rich", "email", 50, 200.0),
        ("a", "mid_poor", "email", 50, 100.0),
    ]
    assert _decide(spark, rows) == {
        ("a", "high"): "selected",
        ("a", "mid_rich"): "selected",
        ("a", "mid_poor"): "customer_run_cap",
        ("a", "low"): "customer_run_cap",
    }
    tied = [("b", f"c{i}", "push", 10, 0.0) for i in range(6)]
    first, second = _decide(spark, tied), _decide(spark, list(reversed(tied)))
    assert first == second and sum(v == "selected" for v in first.values()) == 2


def test_week_channel_and_campaign_caps_count_earlier_delivered_offers(spark):
    yesterday = DAY - timedelta(days=1)
    prior = [
        ("w", "old1", "push", yesterday, False),
        ("w", "old2", "push", DAY - timedelta(days=6), False),
        ("w", "old3", "push", DAY - timedelta(days=7), False),  # a week ago: no longer counts
        ("w", "held", "push", yesterday, True),  # holdout: never delivered, does not count
        ("s", "x", "sms", yesterday, False),
        ("k", "capped", "push", DAY - timedelta(days=13), False),
        ("k", "free", "push", DAY - timedelta(days=14), False),
    ]
    rows = [
        ("w", "a", "push", 90, 0.0),
        ("w", "b", "push", 80, 0.0),  # the week already holds 2 + a = 3
        ("s", "sms_one", "sms", 90, 0.0),  # one SMS a week, already sent
        ("s", "push_one", "push", 80, 0.0),  # the SMS cap frees the slot for the next one
        ("k", "capped", "push", 90, 0.0, 1, 14),
        ("k", "free", "push", 80, 0.0, 1, 14),
    ]
    assert _decide(spark, rows, prior) == {
        ("w", "a"): "selected",
        ("w", "b"): "customer_week_cap",
        ("s", "sms_one"): "channel_cap",
        ("s", "push_one"): "selected",
        ("k", "capped"): "campaign_cap",
        ("k", "free"): "selected",
    }


def test_holdout_is_a_fixed_share_per_campaign(spark):
    tokens = spark.range(20000).select(F.concat(F.lit("cli_"), F.col("id")).alias("client_id"))
    rows = tokens.select(
        "client_id",
        F.lit("car_loan").alias("campaign"),
        F.lit("push").alias("channel"),
        F.lit(1).alias("priority"),
        F.lit(0.0).alias("expected_value"),
        F.lit(0.1).alias("holdout"),
        F.lit(None).cast("int").alias("cap_offers"),
        F.lit(None).cast("int").alias("cap_days"),
        F.lit(None).cast("string").alias("outcome"),
    )
    per_customer, empty = arbitrate.prior_counts(None, DAY, spark)
    first = arbitrate.arbitrate(rows, per_customer, empty, DAY, POLICY)
    second = arbitrate.arbitrate(
        rows.orderBy(F.desc("client_id")), per_customer, empty, DAY, POLICY
    )
    held = {r.client_id for r in first.where("holdout").collect()}
    assert held == {r.client_id for r in second.where("holdout").collect()}
    assert 0.09 < len(held) / 20000 < 0.11
    other = rows.withColumn("campaign", F.lit("travel_card"))
    held_other = {
        r.client_id
        for r in arbitrate.arbitrate(other, per_customer, empty, DAY, POLICY)
        .where("holdout")
        .collect()
    }
    assert 0.09 < len(held_other) / 20000 < 0.11 and len(held & held_other) < 0.2 * len(held)
