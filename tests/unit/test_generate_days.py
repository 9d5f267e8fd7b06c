"""`generate --continue`: the same bank goes on, one delivery folder per day, deterministic."""

import csv
import gzip
import hashlib
import json
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.generate.bank import BankSpec, generate_bank
from jobs.generate.days import continue_bank
from jobs.generate.state import NoBankError, load_state

SPEC = BankSpec(customers=4000, days=30, seed=11)  # big enough that someone joins each few days
D = SPEC.delivery_date
DAYS = [D + timedelta(days=k) for k in (1, 2, 3)]


def landing(root: Path, feed: str, day: date) -> Path:
    return root / "onprem" / "landing" / feed / day.isoformat()


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def backfill(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bank")
    generate_bank(SPEC, out, workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def continued(backfill, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("continued") / "bank"
    shutil.copytree(backfill, out)
    continue_bank(out, 3)
    return out


def sqlite_rows(path: Path) -> list[sqlite3.Row]:
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    return con.execute("select * from transactions order by trans_id").fetchall()


def personas(root: Path) -> dict[int, str]:
    with (root / "truth" / "personas.csv").open() as f:
        return {int(r["client_id"]): r["persona"] for r in csv.DictReader(f)}


def accounts_dat(path: Path) -> dict[int, str]:
    """ACCOUNT-ID -> ACCOUNT-STATUS of each 64-byte EBCDIC record."""
    data = path.read_bytes()
    records = [data[i : i + 64] for i in range(0, len(data), 64)]
    return {int(r[:10].decode("cp037")): r[59:60].decode("cp037") for r in records}


def test_days_continued_at_once_or_one_by_one_are_byte_identical(backfill, continued, tmp_path):
    stepwise = tmp_path / "bank"
    shutil.copytree(backfill, stepwise)
    assert main(["generate", "--continue", str(stepwise), "--days", "1"]) == 0
    assert main(["generate", "--continue", str(stepwise), "--days", "2"]) == 0
    assert digest(stepwise) == digest(continued)
    assert load_state(continued)[0].through == DAYS[-1].isoformat()


def test_each_day_lands_in_its_own_folder_with_only_that_days_rows(backfill, continued):
    before = digest(backfill / "onprem")
    assert {k: v for k, v in digest(continued / "onprem").items() if k in before} == before
    for day in DAYS:
        with (landing(continued, "card_transactions", day) / "card_transaction.v1.csv").open() as f:
            cards = list(csv.DictReader(f))
        assert cards and {(int(r["Year"]), int(r["Month"]), int(r["Day"])) for r in cards} == {
            (day.year, day.month, day.day)
        }
        with (landing(continued, "location_pings", day) / "pings.csv").open() as f:
            assert {r["ts"][:10] for r in csv.DictReader(f)} == {day.isoformat()}
        web = list(landing(continued, "web", day).glob("ga_sessions_*.json.gz"))
        assert [p.name for p in web] == [f"ga_sessions_{day:%Y%m%d}.json.gz"]
        with gzip.open(web[0], "rt") as f:
            assert {json.loads(line)["date"] for line in f} == {f"{day:%Y%m%d}"}
        rows = sqlite_rows(landing(continued, "transactions", day) / "transactions.sqlite")
        assert {r["date"] for r in rows} <= {day.isoformat()}


def test_no_file_is_empty(continued):
    for day in DAYS:
        for path in (continued / "onprem" / "landing").glob(f"*/{day}/*"):
            assert path.stat().st_size > 0, path


def test_account_ids_and_balances_go_on_from_the_day_before(backfill, continued):
    history = sqlite_rows(landing(backfill, "transactions", D) / "transactions.sqlite")
    balance = {r["account_id"]: r["balance"] for r in history}
    last_id = history[-1]["trans_id"]
    moved = 0
    for day in DAYS:
        rows = sqlite_rows(landing(continued, "transactions", day) / "transactions.sqlite")
        assert [r["trans_id"] for r in rows] == list(range(last_id + 1, last_id + 1 + len(rows)))
        last_id += len(rows)
        for r in rows:
            sign = 1 if r["type"] == "PRIJEM" else -1
            if r["account_id"] in balance:
                assert r["balance"] == pytest.approx(balance[r["account_id"]] + sign * r["amount"])
                moved += 1
            balance[r["account_id"]] = r["balance"]
    assert moved > 100


def test_dormant_customers_stay_quiet_and_the_others_keep_spending(continued):
    who = personas(continued)
    for day in DAYS:
        with (landing(continued, "card_transactions", day) / "card_transaction.v1.csv").open() as f:
            spenders = {int(r["User"]) + 1 for r in csv.DictReader(f)}
        assert not {c for c in spenders if who[c] == "dormant"}
        assert {who[c] for c in spenders} >= {"regular", "frequent_traveller", "young_family"}
        rows = sqlite_rows(landing(continued, "transactions", day) / "transactions.sqlite")
        dormant = {r["k_symbol"] for r in rows if who[r["account_id"]] == "dormant"}
        assert dormant <= {"SLUZBY", "UROK"}


def test_new_customers_join_and_closed_accounts_fall_silent(continued):
    state, accounts = load_state(continued)
    assert sum(state.joined) >= 1 and accounts["closed"].sum() >= 1
    assert len(accounts["closed"]) == SPEC.customers + sum(state.joined)
    joined, closed = {}, {}
    for day in DAYS:
        crm = landing(continued, "crm", day) / "crm_clients.jsonl"
        records = [json.loads(line) for line in crm.open()] if crm.exists() else []
        new = {r["client_id"] for r in records if r["client_id"] > SPEC.customers}
        assert all(
            r["client_created_date"] == day.isoformat() for r in records if r["client_id"] in new
        )
        dat = landing(continued, "mainframe", day) / "ACCOUNTS.DAT"
        status = accounts_dat(dat) if dat.exists() else {}
        assert {a for a, s in status.items() if s == "A"} == new
        if new:
            assert (landing(continued, "mainframe", day) / "CARDS.DAT").stat().st_size > 0
        joined.update(dict.fromkeys(new, day))
        closed.update({a: day for a, s in status.items() if s == "C"})
    assert len(joined) == sum(state.joined) and len(closed) == accounts["closed"].sum()
    for account, day in closed.items():
        for later in DAYS[DAYS.index(day) + 1 :]:
            rows = sqlite_rows(landing(continued, "transactions", later) / "transactions.sqlite")
            assert account not in {r["account_id"] for r in rows}


def test_a_folder_without_a_bank_is_refused(tmp_path, capsys):
    with pytest.raises(NoBankError, match=str(tmp_path)):
        continue_bank(tmp_path, 1)
    assert main(["generate", "--continue", str(tmp_path), "--days", "1"]) == 1
    assert "no bank to continue" in capsys.readouterr().err
