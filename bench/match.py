"""Benchmark: matching 1,000,000 customers x 10 campaigns x 10 variants (issue F).

    .venv/bin/python -m bench.match [--customers 1000000] [--campaigns 10] [--variants 10]

Builds a synthetic customer_360 of that size directly (real catalog metric names, random
values, CRM preferences) and contact reachability in a fresh lake, and generates the campaigns
(.offer files and templates) into a copy of conf/. Then, in one run:
- one pass: every campaign and variant compiled into one select (jobs/match/candidates.py),
  the candidates written to Delta;
- the whole `match` stage: the one pass plus preferences, caps, arbitration and holdout, both
  output tables written;
- the naive peer: one filter-and-write per variant (the campaign's rules, this variant's
  condition and none of the earlier variants'), appended to Delta.
The one pass and the peer must find the same customers per campaign and variant. Prints a
table and writes bench/results/match.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from dsl.compiler import column
from dsl.program import campaign_files, load_program
from dsl.vocabulary import Vocabulary
from jobs.match.campaigns import follow_ups
from jobs.match.candidates import NAMES, candidates
from jobs.match.policy import ContactPolicy
from jobs.match.run import PREFERENCE_TYPES, REACH, base_frame, match
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.spark import build_spark
from jobs.runtime.zones import Side

RESULTS = Path(__file__).parent / "results"
DAY = date(2026, 3, 31)
METRICS = [
    "card_spend_total_last_90d_sum",
    "card_spend_total_last_90d_count",
    "card_spend_grocery_last_90d_sum",
    "card_spend_restaurant_last_90d_sum",
    "card_spend_fuel_two_wheeler_last_90d_sum",
    "card_spend_airline_last_365d_sum",
    "balance_min_last_6m",
    "balance_avg_last_12m",
    "txn_credit_last_365d_sum",
    "web_sessions_last_365d_count",
    "tenure_days",
    "offer_accepted_last_365d",
]
TOPICS = ["loans", "insurance", "investments", "travel", "retail", "cards", "savings"]


def campaigns_text(campaigns: int, variants: int) -> str:
    """Campaign k: eligible on two metrics; variant j on a rising threshold of a third one."""
    out = []
    for k in range(campaigns):
        a, b, c = METRICS[k % 12], METRICS[(k + 3) % 12], METRICS[(k + 7) % 12]
        out.append(
            f"campaign bench_{k}\n  schedule daily at 09:00\n  topic {TOPICS[k % 7]}\n"
            f"  priority {10 * (k % 10)}\n  holdout 10%\n  value {a} * 1%\n"
            f"  eligible when {a} >= {100 + 20 * k} and ({b} > 50 or {c} is missing)\n"
        )
        for j in range(variants - 1):
            out.append(
                f"  variant v{j} when {c} >= {1000 - 100 * (j + 1)}\n"
                f"      offer rate {j + 1} percent\n      channels email, sms\n"
            )
        out.append(f"  variant v{variants - 1} otherwise\n      channels sms, email\n")
    return "\n".join(out)


def build_conf(root: Path, campaigns: int, variants: int) -> Path:
    conf = root / "conf"
    shutil.copytree(Path(__file__).parents[1] / "conf", conf)
    for f in (conf / "campaigns").glob("*.offer"):
        f.unlink()
    (conf / "campaigns" / "bench.offer").write_text(campaigns_text(campaigns, variants))
    for k in range(campaigns):
        folder = conf / "templates" / f"bench_{k}"
        folder.mkdir(parents=True)
        for j in range(variants):
            for channel in ("email", "sms"):
                (folder / f"v{j}.{channel}.j2").write_text("{{ rate }}")
    return conf


def build_lake(spark, lake: Path, customers: int) -> None:
    ids = spark.range(customers).select(F.concat(F.lit("cli_"), F.col("id")).alias("client_id"))
    metrics = [
        F.when(F.rand(i) < 0.05, None).otherwise(F.round(F.rand(100 + i) * 1000, 2)).alias(m)
        for i, m in enumerate(METRICS)
    ]
    days = F.array(*[F.lit(d) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")])
    c360 = ids.select(
        "client_id",
        F.lit(DAY).alias("as_of"),
        *metrics,
        F.lit("CZ").alias("country"),
        (F.rand(1) > 0.2).alias("opt_in_email"),
        (F.rand(2) > 0.3).alias("opt_in_sms"),
        (F.rand(3) > 0.3).alias("opt_in_push"),
        F.when(F.rand(4) < 0.3, F.slice(F.shuffle(days), 1, 2))
        .otherwise(F.array().cast("array<string>"))
        .alias("preferred_days"),
        F.lit("22:00").alias("quiet_hours_start"),
        F.lit("08:00").alias("quiet_hours_end"),
        F.when(F.rand(5) < 0.1, F.array(F.lit("loans")))
        .otherwise(F.array().cast("array<string>"))
        .alias("topics_opt_out"),
    )
    c360.write.format("delta").save(str(lake / "lake/analytics/customer_360"))
    reach = ids.select(
        "client_id", (F.rand(6) > 0.1).alias("email"), (F.rand(7) > 0.2).alias("sms")
    )
    reach.write.format("delta").save(str(lake / "lake/stage/contact_reachability"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--variants", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="offerlake-bench-match-"))
    try:
        conf = build_conf(root, args.campaigns, args.variants)
        config = LakeConfig.load(conf=conf, lake=str(root / "lake_root"))
        spark = build_spark(config, {"spark.master": "local[2]"})
        build_lake(spark, root / "lake_root", args.customers)
        ctx = RunContext(config, Side.LAKE, DAY, _spark=spark)
        program = load_program(campaign_files(conf), Vocabulary.load(conf))
        assert not program.diagnostics, program.diagnostics
        todays = program.valid()
        chains = follow_ups(todays)
        policy = ContactPolicy.load(conf)
        figures = {"customers": args.customers, "campaigns": len(todays), "variants": args.variants}

        def one_pass() -> None:
            base = base_frame(ctx, todays, chains, policy, DAY)
            found = candidates(base, todays, chains, [*PREFERENCE_TYPES, *REACH])
            found.write.format("delta").save(str(root / "one_pass"))

        def whole_stage() -> None:
            everything = match(ctx, todays, chains, DAY)
            everything.write.format("delta").save(str(root / "whole_stage"))

        def naive() -> None:
            c360 = spark.read.format("delta").load(
                str(root / "lake_root/lake/analytics/customer_360")
            )
            for c in todays:
                eligible = F.coalesce(column(c.eligible, NAMES), F.lit(False))
                earlier = F.lit(False)
                for v in c.variants:
                    test = (
                        F.lit(True)
                        if v.when is None
                        else F.coalesce(column(v.when, NAMES), F.lit(False))
                    )
                    rows = c360.where(eligible & test & ~earlier).select(
                        "client_id", F.lit(c.name).alias("campaign"), F.lit(v.name).alias("variant")
                    )
                    rows.write.format("delta").mode("append").save(str(root / "naive"))
                    earlier = earlier | test

        for name, run in (("one_pass", one_pass), ("whole_stage", whole_stage), ("naive", naive)):
            began = time.perf_counter()
            run()
            figures[f"{name}_seconds"] = round(time.perf_counter() - began, 1)

        def counts(path: str):
            df = spark.read.format("delta").load(str(root / path))
            return {
                (r.campaign, r.variant): r["count"]
                for r in df.groupBy("campaign", "variant").count().collect()
            }

        one, peer = counts("one_pass"), counts("naive")
        figures["candidates"] = sum(one.values())
        figures["same_customers_per_variant"] = one == peer
        selected = spark.read.format("delta").load(str(root / "whole_stage"))
        figures["selected"] = selected.where("outcome = 'selected'").count()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = Table(
        title=f"match: {args.customers:,} customers x {args.campaigns} campaigns "
        f"x {args.variants} variants"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(
            key,
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value),
        )
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "match.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
