"""A bank that goes on: `offerlake generate --continue DIR --days N` writes its next N days.

The first `generate` leaves the bank's state in DIR/truth/: bank.json (the spec, the last day
delivered, the next account-transaction id, the customers who joined or closed since) and
accounts.npy (each account's opening and closing balance). Each continued day D gets its own
delivery folder in every feed that has something new, deterministic by the bank's seed and D:

- card payments (TabFormer), account movements (trans_id and balances go on from the day before),
  location pings, web sessions and responses to past offers, of the day only;
- CRM: the records of the day's new customers and of a few who changed (address, phone, marital
  status, location consent);
- mainframe: the new customers' accounts, dispositions and cards; accounts closed that day
  (ACCOUNT-STATUS "C").

The same generators make a day as make the backfill, over a one-day window, so planted personas
keep behaving in character: car intenders deposit in the first half of the month, travellers
pay abroad, dormant customers stay quiet (only fees and interest), salaries come on salary day.
A closed account has no more activity. New customers have accounts and cards in the mainframe but
no TabFormer profile yet (the card processor's user file numbers users by line, so it is only
delivered with the backfill): their card payments start with the next backfill.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from jobs.generate import (
    account_transactions,
    card_transactions,
    crm,
    geography,
    mainframe,
    responses,
    web,
)
from jobs.generate.bank import BankSpec, GenerationReport, _write_truth
from jobs.generate.merchants import MerchantCatalog, build_catalog
from jobs.generate.population import P, Population, build_population, joined, subset
from jobs.generate.state import BankState, closing_balances, load_state, save_state

JOIN_RATE = 0.0005  # new customers per customer and day
CHANGE_RATE = 0.002  # CRM records changed per customer and day
CLOSE_RATE = 0.0002  # accounts closed per customer and day
RESPONSE_SHARE = 0.25 / 90  # customers responding to a past offer per day


def _spec(state: BankState) -> BankSpec:
    return BankSpec(state.customers, state.days, state.seed, state.first_day)


def _day_seed(seed: int, offset: int) -> int:
    return int(np.random.SeedSequence([seed, 1000 + offset]).generate_state(1)[0])


def _newcomers(state: BankState, day: date, count: int) -> Population:
    """The customers who join on `day`: a population of their own, customers since that day."""
    offset = (day - _spec(state).delivery_date).days
    new = build_population(count, 1, _day_seed(state.seed, 100_000 + offset), day)
    today = np.datetime64(day, "D")
    return replace(
        new,
        created=np.full(new.size, today),
        card_issued=np.full(len(new.card_id), today),
    )


def population_on(state: BankState, day: date) -> Population:
    """The bank's customers on a continued day: the backfill's and those who joined up to it."""
    spec = _spec(state)
    pop = build_population(spec.customers, spec.days, spec.seed, spec.start)
    for k, count in enumerate(state.joined):
        if count:
            pop = joined(pop, _newcomers(state, spec.delivery_date + timedelta(days=k + 1), count))
    return replace(pop, start=day, days=1)


def _movements(
    pop: Population,
    catalog: MerchantCatalog,
    seed: int,
    active: np.ndarray,
    accounts: dict[str, np.ndarray],
) -> account_transactions.AccountMovements:
    """The day's account movements of active customers (a dormant one: fees and interest only),
    with balances going on from each account's closing balance."""
    mv = account_transactions.generate_movements(pop, catalog, seed)
    row = mv.account_id - 1
    fees = np.isin(mv.kind, (7, 8))
    keep = active[row] & ((pop.persona[row] != P["dormant"]) | fees)
    picked = {
        name: getattr(mv, name)[keep]
        for name in ("account_id", "day", "kind", "amount", "merchant")
        + ("partner_bank", "partner_account")
    }
    order = np.lexsort((picked["kind"], picked["account_id"]))
    picked = {name: values[order] for name, values in picked.items()}
    sign = np.array([k[3] for k in account_transactions.KINDS])[picked["kind"]]
    signed = picked["amount"] * sign
    cust = picked["account_id"] - 1
    running = np.cumsum(signed)
    first = np.searchsorted(cust, np.arange(pop.size))
    before = np.concatenate([[0.0], running])[first]
    counts = np.bincount(cust, minlength=pop.size)
    balance = np.round(accounts["closing"][cust] + running - np.repeat(before, counts), 2)
    return account_transactions.AccountMovements(
        balance=balance, opening_balance=accounts["opening"], **picked
    )


def _card_day(pop: Population, catalog: MerchantCatalog, seed: int, active: np.ndarray) -> tuple:
    """The day's card payments of active customers with a TabFormer profile, not dormant."""
    tx = card_transactions.generate_chunk(pop, catalog, 0, pop.size, seed)
    keep = active[tx["cust"]] & (pop.persona[tx["cust"]] != P["dormant"])
    tx = {name: values[keep] for name, values in tx.items()}
    return card_transactions.to_csv_bytes(pop, catalog, tx, header=True), int(keep.sum())


