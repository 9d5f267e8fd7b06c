"""Effectiveness: the purchase window's edges, conversions, and lift with its interval."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta

import pytest
from pyspark.sql import functions as F

from jobs.cli import main
from jobs.effectiveness import outcomes as oc
from jobs.effectiveness.kpis import kpis

SENT = datetime(2026, 3, 31, 12, 0, 0)
EXPOSURES = (
    "run_id string, client_id string, campaign string, variant string, channel string, "
    "ally_id string, sent_at timestamp, status string, group string"
)
PURCHASES = "customer string, ts timestamp, amount double, merchant_name string, mcc int"
ALLIES = [("ally-1", "Cafe Nero", 5814)]


def _exposed(spark, clients, ally="ally-1", group="treatment", campaign="coffee_nearby"):
    rows = [("r", c, campaign, "main", "push", ally, SENT, "sent", group) for c in clients]
    return spark.createDataFrame(rows, EXPOSURES)


def test_a_purchase_at_the_ally_counts_within_the_window_both_ends_included(spark):
    after = {
        "c_1459": (timedelta(minutes=14, seconds=59), "CAFE NERO", 5999),
        "c_1500": (timedelta(minutes=15), "Cafe Nero", 5999),
        "c_1501": (timedelta(minutes=15, seconds=1), "Cafe Nero", 5814),
        "c_before": (timedelta(seconds=-1), "Cafe Nero", 5814),
        "c_mcc": (timedelta(minutes=5), "Another Cafe", 5814),
        "c_other": (timedelta(minutes=5), "Fuel Stop", 5541),
    }
    purchases = spark.createDataFrame(
        [(c, SENT + d, 4.5, m, mcc) for c, (d, m, mcc) in after.items()]
        + [("c_1459", SENT + timedelta(minutes=20), 9.0, "Cafe Nero", 5814)],
        PURCHASES,
    )
    allies = spark.createDataFrame(ALLIES, "ally_id string, merchant_name string, mcc int")
    found = oc.purchases_at_allies(_exposed(spark, after), allies, purchases, 15)
    got = {r.client_id: (r.matched_on, r.effective_at - SENT) for r in found.collect()}
    assert got == {
        "c_1459": ("merchant", timedelta(minutes=14, seconds=59)),
        "c_1500": ("merchant", timedelta(minutes=15)),
        "c_mcc": ("mcc", timedelta(minutes=5)),
    }


def test_an_offer_without_an_ally_converts_when_accepted_within_the_window(spark):
    exposed = _exposed(spark, ["in", "late", "declined", "other"], ally=None, campaign="car_loan")
    responses = spark.createDataFrame(
        [
            ("in", "car_loan", "accepted", SENT + timedelta(days=6, hours=23)),
            ("late", "car_loan", "accepted", SENT + timedelta(days=7, seconds=1)),
            ("declined", "car_loan", "declined", SENT + timedelta(days=1)),
            ("other", "travel_card", "accepted", SENT + timedelta(days=1)),
        ],
        "client_id string, offer_id string, event string, ts timestamp",
    )
    found = oc.acceptances(exposed, responses, 7).collect()
    assert [(r.client_id, r.matched_on) for r in found] == [("in", "accepted")]


def _outcomes(spark, treated, treated_hits, held, held_hits):
    rows = [
        ("r", f"t{i}", "c", "v", "push", None, SENT, "sent", "treatment", i < treated_hits)
        for i in range(treated)
    ]
    rows += [
        ("r", f"h{i}", "c", "v", "push", None, SENT, "holdout", "control", i < held_hits)
        for i in range(held)
    ]
    rows += [("r", "x", "c", "v", "push", None, SENT, "failed", "treatment", False)]
    return spark.createDataFrame(rows, EXPOSURES + ", effective boolean")


def test_lift_and_its_newcombe_interval(spark):
    # Newcombe (1998), Statistics in Medicine 17:873, table II: 56/70 - 48/80, method 10
    row = kpis(_outcomes(spark, 70, 56, 80, 48), 0.95).first()
    assert (row.sent, row.delivered, row.failed, row.effective) == (71, 70, 1, 56)
    assert (row.holdouts, row.holdout_effective) == (80, 48)
    assert row.lift == pytest.approx(0.2)
    assert (row.lift_low, row.lift_high) == (
        pytest.approx(0.0524, abs=5e-5),
        pytest.approx(0.3339, abs=5e-5),
    )
    zero = kpis(_outcomes(spark, 10, 0, 10, 0), 0.95).first()
    assert zero.lift == 0 and zero.lift_low < 0 < zero.lift_high, "no collapse at a rate of 0"
    none_held = kpis(_outcomes(spark, 10, 3, 0, 0), 0.95).first()
    assert none_held.effective_rate == 0.3 and none_held.lift is None


def _lake_with_kpis(lake):
    """analytics/kpis over two days and two campaigns, effective notifications, allies."""
    spark = lake.spark
    rows = []
    for day in (0, 1):
        at = SENT + timedelta(days=day)
        for i in range(40):
            hit = i < 12 + 4 * day
            rows.append(
                (
                    "r",
                    f"t{i}",
                    "coffee_nearby",
                    "main",
                    "push",
                    "ally-1",
                    at,
                    "sent",
                    "treatment",
                    hit,
                )
            )
            rows.append(
                (
                    "r",
                    f"h{i}",
                    "coffee_nearby",
                    "main",
                    "push",
                    "ally-1",
                    at,
                    "holdout",
                    "control",
                    i < 3,
                )
            )
            rows.append(
                ("r", f"e{i}", "car_loan", "prime", "email", None, at, "sent", "treatment", i < 5)
            )
    outcomes = spark.createDataFrame(rows, EXPOSURES + ", effective boolean")
    analytics = lake.root / "lake" / "analytics"
    kpis(outcomes, 0.95).write.format("delta").save(str(analytics / "kpis"))
    effective = outcomes.where("effective AND group = 'treatment'").withColumn(
        "effective_at", F.col("sent_at")
    )
    effective.write.format("delta").save(str(analytics / "effective_notifications"))
    allies = spark.createDataFrame([("ally-1", "Cafe <Nero>")], "ally_id string, name string")
    allies.write.format("delta").save(str(lake.root / "lake" / "stage" / "allies"))


def test_the_report_is_one_self_contained_page_whose_charts_render_in_chromium(lake, tmp_path):
    _lake_with_kpis(lake)
    out = tmp_path / "report.html"
    assert (
        main(["--lake", str(lake.root), "report", "--date", "2026-04-01", "--out", str(out)]) == 0
    )
    html = out.read_text()
    assert "<script" not in html and "<link" not in html and "src=" not in html, "no fetches"
    assert html.count("<svg") == 5
    assert "Cafe &lt;Nero&gt;" in html, "ally names are escaped, not markup"
    campaigns = html[html.index('<table id="campaigns">') :]
    assert "+27.5 (" in campaigns, "coffee_nearby: 35% effective against 7.5% of its holdouts"
    assert "no holdouts" in campaigns, "car_loan had no holdout group: no lift claimed"

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is installed by .ci/run (Debian package chromium)"
    flags = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--user-data-dir=" + str(tmp_path / "profile"),
    ]
    dom = subprocess.run(
        [*flags, "--dump-dom", out.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for chart in ("rate", "lift", "funnel", "trend", "allies"):
        figure = dom[dom.index(f'id="chart-{chart}"') :]
        assert figure.index("<svg") < figure.index("</figure>"), f"{chart} chart rendered"
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2400", out.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.stat().st_size > 20_000, "a page with charts, not a blank screenshot"
