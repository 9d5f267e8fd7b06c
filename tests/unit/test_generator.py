"""The synthetic bank: reproducible, consistent across feeds, personas planted as promised."""

import csv
import gzip
import json
import re
import sqlite3
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from jobs.generate.bank import FEEDS, BankSpec, generate_bank
from jobs.generate.card_transactions import HEADER

SPEC = BankSpec(customers=200, days=60, seed=7)
DELIVERY = SPEC.delivery_date.isoformat()


def feed(root: Path, name: str) -> Path:
    return root / "onprem" / "landing" / name / DELIVERY


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bank")
    generate_bank(SPEC, out, workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def personas(bank) -> dict[int, str]:
    with (bank / "truth" / "personas.csv").open() as f:
        return {int(r["client_id"]): r["persona"] for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def crm(bank) -> list[dict]:
    return [json.loads(line) for line in (feed(bank, "crm") / "crm_clients.jsonl").open()]


@pytest.fixture(scope="module")
def card_rows(bank) -> list[dict]:
    with (feed(bank, "card_transactions") / "card_transaction.v1.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def account_rows(bank) -> list[sqlite3.Row]:
    con = sqlite3.connect(feed(bank, "transactions") / "transactions.sqlite")
    con.row_factory = sqlite3.Row
    return con.execute("select * from transactions order by trans_id").fetchall()


def test_every_feed_is_written(bank):
    for name in FEEDS:
        files = [p for p in feed(bank, name).iterdir() if p.stat().st_size > 0]
        assert files, f"feed {name} wrote nothing"


def test_same_seed_gives_byte_identical_files_whatever_the_workers(bank, tmp_path):
    generate_bank(SPEC, tmp_path, workers=1, progress=False)
    first = sorted(p.relative_to(bank) for p in bank.rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == again
    for rel in first:
        assert (bank / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_another_seed_gives_another_bank(bank, tmp_path):
    generate_bank(BankSpec(200, 60, seed=8), tmp_path, workers=1, progress=False)
    name = Path("onprem/landing/crm") / DELIVERY / "crm_clients.jsonl"
    assert (bank / name).read_bytes() != (tmp_path / name).read_bytes()


def test_client_ids_agree_across_feeds(bank, crm, personas, card_rows, account_rows):
    clients = {c["client_id"] for c in crm}
    assert clients == set(personas) == set(range(1, SPEC.customers + 1))
    assert {r["account_id"] for r in account_rows} <= clients
    assert {int(r["User"]) + 1 for r in card_rows} <= clients
    with (feed(bank, "web") / "visitor_map.csv").open() as f:
        assert {int(r["client_id"]) for r in csv.DictReader(f)} <= clients
    for line in (feed(bank, "offer_responses") / "responses.jsonl").open():
        assert json.loads(line)["client_id"] in clients


def test_every_card_used_in_a_transaction_is_in_the_cards_file(bank, card_rows):
    with (feed(bank, "card_transactions") / "sd254_cards.csv").open() as f:
        cards = {(r["User"], r["CARD INDEX"]) for r in csv.DictReader(f)}
    assert {(r["User"], r["Card"]) for r in card_rows} <= cards


def test_users_file_has_one_row_per_client_in_order(bank, crm):
    with (feed(bank, "card_transactions") / "sd254_users.csv").open() as f:
        users = list(csv.DictReader(f))
    assert [u["Person"] for u in users] == [
        f"{c['name']['first']} {c['name']['last']}" for c in crm
    ]
    assert re.fullmatch(r"\$\d{1,3}(,\d{3})* ", users[0]["Yearly Income - Person"])


def test_card_numbers_pass_the_luhn_check(bank):
    def luhn_ok(number: str) -> bool:
        digits = [int(d) for d in number][::-1]
        total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
        return total % 10 == 0

    with (feed(bank, "card_transactions") / "sd254_cards.csv").open() as f:
        numbers = [r["Card Number"] for r in csv.DictReader(f)]
    assert numbers and all(len(n) == 16 and luhn_ok(n) for n in numbers)


def test_card_transactions_use_tabformer_layout(bank, card_rows, shared_datasets):
    real = shared_datasets / "tabformer" / "User0_credit_card_transactions.csv"
    with real.open() as f:
        assert next(csv.reader(f)) == HEADER
    with (feed(bank, "card_transactions") / "card_transaction.v1.csv").open() as f:
        assert next(csv.reader(f)) == HEADER
    for r in card_rows:
        assert re.fullmatch(r"\$-?\d+\.\d\d", r["Amount"]), r
        assert re.fullmatch(r"\d\d:\d\d", r["Time"]), r
        assert r["Zip"] == "" or re.fullmatch(r"\d{5}\.0", r["Zip"]), r
        assert r["Is Fraud?"] in ("Yes", "No")
        assert r["Use Chip"] in ("Chip Transaction", "Swipe Transaction", "Online Transaction")
        assert (r["Merchant City"] == "ONLINE") == (r["Use Chip"] == "Online Transaction")
    assert any("," in r["Errors?"] for r in card_rows), "no multi-error row was quoted"


def test_card_transactions_are_sorted_by_user_card_and_time(card_rows):
    keys = [
        (int(r["User"]), int(r["Card"]), int(r["Year"]), int(r["Month"]), int(r["Day"]), r["Time"])
        for r in card_rows
    ]
    assert keys == sorted(keys)


def test_car_intenders_deposit_50000_early_every_month_and_stay_above_300000(
    personas, account_rows, card_rows
):
    intenders = {c for c, p in personas.items() if p == "car_intender"}
    assert intenders
    deposits = defaultdict(set)
    lowest = defaultdict(lambda: float("inf"))
    for r in account_rows:
        lowest[r["account_id"]] = min(lowest[r["account_id"]], r["balance"])
        d = date.fromisoformat(r["date"])
        if r["operation"] == "VKLAD" and r["amount"] >= 50_000 and d.day <= 14:
            deposits[r["account_id"]].add((d.year, d.month))
    months = {(2026, 1), (2026, 2)}  # the full months of the 60-day period
    for client in intenders:
        assert months <= deposits[client], client
        assert lowest[client] >= 300_000, client
    others = set(personas) - intenders
    assert sum(lowest[c] >= 300_000 and months <= deposits[c] for c in others) == 0
    two_wheeler_fuel = defaultdict(int)
    for r in card_rows:
        if r["MCC"] == "5541" and float(r["Amount"].replace("$", "")) < 500:
            two_wheeler_fuel[int(r["User"]) + 1] += 1
    assert all(two_wheeler_fuel[c] >= 2 for c in intenders)


def test_only_fraud_victims_have_fraud(personas, card_rows):
    fraud_users = {int(r["User"]) + 1 for r in card_rows if r["Is Fraud?"] == "Yes"}
    victims = {c for c, p in personas.items() if p == "fraud_victim"}
    assert fraud_users == victims and victims


def test_dormant_customers_stop_spending(personas, card_rows):
    dormant = {c for c, p in personas.items() if p == "dormant"}
    late = {
        int(r["User"]) + 1
        for r in card_rows
        if date(int(r["Year"]), int(r["Month"]), int(r["Day"])) >= date(2026, 1, 20)
    }
    assert dormant and not dormant & late


def test_travellers_and_families_spend_in_character(personas, card_rows):
    def share(persona: str, mccs: set[str]) -> float:
        members = {c for c, p in personas.items() if p == persona}
        rows = [r for r in card_rows if int(r["User"]) + 1 in members]
        return sum(r["MCC"] in mccs for r in rows) / max(1, len(rows))

    travel, kids = {"4511", "7011", "7512", "4722"}, {"5641", "5945"}
    assert share("frequent_traveller", travel) > 3 * share("regular", travel)
    assert share("young_family", kids) > 3 * share("regular", kids)


def test_only_location_opted_in_customers_send_pings(bank, crm):
    opted = {c["client_id"] for c in crm if c["preferences"]["channels"]["location"]}
    with (feed(bank, "location_pings") / "pings.csv").open() as f:
        pinged = {int(r["client_id"]) for r in csv.DictReader(f)}
    assert pinged and pinged <= opted


def test_ga_sessions_are_nested_with_string_totals(bank):
    files = sorted(feed(bank, "web").glob("ga_sessions_*.json.gz"))
    session = json.loads(gzip.open(files[0], "rt").readline())
    assert isinstance(session["totals"]["hits"], str)
    assert int(session["totals"]["hits"]) == len(session["hits"])
    assert session["date"] == files[0].name[12:20]
    assert session["hits"][0]["page"]["pagePath"].startswith("/")


def test_allies_are_geojson_in_prague(bank):
    allies = json.loads((feed(bank, "allies") / "allies.geojson").read_text())
    kinds = set()
    for f in allies["features"]:
        kinds.add(f["geometry"]["type"])
        lon, lat = (
            f["geometry"]["coordinates"]
            if f["geometry"]["type"] == "Point"
            else f["geometry"]["coordinates"][0][0]
        )
        assert 49.9 < lat < 50.2 and 14.2 < lon < 14.7
        assert f["properties"]["mcc"] > 0
        if f["geometry"]["type"] == "Point":
            assert f["properties"]["radius_m"] > 0
    assert kinds == {"Point", "Polygon"}


def test_account_balances_follow_the_movements(account_rows):
    last: dict[int, float] = {}
    for r in account_rows:
        sign = 1 if r["type"] == "PRIJEM" else -1
        if r["account_id"] in last:
            assert r["balance"] == pytest.approx(
                last[r["account_id"]] + sign * r["amount"], abs=0.02
            )
        last[r["account_id"]] = r["balance"]
