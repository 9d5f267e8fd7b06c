"""After `offerlake vault erase`, no clear value of the customer is in any file under onprem/ or
lake/ (landing files aside: their retention deletes them), looked for by an independent reader
(tests/security/leftovers.py): Delta logs, statistics, quarantine (decoded), outbox, journal,
handoff, vault."""

from __future__ import annotations

import base64
import json

from pyspark.sql import functions as F

from jobs.cli import main
from jobs.delivery import handoff
from jobs.delivery.adapters import Outbox, Outgoing
from jobs.delivery.ledger import Ledger
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from jobs.runtime.context import RunContext
from jobs.runtime.quarantine import file_rows_frame
from jobs.runtime.zones import Side
from tests.lakes import SMALL_BANK, Lake, copy_lake
from tests.security.leftovers import search

RUN = "match-2026-03-31"
ID_COLUMNS = {"client": ("client_id",), "account": ("account_id",), "card_user": ("user",)}


def _tokens(lake: Lake, kind: str, values: list[str]) -> dict[str, str]:
    ctx = RunContext(lake.config, Side.ONPREM, SMALL_BANK.delivery_date, _spark=lake.spark)
    with Vault.open(ctx, load_policy(lake.config.conf_dir), "test") as vault:
        return {v: vault.token_of(v, kind) for v in values}


def _own(lake: Lake, table: str, column: str, owner, values) -> list[str]:
    """Those of the values of `column` that no row of another customer holds."""
    rows = lake.table(table).select(column, "client_id").distinct().collect()
    others = {str(r[column]).strip() for r in rows if r.client_id != owner}
    return sorted({str(v).strip() for v in values} - others - {"", "None"})


def _customer_values(lake: Lake, client) -> tuple[set[str], dict[str, set[str]]]:
    """The customer's clear values only they hold: text, and numeric ids by column name."""
    crm = lake.table("raw/crm_clients")
    texts = set()
    for column in ("first_name", "last_name", "email", "phone", "street"):
        mine = getattr(client, column)
        if mine and crm.where(F.trim(F.col(column)) == str(mine).strip()).count() == 1:
            texts.add(str(mine).strip())
    dispositions = lake.table("raw/dispositions").where(F.col("client_id") == client.client_id)
    accounts = _own(
        lake, "raw/dispositions", "account_id", client.client_id,
        [r.account_id for r in dispositions.collect()],
    )  # fmt: skip
    cards = lake.table("raw/cards").join(dispositions.select("disp_id"), "disp_id")
    texts |= {str(r.card_number).strip() for r in cards.collect()}
    pings = lake.table("raw/location_pings").where(F.col("client_id") == client.client_id)
    devices = [r.device_id for r in pings.select("device_id").distinct().collect()]
    texts |= set(_own(lake, "raw/location_pings", "device_id", client.client_id, devices))
    visitors = lake.table("raw/web_visitors").where(F.col("client_id") == client.client_id)
    texts |= {r.full_visitor_id for r in visitors.collect()}
    ids = {"client_id": {str(client.client_id)}, "account_id": set(accounts)}
    return texts, ids


def _plant(lake: Lake, client, other, token: str, other_token: str) -> None:
    """What delivery and ingest leave about a customer outside raw and stage: an outbox
    message and its journal line, a handoff row, quarantined records (JSON text with the short
    id, an EBCDIC record kept as base64)."""
    folder = lake.root / "onprem" / "delivery"
    outbox = Outbox(folder / "outbox", RUN)
    ledger = Ledger(lake.spark, str(folder / "ledger"), folder / "journal", RUN)
    for n, (who, tok) in enumerate(((client, token), (other, other_token))):
        message = Outgoing(f"m{n:031d}", "email", who.email, "An offer", f"Hello {who.last_name}")
        outbox.send(message)
        sent = {"run_id": RUN, "client_id": tok, "campaign": "car_loan", "channel": "email"}
        ledger.record(sent | {"status": "sent", "message_id": message.message_id})
    outbox.close()
    ledger.close()  # not folded: a crashed delivery's journal
    frame = lake.spark.createDataFrame([(token, "car_loan"), (other_token, "savers")],
                                       "client_id string, campaign string")  # fmt: skip
    handoff.export(lake.context(), frame, RUN)
    record = f"{client.client_id:>010}{client.email:<40}".encode("cp037")
    quarantined = [
        ("crm.jsonl", "line 3", json.dumps({"client_id": client.client_id, "x": "?"}), "text",
         "wrong_type", "x"),
        ("crm.jsonl", "line 4", json.dumps({"client_id": other.client_id, "x": "?"}), "text",
         "wrong_type", "x"),
        ("cust.ebcdic", "record 2", base64.b64encode(record).decode(), "base64", "bad", "x"),
    ]  # fmt: skip
    file_rows_frame(lake.spark, quarantined, "test").write.format("delta").mode("append").save(
        str(lake.root / "onprem/quarantine/crm_clients")
    )


