"""Generate one coherent synthetic bank into every landing feed, in parallel, reproducibly.

Layout written (D = the delivery date, the last day of the period):
    OUT/onprem/landing/crm/D/crm_clients.jsonl
    OUT/onprem/landing/mainframe/D/ACCOUNTS.DAT, DISPOSITIONS.DAT, CARDS.DAT (EBCDIC)
    OUT/onprem/landing/transactions/D/transactions.sqlite
    OUT/onprem/landing/card_transactions/D/card_transaction.v1.csv, sd254_users.csv, sd254_cards.csv
    OUT/onprem/landing/web/D/ga_sessions_YYYYMMDD.json.gz ..., visitor_map.csv
    OUT/onprem/landing/location_pings/D/pings.csv
    OUT/onprem/landing/allies/D/allies.geojson
    OUT/onprem/landing/offer_responses/D/responses.jsonl
    OUT/truth/personas.csv
Ids agree across feeds: client_id = account_id of the owned account; TabFormer `User` is the row of
sd254_users.csv (client_id - 1); (User, Card) -> sd254_cards `Card Number` = mainframe CARD-NUMBER.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jobs.generate import (
    account_transactions,
    card_transactions,
    crm,
    geography,
    mainframe,
    responses,
    tabformer_profiles,
    web,
)
from jobs.generate.merchants import MerchantCatalog, build_catalog
from jobs.generate.population import PERSONAS, Population, build_population
from jobs.generate.state import BankState, closing_balances, save_state

FEEDS = (
    "crm",
    "mainframe",
    "transactions",
    "card_transactions",
    "web",
    "location_pings",
    "allies",
    "offer_responses",
)
CARD_CHUNK = 2_000  # customers per card-transaction chunk (about 400k rows)
DEFAULT_START = date(2026, 1, 1)


@dataclass(frozen=True)
class BankSpec:
    customers: int
    days: int
    seed: int
    start: date = DEFAULT_START

    @property
    def delivery_date(self) -> date:
        return self.start + timedelta(days=self.days - 1)


@dataclass
class GenerationReport:
    """Rows (or records, sessions, features) written per feed file."""

    out: Path
    delivery_date: date
    counts: dict[str, int] = field(default_factory=dict)


# Each process (the parent and every worker) builds the population and merchant catalog once from
# the spec: it is deterministic and quick (~1.5 s for 100k customers), and workers start with
# "forkserver", never plain fork, so a parent holding Spark or Airflow threads cannot deadlock them.
_POP: Population | None = None
_CATALOG: MerchantCatalog | None = None


def _load_bank(spec: BankSpec) -> None:
    global _POP, _CATALOG
    _POP = build_population(spec.customers, spec.days, spec.seed, spec.start)
    _CATALOG = build_catalog(spec.seed, spec.customers)


def _card_chunk(args: tuple[int, int, int]) -> tuple[bytes, int]:
    lo, hi, seed = args
    tx = card_transactions.generate_chunk(_POP, _CATALOG, lo, hi, seed)
    return card_transactions.to_csv_bytes(_POP, _CATALOG, tx, header=lo == 0), len(tx["cust"])


def _accounts_task(folders: dict[str, Path], seed: int) -> tuple[dict[str, int], tuple]:
    """Files written, and each account's (opening, closing) balance for the bank's state."""
    mv = account_transactions.generate_movements(_POP, _CATALOG, seed)
    balances = (mv.opening_balance, closing_balances(mv.opening_balance, mv.account_id, mv.balance))
    counts = {
        "transactions.sqlite": account_transactions.write_sqlite(
            _POP, _CATALOG, mv, folders["transactions"] / "transactions.sqlite"
        ),
        "ACCOUNTS.DAT": mainframe.write_accounts(
            _POP, mv.opening_balance, folders["mainframe"] / "ACCOUNTS.DAT"
        ),
        "DISPOSITIONS.DAT": mainframe.write_dispositions(
            _POP, folders["mainframe"] / "DISPOSITIONS.DAT"
        ),
        "CARDS.DAT": mainframe.write_cards(_POP, folders["mainframe"] / "CARDS.DAT"),
    }
    return counts, balances


def _web_task(folders: dict[str, Path], seed: int) -> tuple[dict[str, int], None]:
    sessions, visitors = web.write_web(_POP, folders["web"], seed)
    return {"ga_sessions": sessions, "visitor_map.csv": visitors}, None


def _small_feeds_task(folders: dict[str, Path], seed: int) -> tuple[dict[str, int], None]:
    counts = {
        "crm_clients.jsonl": crm.write_crm(_POP, folders["crm"] / "crm_clients.jsonl", seed),
        "sd254_users.csv": tabformer_profiles.write_users(
            _POP, folders["card_transactions"] / "sd254_users.csv", seed
        ),
        "sd254_cards.csv": tabformer_profiles.write_cards(
            _POP, folders["card_transactions"] / "sd254_cards.csv", seed
        ),
        "allies.geojson": geography.write_allies(
            _POP, _CATALOG, folders["allies"] / "allies.geojson", seed
        ),
        "pings.csv": geography.write_pings(
            _POP, _CATALOG, folders["location_pings"] / "pings.csv", seed
        ),
        "responses.jsonl": responses.write_responses(
            _POP, folders["offer_responses"] / "responses.jsonl", seed
        ),
    }
    return counts, None


def _write_truth(pop: Population, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write("client_id,persona\n")
        names = PERSONAS[pop.persona].tolist()
        for cid, persona in zip(pop.client_id.tolist(), names, strict=True):
            out.write(f"{cid},{persona}\n")
    return pop.size


def generate_bank(
    spec: BankSpec, out: Path, workers: int = 2, progress: bool = True
) -> GenerationReport:
    """Write the bank under out/; the same spec gives byte-identical files whatever `workers` is."""
    if spec.customers < 1 or spec.days < 1:
        raise ValueError("customers and days must be at least 1")
    _load_bank(spec)
    landing = out / "onprem" / "landing"
    folders = {feed: landing / feed / spec.delivery_date.isoformat() for feed in FEEDS}
    for feed in FEEDS:
        shutil.rmtree(landing / feed, ignore_errors=True)
        folders[feed].mkdir(parents=True)
    report = GenerationReport(out, spec.delivery_date)
    report.counts["personas.csv"] = _write_truth(_POP, out / "truth" / "personas.csv")
    chunks = [
        (lo, min(lo + CARD_CHUNK, spec.customers), spec.seed)
        for lo in range(0, spec.customers, CARD_CHUNK)
    ]
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not progress,
        ) as bar,
        mp.get_context("forkserver").Pool(
            max(1, workers), initializer=_load_bank, initargs=(spec,)
        ) as pool,
    ):
        side_tasks = [
            pool.apply_async(task, (folders, spec.seed))
            for task in (_accounts_task, _web_task, _small_feeds_task)
        ]
        cards = bar.add_task("card transactions", total=len(chunks))
        rows = 0
        with (folders["card_transactions"] / "card_transaction.v1.csv").open("wb") as out_csv:
            for data, n in pool.imap(_card_chunk, chunks):
                out_csv.write(data)
                rows += n
                bar.advance(cards)
        report.counts["card_transaction.v1.csv"] = rows
        others = bar.add_task("accounts, mainframe, web, crm, pings, allies", total=len(side_tasks))
        for task in side_tasks:
            counts, balances = task.get()
            report.counts.update(counts)
            bar.advance(others)
            if balances is not None:
                opening, closing = balances
    state = BankState(
        spec.customers,
        spec.days,
        spec.seed,
        spec.start.isoformat(),
        spec.delivery_date.isoformat(),
        next_trans_id=report.counts["transactions.sqlite"] + 1,
    )
    save_state(out, state, opening, closing, np.zeros(len(opening), dtype=bool))
    return report