def continue_day(out: Path, state: BankState, accounts: dict[str, np.ndarray]) -> GenerationReport:
    """Write the day after state.through into its own delivery folders; return the new state's
    report (the state itself is saved by the caller)."""
    day = date.fromisoformat(state.through) + timedelta(days=1)
    spec = _spec(state)
    offset = (day - spec.delivery_date).days
    seed = _day_seed(spec.seed, offset)
    rng = np.random.default_rng([seed, 20])
    catalog = build_catalog(spec.seed, spec.customers)
    before = population_on(state, day)
    state.joined.append(int(rng.poisson(JOIN_RATE * spec.customers)))
    pop = population_on(state, day)
    arrivals = np.arange(before.size, pop.size)
    opening = pop.opening_balance[arrivals]
    accounts = {
        "opening": np.concatenate([accounts["opening"], opening]),
        "closing": np.concatenate([accounts["closing"], opening]),
        "closed": np.concatenate([accounts["closed"], np.zeros(len(arrivals), dtype=bool)]),
    }
    open_before = np.flatnonzero(~accounts["closed"][: before.size])
    closing = open_before[rng.random(len(open_before)) < CLOSE_RATE]
    accounts["closed"][closing] = True
    active = ~accounts["closed"]
    changed = np.setdiff1d(open_before[rng.random(len(open_before)) < CHANGE_RATE], closing)
    pop = _changed(pop, changed, rng)

    landing = out / "onprem" / "landing"
    folder = {feed: landing / feed / day.isoformat() for feed in _DAY_FEEDS}
    report = GenerationReport(out, day)
    crm_rows = np.concatenate([changed, arrivals])
    if len(crm_rows):
        path = folder["crm"] / "crm_clients.jsonl"
        report.counts["crm_clients.jsonl"] = crm.write_crm(pop, path, seed, crm_rows)
    if len(arrivals) or len(closing):
        report.counts.update(_mainframe_day(pop, accounts, arrivals, closing, folder["mainframe"]))
    profiled = np.arange(pop.size) < spec.customers
    data, rows = _card_day(pop, catalog, seed, active & profiled)
    folder["card_transactions"].mkdir(parents=True, exist_ok=True)
    (folder["card_transactions"] / "card_transaction.v1.csv").write_bytes(data)
    report.counts["card_transaction.v1.csv"] = rows
    mv = _movements(pop, catalog, seed, active, accounts)
    report.counts["transactions.sqlite"] = account_transactions.write_sqlite(
        pop, catalog, mv, folder["transactions"] / "transactions.sqlite", state.next_trans_id
    )
    state.next_trans_id += report.counts["transactions.sqlite"]
    accounts["closing"] = closing_balances(accounts["closing"], mv.account_id, mv.balance)
    quiet = replace(pop, web_user=pop.web_user & active, opt_location=pop.opt_location & active)
    sessions, visitors = web.write_web(quiet, folder["web"], seed, bank_seed=spec.seed)
    report.counts.update({"ga_sessions": sessions, "visitor_map.csv": visitors})
    report.counts["pings.csv"] = geography.write_pings(
        quiet, catalog, folder["location_pings"] / "pings.csv", seed
    )
    answering = subset(pop, np.flatnonzero(active))
    path = folder["offer_responses"] / "responses.jsonl"
    report.counts["responses.jsonl"] = responses.write_responses(
        answering, path, seed, RESPONSE_SHARE
    )
    if not report.counts["responses.jsonl"]:  # no one answered: no file (an empty one is bad)
        shutil.rmtree(path.parent)
    report.counts["personas.csv"] = _write_truth(
        replace(pop, start=spec.start), out / "truth" / "personas.csv"
    )
    state.through = day.isoformat()
    save_state(out, state, accounts["opening"], accounts["closing"], accounts["closed"])
    return report


_DAY_FEEDS = (
    "crm",
    "mainframe",
    "transactions",
    "card_transactions",
    "web",
    "location_pings",
    "offer_responses",
)


def _changed(pop: Population, rows: np.ndarray, rng: np.random.Generator) -> Population:
    """A few customers moved house, changed phone or marital status, or their location consent."""
    if not len(rows):
        return pop
    street = pop.street.copy()
    phone = pop.phone.copy()
    marital = pop.marital.copy()
    consent = pop.opt_location.copy()
    what = rng.integers(0, 4, len(rows))
    street[rows[what == 0]] = np.char.add(street[rows[what == 0]], "A")
    phone[rows[what == 1]] = np.char.add(
        "+420", rng.integers(601_000_000, 799_999_999, (what == 1).sum()).astype(str)
    )
    marital[rows[what == 2]] = "married"
    consent[rows[what == 3]] = ~consent[rows[what == 3]]
    return replace(pop, street=street, phone=phone, marital=marital, opt_location=consent)


def _mainframe_day(
    pop: Population,
    accounts: dict[str, np.ndarray],
    arrivals: np.ndarray,
    closing: np.ndarray,
    folder: Path,
) -> dict[str, int]:
    rows = np.concatenate([arrivals, closing])
    status = np.where(accounts["closed"][rows], "C", "A")
    counts = {
        "ACCOUNTS.DAT": mainframe.write_accounts(
            subset(pop, rows), accounts["opening"][rows], folder / "ACCOUNTS.DAT", status
        )
    }
    if len(arrivals):
        new = subset(pop, arrivals)
        counts["DISPOSITIONS.DAT"] = mainframe.write_dispositions(new, folder / "DISPOSITIONS.DAT")
        counts["CARDS.DAT"] = mainframe.write_cards(new, folder / "CARDS.DAT")
    return counts


def continue_bank(out: Path, days: int) -> list[GenerationReport]:
    """Write the bank's next `days` days under out/, one delivery folder per day and feed."""
    if days < 1:
        raise ValueError("days must be at least 1")
    reports = []
    for _ in range(days):
        state, accounts = load_state(out)
        reports.append(continue_day(out, state, accounts))
    return reports
