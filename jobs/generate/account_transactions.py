"""Account movements in the Berka layout, written to a SQLite database (the JDBC source)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import adbc_driver_sqlite.dbapi as adbc_sqlite
import numpy as np
import pyarrow as pa

from jobs.generate.merchants import CAT_MCC, CATEGORY, MerchantCatalog
from jobs.generate.population import P, Population

# The same table in PostgreSQL (issue B loads the generated rows there for the JDBC tests).
POSTGRES_DDL = """CREATE TABLE IF NOT EXISTS transactions (
  trans_id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL, date DATE NOT NULL,
  type VARCHAR(10) NOT NULL, operation VARCHAR(20), amount NUMERIC(14,2) NOT NULL,
  balance NUMERIC(16,2) NOT NULL, k_symbol VARCHAR(20), bank VARCHAR(2), account BIGINT,
  merchant VARCHAR(40), mcc INTEGER, city VARCHAR(40))"""
SQLITE_DDL = """CREATE TABLE transactions (
  trans_id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, date TEXT NOT NULL,
  type TEXT NOT NULL, operation TEXT, amount REAL NOT NULL, balance REAL NOT NULL,
  k_symbol TEXT, bank TEXT, account INTEGER, merchant TEXT, mcc INTEGER, city TEXT)"""

# kind: (type, operation, k_symbol, sign)
KINDS = [
    ("PRIJEM", "PREVOD Z UCTU", "", 1),  # 0 salary from employer's bank
    ("PRIJEM", "PREVOD Z UCTU", "DUCHOD", 1),  # 1 pension
    ("PRIJEM", "VKLAD", "", 1),  # 2 cash deposit
    ("VYDAJ", "PREVOD NA UCET", "SIPO", -1),  # 3 household payment
    ("VYDAJ", "PREVOD NA UCET", "POJISTNE", -1),  # 4 insurance
    ("VYDAJ", "VYBER", "", -1),  # 5 cash withdrawal
    ("VYDAJ", "VYBER KARTOU", "", -1),  # 6 card payment
    ("VYDAJ", "VYBER", "SLUZBY", -1),  # 7 statement fee
    ("PRIJEM", "", "UROK", 1),  # 8 interest
]
BANKS = np.array(["AB", "CD", "EF", "GH", "IJ", "KL", "MN", "OP", "QR", "ST", "UV", "WX", "YZ"])
CAR_INTENDER_FLOOR = 300_000.0


@dataclass(frozen=True)
class AccountMovements:
    account_id: np.ndarray
    day: np.ndarray
    kind: np.ndarray
    amount: np.ndarray
    balance: np.ndarray
    merchant: np.ndarray  # merchant row, -1 if none
    partner_bank: np.ndarray  # index into BANKS, -1 if none
    partner_account: np.ndarray
    opening_balance: np.ndarray  # per customer, after making balances consistent


def _month_starts(pop: Population) -> np.ndarray:
    start = np.datetime64(pop.start, "D")
    end = start + pop.days
    months = np.arange(start.astype("datetime64[M]"), end.astype("datetime64[M]") + 1)
    return (months.astype("datetime64[D]") - start).astype(int)


def generate_movements(pop: Population, catalog: MerchantCatalog, seed: int) -> AccountMovements:
    rng = np.random.default_rng([seed, 3])
    n, months = pop.size, _month_starts(pop)
    cust_m = np.repeat(np.arange(n), len(months))
    month_m = np.tile(months, n)
    persona_m = pop.persona[cust_m]
    income_m = pop.monthly_income[cust_m]
    active_m = (persona_m != P["dormant"]) | (month_m < pop.days * 0.3)
    parts = []

    def add(cust, day, kind, amount, merchant=None, partner=False):
        merchant = np.full(len(cust), -1) if merchant is None else merchant
        bank = rng.integers(0, len(BANKS), len(cust)) if partner else np.full(len(cust), -1)
        acc = rng.integers(10**7, 10**8, len(cust)) if partner else np.full(len(cust), -1)
        parts.append(
            (cust, day, np.full(len(cust), kind), np.round(amount, 2), merchant, bank, acc)
        )

    retired = pop.occupation[cust_m] == "retired"
    pay = active_m
    add(
        cust_m[pay],
        month_m[pay] + pop.salary_day[cust_m[pay]] - 1,
        np.where(retired[pay], 1, 0),
        income_m[pay] * rng.uniform(0.98, 1.02, pay.sum()),
        partner=True,
    )
    # car intenders deposit >= 50,000 in the first two weeks of every month
    ci = persona_m == P["car_intender"]
    add(
        cust_m[ci],
        month_m[ci] + rng.integers(0, 14, ci.sum()),
        2,
        rng.uniform(50_000, 120_000, ci.sum()),
    )
    add(
        cust_m[pay],
        month_m[pay] + 19,
        3,
        income_m[pay] * rng.uniform(0.12, 0.18, pay.sum()),
        partner=True,
    )
    ins = pay & (rng.random(len(cust_m)) < 0.4)
    add(cust_m[ins], month_m[ins] + 7, 4, rng.uniform(400, 2500, ins.sum()), partner=True)
    for kind, per_month, share in ((5, 3, 0.06), (6, 4, 0.035)):
        k = rng.poisson(per_month, len(cust_m)) * pay
        c = np.repeat(cust_m, k)
        amt = np.repeat(income_m, k) * share * rng.lognormal(0, 0.4, len(c))
        merch = None
        if kind == 6:
            merch = catalog.pick(
                rng,
                rng.choice(
                    [CATEGORY["grocery"], CATEGORY["clothing"], CATEGORY["electronics"]], len(c)
                ),
            )
        add(c, np.repeat(month_m, k) + rng.integers(0, 28, len(c)), kind, np.round(amt, -1), merch)
    add(cust_m, month_m + 27, 7, rng.uniform(30, 60, len(cust_m)))
    add(cust_m, month_m + 27, 8, rng.uniform(5, 80, len(cust_m)))

    cust, day, kind, amount, merchant, bank, acc = (
        np.concatenate(x) for x in zip(*parts, strict=True)
    )
    keep = (day >= 0) & (day < pop.days)
    cust, day, kind, amount, merchant, bank, acc = (
        a[keep] for a in (cust, day, kind, amount, merchant, bank, acc)
    )
    order = np.lexsort((kind, day, cust))
    cust, day, kind, amount, merchant, bank, acc = (
        a[order] for a in (cust, day, kind, amount, merchant, bank, acc)
    )
    signed = amount * np.array([k[3] for k in KINDS])[kind]
    running = np.cumsum(signed)
    first = np.searchsorted(cust, np.arange(n))
    base = np.concatenate([[0.0], running])[first]  # running total before each customer's first row
    counts = np.bincount(cust, minlength=n)
    running = running - np.repeat(base, counts)
    # opening balances high enough that no account goes negative, car intenders never below floor
    floor = np.where(pop.persona == P["car_intender"], CAR_INTENDER_FLOOR, 0.0)
    low = np.full(n, np.inf)
    np.minimum.at(low, cust, running)
    low = np.where(np.isinf(low), 0.0, low)
    opening = np.maximum(pop.opening_balance, np.round(floor * 1.05 + 500 - low, 2))
    balance = np.round(running + opening[cust], 2)
    return AccountMovements(
        pop.client_id[cust], day, kind, amount, balance, merchant, bank, acc, opening
    )


def write_sqlite(
    pop: Population, catalog: MerchantCatalog, mv: AccountMovements, path: Path, first_id: int = 1
) -> int:
    """Write movements ordered by date (trans_id grows with date from first_id: incremental
    ingest by key).

    Bulk-loaded from Arrow through ADBC: ~1M rows/s, where sqlite3.executemany does ~170k/s.
    """
    order = np.lexsort((mv.kind, mv.account_id, mv.day))
    dates = pa.array((np.datetime64(pop.start, "D") + np.arange(pop.days)).astype(str))
    kind = pa.array(mv.kind[order])
    m = mv.merchant[order]
    m0 = np.maximum(m, 0)
    bank = mv.partner_bank[order]
    acc = mv.partner_account[order]
    table = pa.table(
        {
            "trans_id": pa.array(np.arange(first_id, first_id + len(order), dtype=np.int64)),
            "account_id": pa.array(mv.account_id[order]),
            "date": dates.take(pa.array(mv.day[order])),
            "type": pa.array([k[0] for k in KINDS]).take(kind),
            "operation": pa.array([k[1] for k in KINDS]).take(kind),
            "amount": pa.array(mv.amount[order]),
            "balance": pa.array(mv.balance[order]),
            "k_symbol": pa.array([k[2] for k in KINDS]).take(kind),
            "bank": pa.array(BANKS[np.maximum(bank, 0)], mask=bank < 0),
            "account": pa.array(acc, mask=acc < 0),
            "merchant": pa.array(catalog.merchant_id[m0].astype(str), mask=m < 0),
            "mcc": pa.array(CAT_MCC[catalog.category[m0]], mask=m < 0),
            "city": pa.array(catalog.city[m0], mask=m < 0),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with adbc_sqlite.connect(str(path)) as con, con.cursor() as cur:
        cur.execute(SQLITE_DDL)
        cur.adbc_ingest("transactions", table, mode="append")
        cur.execute("CREATE INDEX transactions_account ON transactions(account_id)")
        con.commit()
    return table.num_rows
