"""Customer lifetime value: the documented geometric sum, worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.model.segments import SegmentSettings, clv

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize(
    ("card", "balance", "fees", "active", "expected"),
    [
        # margin = 0.015 * 100,000 + 0.025 * 200,000 + 300 = 6,800 a year; kept 0.85 / 1.1
        (100_000.0, 200_000.0, -300.0, 1, 6800 * (1 - (0.85 / 1.1) ** 5) / (1 - 0.85 / 1.1)),
        # inactive: kept 0.5 / 1.1
        (0.0, 200_000.0, 0.0, 0, 5000 * (1 - (0.5 / 1.1) ** 5) / (1 - 0.5 / 1.1)),
        (None, None, None, None, 0.0),
    ],
)
def test_clv_is_the_discounted_margin_kept_with_retention(
    spark, card, balance, fees, active, expected
):
    settings = SegmentSettings.load(CONF)
    c = settings.clv
    row = spark.createDataFrame(
        [(card, balance, fees, active, active)],
        f"{c['card_spend']} double, {c['balance']} double, {c['fees']} double, "
        f"{c['activity'][0]} long, {c['activity'][1]} long",
    ).select(clv(settings).alias("clv"))
    assert row.first().clv == pytest.approx(expected, abs=0.01)
