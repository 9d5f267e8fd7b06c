"""The gate of a day re-gates only the ingest runs it has not gated (or that changed since), and
stage then equals a full re-gate of the same raw tables with the same vault."""

from __future__ import annotations

import shutil
from datetime import timedelta

from pyspark.sql import functions as F

from jobs.generate.days import continue_bank
from jobs.privacy.commands import erase
from jobs.privacy.increments import LOG, RUN
from jobs.runtime.config import DEFAULT_CONF_DIR
from tests.lakes import SMALL_BANK, copy_lake
from tests.snapshots import differences, snapshot

D = SMALL_BANK.delivery_date
NEXT = D + timedelta(days=1)


def _stage(root) -> dict:
    return {table: rows for table, rows in snapshot(root).items() if "/stage/" in f"/{table}"}


def test_a_day_gates_its_new_and_changed_runs_and_stage_equals_a_full_regate(bank, gated, tmp_path):
    lake = copy_lake(gated[0], tmp_path / "daily")
    more = tmp_path / "bank"
    shutil.copytree(bank, more)
    continue_bank(more, 1)
    for folder in (more / "onprem" / "landing").glob(f"*/{NEXT}"):
        shutil.copytree(folder, lake.root / "onprem" / "landing" / folder.parent.name / str(NEXT))
    # the web team re-links one visitor: a row of the backfill's run changes
    visitors = lake.root / "onprem" / "landing" / "web" / str(NEXT) / "visitor_map.csv"
    header, first, *rest = visitors.read_text().splitlines()
    visitor, client = first.split(",")
    relinked = f"{visitor},{int(client) % SMALL_BANK.customers + 1}"
    visitors.write_text("\n".join([header, relinked, *rest]) + "\n")
    lake.ingest(run_date=NEXT)
    raw_cards = lake.table("raw/card_transactions")
    runs = {r[RUN]: r["count"] for r in raw_cards.groupBy(RUN).count().collect()}
    assert len(runs) == 2
    results = lake.run("privacy", NEXT)

    # what was gated: the day's rows and the runs that changed; nothing else
    assert results["stage/card_transactions"].rows_read == runs[max(runs)] < sum(runs.values())
    assert any("by ingest run: 1 of 2" in n for n in results["stage/card_transactions"].notes)
    assert results["stage/allies"].rows_read == 0
    assert any("stage kept" in n for n in results["stage/allies"].notes)
    visitors_gated = results["stage/web_visitors"]
    assert visitors_gated.rows_read == lake.table("raw/web_visitors").count()  # both runs
    assert all(r.reconciled for r in results.values())
    logged = lake.table(LOG).where(F.col("table") == "card_transactions")
    assert {r.ingest_run: r.rows for r in logged.collect()} == runs

    # a customer is erased: their card payments leave both runs, and the next gate re-gates both
    in_both = raw_cards.groupBy("user").agg(F.countDistinct(RUN).alias("runs")).where("runs = 2")
    victim = in_both.first().user + 1
    assert erase(lake.config, [str(victim)]).row_count > 0
    left = lake.table("raw/card_transactions").count()
    again = lake.run("privacy", NEXT)
    assert again["stage/card_transactions"].rows_read == left < sum(runs.values())
    assert again["stage/allies"].rows_read == 0
    assert [r for r in again.values() if not r.reconciled] == []

    full = copy_lake(lake, tmp_path / "full")
    shutil.rmtree(full.root / "onprem" / LOG)
    whole = full.run("privacy", NEXT)
    assert "whole: not gated by run before" in whole["stage/card_transactions"].notes
    assert differences(_stage(lake.root), _stage(full.root)) == []
    assert _stage(lake.root)["lake/stage/card_transactions"]

    # the policy generalizes the merchant's zip now: that table is re-gated whole, no other
    conf = tmp_path / "conf"
    shutil.copytree(lake.conf_dir or DEFAULT_CONF_DIR, conf)
    policy = conf / "privacy.yaml"
    text = policy.read_text()
    assert "      zip: keep                             # the merchant's" in text
    policy.write_text(
        text.replace(
            "      zip: keep                             # the merchant's",
            "      zip: generalize zip3 as zip3",
        )
    )
    lake.conf_dir = conf
    changed = lake.run("privacy", NEXT)
    assert "whole: the policy or raw schema changed" in changed["stage/card_transactions"].notes
    assert changed["stage/card_transactions"].rows_read == left
    assert "zip3" in lake.table("stage/card_transactions").columns
    assert changed["stage/transactions"].rows_read == 0
