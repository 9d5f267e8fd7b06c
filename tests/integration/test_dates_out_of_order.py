"""Dates out of order: D + 1 runs, then D is re-run (an operator's re-run, a backfill), and a
delivery for D lands late, after D + 1 ran. Each date's tables must stay what that date's data
makes them: D's customer model and offers do not see D + 1's customers or purchases, D + 1's
are left alone by D's re-run, and the late rows land once, under their own date.
D's re-run gates again: the gate of a date lets in only the customers who had joined by then
(their exact join date stays on-prem; stage has its year)."""

from __future__ import annotations

import json
from datetime import timedelta

from pyspark.sql import functions as F

from tests.lakes import SMALL_BANK, copy_lake

D = SMALL_BANK.delivery_date
NEXT = D + timedelta(days=1)
CARD_HEADER = (
    "User,Card,Year,Month,Day,Time,Amount,Use Chip,Merchant Name,Merchant City,Merchant State,"
    "Zip,MCC,Errors?,Is Fraud?"
)


def _purchases(day, amounts: list[str]) -> str:
    rows = [
        f"0,0,{day.year},{day.month},{day.day},10:{i:02d},${a},Chip Transaction,"
        f"-4033731730949784088,Praha,PR,15000.0,5411,,No"
        for i, a in enumerate(amounts)
    ]
    return "\n".join([CARD_HEADER, *rows]) + "\n"


def _rows(lake, ref: str, where: str) -> list:
    return sorted(map(tuple, lake.table(ref).where(where).drop("run_id").collect()), key=repr)


def test_an_older_date_rerun_after_a_newer_one_keeps_each_dates_tables(modelled, bank, tmp_path):
    lake = copy_lake(modelled[0], tmp_path)
    lake.run("match", D)
    on_d = f"as_of = DATE'{D}'"
    offers_d = f"run_date = DATE'{D}'"
    c360_d = _rows(lake, "analytics/customer_360", on_d)
    offers = _rows(lake, "analytics/deliverable_offers", offers_d)
    assert c360_d and offers

    # D + 1: a new customer joins, and customer 1's card pays twice
    crm = (bank / "onprem/landing/crm" / D.isoformat() / "crm_clients.jsonl").read_text()
    newcomer = json.loads(crm.splitlines()[-1])
    newcomer |= {"client_id": 10_000, "client_created_date": NEXT.isoformat()}
    lake.land("crm", "crm_clients.jsonl", json.dumps(newcomer) + "\n", NEXT)
    paid = _purchases(NEXT, ["12.00", "8.50"])
    lake.land("card_transactions", "card_transaction.v1.csv", paid, NEXT)
    for stage in ("ingest", "privacy", "model", "match"):
        lake.run(stage, NEXT)
    on_next = f"as_of = DATE'{NEXT}'"
    c360_next = _rows(lake, "analytics/customer_360", on_next)
    offers_next = _rows(lake, "analytics/deliverable_offers", f"run_date = DATE'{NEXT}'")
    assert len(c360_next) == len(c360_d) + 1

    # D again, after D + 1: D's model and offers as before, D + 1's untouched
    for stage in ("privacy", "model", "match"):  # as clearing D's DAG run does
        lake.run(stage, D)
    assert _rows(lake, "analytics/customer_360", on_d) == c360_d
    assert _rows(lake, "analytics/deliverable_offers", offers_d) == offers
    assert _rows(lake, "analytics/customer_360", on_next) == c360_next
    assert _rows(lake, "analytics/deliverable_offers", f"run_date = DATE'{NEXT}'") == offers_next

    # a late file of D's delivery, landed after D + 1 ran: D's re-run takes it, once
    late = _purchases(D, ["3.10", "4.20", "5.30"])
    lake.land("card_transactions", "card_transaction.late.csv", late, D)
    for _ in range(2):
        lake.ingest("card_transactions", run_date=D)
        lake.run("privacy", D)
    raw = lake.table("raw/card_transactions").where(F.col("amount").isin(3.10, 4.20, 5.30))
    assert raw.count() == 3
    staged = lake.table("stage/card_transactions").where(F.col("amount").isin(3.10, 4.20, 5.30))
    assert staged.count() == 3
    assert {r.d for r in staged.select(F.to_date("ts").alias("d")).collect()} == {D}
