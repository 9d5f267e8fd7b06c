"""`offerlake report`: one self-contained HTML file from analytics/kpis and
analytics/effective_notifications (lake side, tokens only). Charts are matplotlib SVG inlined
in the page, so it opens with no network: effective rate by campaign and channel, lift with its
interval, the funnel, the trend by day, the top allies; then the per-campaign table.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402
from markupsafe import Markup  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from jobs.effectiveness.kpis import rolled_up  # noqa: E402
from jobs.effectiveness.run import EFFECTIVE, KPIS  # noqa: E402
from jobs.effectiveness.settings import EffectivenessSettings  # noqa: E402
from jobs.errors import OfferlakeError  # noqa: E402
from jobs.runtime import delta_io  # noqa: E402
from jobs.runtime.context import RunContext  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "figure.dpi": 96})
COLORS = ["#1f6f8b", "#e07a5f", "#81b29a", "#f2cc8f", "#3d405b", "#9c89b8"]


class ReportError(OfferlakeError):
    """The report cannot be made (no kpis yet)."""


def _svg(fig) -> Markup:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg") :])  # noqa: S704 (matplotlib's own SVG)


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def rate_by_campaign_and_channel(rows: list) -> Markup:
    fig, ax = plt.subplots(figsize=(7, 3))
    campaigns = sorted({r.campaign for r in rows})
    channels = sorted({r.channel for r in rows})
    width = 0.8 / max(len(channels), 1)
    for i, channel in enumerate(channels):
        rate = {r.campaign: (r.effective_rate or 0) * 100 for r in rows if r.channel == channel}
        xs = [j + i * width for j in range(len(campaigns))]
        ax.bar(xs, [rate.get(c, 0) for c in campaigns], width, label=channel, color=COLORS[i % 6])
    if not rows:
        _empty(ax, "notifications")
    ax.set_xticks([j + width * (len(channels) - 1) / 2 for j in range(len(campaigns))], campaigns)
    ax.set_ylabel("effective rate (%)")
    ax.legend(frameon=False)
    return _svg(fig)


def lift_with_intervals(rows: list, confidence: float) -> Markup:
    rows = [r for r in rows if r.lift is not None]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * max(len(rows), 1)))
    for i, r in enumerate(rows):
        ax.errorbar(
            r.lift * 100,
            i,
            xerr=[[(r.lift - r.lift_low) * 100], [(r.lift_high - r.lift) * 100]],
            fmt="o",
            color=COLORS[0] if r.lift_low > 0 else COLORS[4],
            capsize=4,
        )
    if not rows:
        _empty(ax, "campaigns with a holdout group")
    ax.axvline(0, color="#999", lw=1)
    ax.set_yticks(range(len(rows)), [r.campaign for r in rows])
    ax.set_xlabel(f"lift over holdout, percentage points ({confidence:.0%} interval)")
    return _svg(fig)


def funnel(total) -> Markup:
    fig, ax = plt.subplots(figsize=(7, 2.2))
    stages = [("handed off", total.sent + total.not_sent), ("sent", total.sent)]
    stages += [("delivered", total.delivered), ("effective", total.effective)]
    ax.barh([s for s, _ in stages][::-1], [n for _, n in stages][::-1], color=COLORS[0])
    for i, (_, n) in enumerate(stages[::-1]):
        ax.text(n, i, f" {n:,}", va="center")
    ax.set_xlabel("notifications")
    return _svg(fig)


def trend_by_day(rows: list) -> Markup:
    fig, ax = plt.subplots(figsize=(7, 2.6))
    for i, campaign in enumerate(sorted({r.campaign for r in rows})):
        points = sorted(
            (r.day, (r.effective_rate or 0) * 100) for r in rows if r.campaign == campaign
        )
        ax.plot([d for d, _ in points], [v for _, v in points], marker="o", label=campaign,
                color=COLORS[i % 6])  # fmt: skip
    if not rows:
        _empty(ax, "days")
    ax.set_ylabel("effective rate (%)")
    ax.legend(frameon=False, fontsize=8)
    ax.xaxis.set_major_locator(mdates.DayLocator())  # one tick per day, never hours
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    if len({r.day for r in rows}) == 1:
        day = mdates.date2num(rows[0].day)
        ax.set_xlim(day - 1, day + 1)
    fig.autofmt_xdate()
    return _svg(fig)


def top_allies(rows: list) -> Markup:
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.35 * max(len(rows), 1)))
    ax.barh([r.name for r in rows][::-1], [r.effective for r in rows][::-1], color=COLORS[2])
    if not rows:
        _empty(ax, "effective notifications at allies")
    ax.set_xlabel("effective notifications")
    return _svg(fig)


def render(ctx: RunContext) -> str:
    if not delta_io.is_delta(ctx.spark, ctx.path(KPIS)):
        raise ReportError(f"no {KPIS} yet: run `offerlake run effectiveness` first")
    confidence = EffectivenessSettings.load(ctx.config.conf_dir).confidence
    kpis = ctx.read(KPIS)
    per_campaign = rolled_up(kpis, ["campaign"], confidence).orderBy("campaign").collect()
    per_channel = rolled_up(kpis, ["campaign", "channel"], confidence).collect()
    per_day = rolled_up(kpis, ["campaign", "day"], confidence).collect()
    total = rolled_up(kpis.withColumn("all", F.lit(1)), ["all"], confidence).first()
    effective = ctx.read(EFFECTIVE).where(F.col("ally_id").isNotNull())
    allies = ctx.read("stage/allies").select("ally_id", "name")
    top = (
        effective.groupBy("ally_id").agg(F.count("*").alias("effective"))
        .join(allies, "ally_id", "left")
        .select(F.coalesce("name", "ally_id").alias("name"), "effective")
        .orderBy(F.desc("effective"), "name").limit(10).collect()
    )  # fmt: skip
    env = Environment(
        loader=PackageLoader("jobs.effectiveness", "templates"), autoescape=select_autoescape()
    )
    return env.get_template("report.html.j2").render(
        made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        as_of=ctx.run_date,
        confidence=confidence,
        total=total,
        campaigns=per_campaign,
        charts={
            "rate": rate_by_campaign_and_channel(per_channel),
            "lift": lift_with_intervals(per_campaign, confidence),
            "funnel": funnel(total),
            "trend": trend_by_day(per_day),
            "allies": top_allies(top),
        },
    )


def write(ctx: RunContext, out: Path) -> Path:
    html = render(ctx)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