def test_no_value_of_an_erased_customer_is_left_in_any_file(gated, tmp_path):
    lake = copy_lake(gated[0], tmp_path)
    holders = lake.table("raw/cards").join(lake.table("raw/dispositions"), "disp_id")
    pingers = lake.table("raw/location_pings").select("client_id")
    chosen = holders.join(pingers, "client_id").orderBy("client_id").first().client_id
    clients = lake.table("raw/crm_clients").orderBy("client_id").collect()
    client = next(c for c in clients if c.client_id == chosen)
    other = next(c for c in clients if c.client_id != chosen)
    tokens = _tokens(lake, "client", [str(client.client_id), str(other.client_id)])
    _plant(lake, client, other, tokens[str(client.client_id)], tokens[str(other.client_id)])
    texts, ids = _customer_values(lake, client)
    roots = [lake.root / "onprem", lake.root / "lake"]
    before = search(roots, texts, ids, skip={"landing"})
    seen = {f.value for f in before}
    # the search sees every kind of value where it was, before the erasure
    assert client.email in seen and str(client.client_id) in ids["client_id"], before
    assert any(f.file.startswith("onprem/delivery/outbox") for f in before)
    assert any("quarantine" in f.file and f.value == client.email
               for f in before), "the EBCDIC record is decoded"  # fmt: skip
    assert any(f.value == f"client_id={client.client_id}" for f in before)

    assert main(["--lake", str(lake.root), "vault", "erase", "--client-id",
                 str(client.client_id)]) == 0  # fmt: skip

    left = search(roots, texts, ids, skip={"landing"})
    assert left == [], "\n".join(f"{f.file} [{f.where}]: {f.value}" for f in left[:20])
    # what is not theirs stays: the other customer's message, record and handoff row
    outbox = (lake.root / "onprem/delivery/outbox" / f"{RUN}.jsonl").read_text()
    assert other.email in outbox and client.email not in outbox
    records = [r.original for r in lake.table("quarantine/crm_clients").collect()]
    assert any(f'"client_id": {other.client_id},' in r for r in records)


def test_an_erased_customers_rows_delivered_again_are_refused_at_ingest(bank, gated, tmp_path):
    """A source sends an erased customer's record again: it is quarantined with rule `erased`
    and without its content, never lands in raw, and leaves no value behind; a new customer in
    the same file lands."""
    lake = copy_lake(gated[0], tmp_path)
    landed = next((bank / "onprem/landing/crm").rglob("crm_clients.jsonl")).read_text()
    lines = {json.loads(line)["client_id"]: line for line in landed.splitlines()}
    erased_id = min(lines)
    texts, ids = _customer_values(lake, lake.table("raw/crm_clients").where(
        F.col("client_id") == erased_id).first())  # fmt: skip
    assert main(["--lake", str(lake.root), "vault", "erase", "--client-id", str(erased_id)]) == 0
    newcomer = json.loads(lines[erased_id]) | {
        "client_id": 10**6, "email": "new@example.org", "phone": "+420700000001",
        "name": {"first": "Zdenka", "last": "Nova"},
    }  # fmt: skip
    newcomer["address"] = newcomer["address"] | {"street": "Nova 1"}
    again = lines[erased_id] + "\n" + json.dumps(newcomer) + "\n"
    lake.land("crm", "crm_clients.jsonl", again, delivery=SMALL_BANK.delivery_date)
    results = lake.ingest("crm", run_date=SMALL_BANK.delivery_date)
    assert results["crm_clients"].rows_written == 1 and results["crm_clients"].rows_quarantined == 1
    raw = lake.table("raw/crm_clients")
    assert raw.where(F.col("client_id") == erased_id).count() == 0
    assert raw.where(F.col("client_id") == 10**6).count() == 1
    refused = lake.table("quarantine/crm_clients").where("rule = 'erased'").collect()
    assert len(refused) == 1 and refused[0].original is None, refused
    assert "erased" in refused[0].reason
    roots = [lake.root / "onprem", lake.root / "lake"]
    left = search(roots, texts, ids, skip={"landing"})
    assert left == [], "\n".join(f"{f.file} [{f.where}]: {f.value}" for f in left[:20])
