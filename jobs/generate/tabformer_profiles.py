"""TabFormer's users and cards files (sd254_users.csv, sd254_cards.csv layouts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from jobs.generate.population import Population
from jobs.generate.vocab import DISTRICT_ZIPS

USERS_HEADER = [
    "Person",
    "Current Age",
    "Retirement Age",
    "Birth Year",
    "Birth Month",
    "Gender",
    "Address",
    "Apartment",
    "City",
    "State",
    "Zipcode",
    "Latitude",
    "Longitude",
    "Per Capita Income - Zipcode",
    "Yearly Income - Person",
    "Total Debt",
    "FICO Score",
    "Num Credit Cards",
]
CARDS_HEADER = [
    "User",
    "CARD INDEX",
    "Card Brand",
    "Card Type",
    "Card Number",
    "Expires",
    "CVV",
    "Has Chip",
    "Cards Issued",
    "Credit Limit",
    "Acct Open Date",
    "Year PIN last Changed",
    "Card on Dark Web",
]


def _dollars(values: np.ndarray) -> np.ndarray:
    """TabFormer's money in the profile files: `"$59,696 "` (thousands commas, trailing space)."""
    return np.array([f"${int(v):,} " for v in values])


def _write(table: pa.Table, header: list[str], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write((",".join(header) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
    return table.num_rows


def write_users(pop: Population, path: Path, seed: int) -> int:
    """One row per customer in client order: TabFormer's user id is the row number."""
    rng = np.random.default_rng([seed, 5])
    n = pop.size
    birth = pop.birth_date.astype("datetime64[M]").astype(int)
    age = ((np.datetime64(pop.start, "D") - pop.birth_date).astype(int) // 365).astype(int)
    yearly = pop.monthly_income * 12
    table = pa.table(
        {
            "Person": np.char.add(np.char.add(pop.first_name, " "), pop.last_name),
            "Current Age": age,
            "Retirement Age": rng.integers(62, 68, n),
            "Birth Year": birth // 12 + 1970,
            "Birth Month": birth % 12 + 1,
            "Gender": np.where(pop.gender == "F", "Female", "Male"),
            "Address": pop.street,
            "Apartment": pa.nulls(n, pa.string()),
            "City": np.full(n, "Praha"),
            "State": np.full(n, "PR"),
            "Zipcode": DISTRICT_ZIPS[pop.district],
            "Latitude": np.round(pop.home_lat, 2),
            "Longitude": np.round(pop.home_lon, 2),
            "Per Capita Income - Zipcode": _dollars(yearly * rng.uniform(0.4, 0.7, n)),
            "Yearly Income - Person": _dollars(yearly),
            "Total Debt": _dollars(yearly * rng.uniform(0, 2.5, n)),
            "FICO Score": rng.integers(480, 850, n),
            "Num Credit Cards": pop.n_cards,
        }
    )
    return _write(table, USERS_HEADER, path)


def _month_year(months: np.ndarray) -> np.ndarray:
    """Months since 1970 as TabFormer's `MM/YYYY`."""
    mm = np.char.zfill((months % 12 + 1).astype(str), 2)
    return np.char.add(np.char.add(mm, "/"), (months // 12 + 1970).astype(str))


def write_cards(pop: Population, path: Path, seed: int) -> int:
    rng = np.random.default_rng([seed, 6])
    m = len(pop.card_id)
    issued = pop.card_issued.astype("datetime64[M]").astype(int)
    expires = issued + 12 * rng.integers(3, 6, m)
    table = pa.table(
        {
            "User": pop.card_client - 1,
            "CARD INDEX": pop.card_index,
            "Card Brand": pop.card_brand,
            "Card Type": np.where(pop.card_type == "gold", "Credit", "Debit"),
            "Card Number": pop.card_number,
            "Expires": _month_year(expires),
            "CVV": pop.card_cvv,
            "Has Chip": np.where(rng.random(m) < 0.9, "YES", "NO"),
            "Cards Issued": rng.integers(1, 3, m),
            "Credit Limit": np.char.add("$", pop.card_limit.astype(int).astype(str)),
            "Acct Open Date": _month_year(
                np.minimum(
                    issued, pop.created[pop.card_client - 1].astype("datetime64[M]").astype(int)
                )
            ),
            "Year PIN last Changed": issued // 12 + 1970 + rng.integers(0, 3, m),
            "Card on Dark Web": np.full(m, "No"),
        }
    )
    return _write(table, CARDS_HEADER, path)
