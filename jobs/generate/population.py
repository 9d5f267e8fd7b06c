"""The bank's customers, personas, accounts, dispositions and cards, as column arrays."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date

import numpy as np

from jobs.generate import vocab

PERSONAS = np.array(
    ["regular", "car_intender", "frequent_traveller", "young_family", "dormant", "fraud_victim"]
)
PERSONA_SHARE = np.array([0.72, 0.03, 0.05, 0.12, 0.06, 0.02])
P = {name: i for i, name in enumerate(PERSONAS)}


@dataclass(frozen=True)
class Population:
    """One entry per customer (index i, client_id = i + 1) in every array not named otherwise."""

    start: date
    days: int
    client_id: np.ndarray
    persona: np.ndarray
    gender: np.ndarray  # "F" / "M"
    birth_date: np.ndarray  # datetime64[D]
    first_name: np.ndarray
    last_name: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    street: np.ndarray
    district: np.ndarray
    home_lat: np.ndarray
    home_lon: np.ndarray
    work_lat: np.ndarray
    work_lon: np.ndarray
    occupation: np.ndarray
    marital: np.ndarray
    home_ownership: np.ndarray
    head_of_household: np.ndarray
    created: np.ndarray  # datetime64[D], customer since
    monthly_income: np.ndarray  # CZK
    salary_day: np.ndarray
    opt_email: np.ndarray
    opt_sms: np.ndarray
    opt_push: np.ndarray
    opt_location: np.ndarray
    web_user: np.ndarray
    # accounts: one owned per customer, account_id = client_id
    account_branch: np.ndarray
    account_frequency: np.ndarray
    opening_balance: np.ndarray  # CZK, two decimals
    # dispositions (their own length): OWNER rows first, then DISPONENT rows
    disp_id: np.ndarray
    disp_client: np.ndarray
    disp_account: np.ndarray
    disp_type: np.ndarray
    # cards (their own length)
    card_id: np.ndarray
    card_client: np.ndarray
    card_index: np.ndarray
    card_disp: np.ndarray
    card_number: np.ndarray
    card_type: np.ndarray
    card_brand: np.ndarray
    card_issued: np.ndarray  # datetime64[D]
    card_limit: np.ndarray
    card_cvv: np.ndarray
    n_cards: np.ndarray  # per customer

    @property
    def size(self) -> int:
        return len(self.client_id)


def luhn_complete(prefixes: np.ndarray) -> np.ndarray:
    """Append the Luhn check digit to 15-digit card number prefixes (vectorized)."""
    digits = np.array([list(p) for p in prefixes], dtype=np.int64)
    rev = digits[:, ::-1]
    doubled = rev[:, 0::2] * 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = doubled.sum(axis=1) + rev[:, 1::2].sum(axis=1)
    check = (10 - total % 10) % 10
    return np.char.add(prefixes.astype(str), check.astype(str))


def _ages(rng: np.random.Generator, persona: np.ndarray) -> np.ndarray:
    age = rng.integers(19, 85, len(persona))
    ranges = {"car_intender": (27, 50), "frequent_traveller": (30, 62), "young_family": (25, 38)}
    for name, (lo, hi) in ranges.items():
        rows = persona == P[name]
        age[rows] = rng.integers(lo, hi, rows.sum())
    return age


def build_population(customers: int, days: int, seed: int, start: date) -> Population:
    rng = np.random.default_rng([seed, 1])
    n = customers
    client_id = np.arange(1, n + 1, dtype=np.int64)
    persona = rng.choice(len(PERSONAS), n, p=PERSONA_SHARE)
    gender = np.where(rng.random(n) < 0.5, "F", "M")
    age = _ages(rng, persona)
    start64 = np.datetime64(start, "D")
    birth_date = (
        start64
        - (age * 365.25).astype("timedelta64[D]")
        - rng.integers(0, 365, n).astype("timedelta64[D]")
    )
    first = np.where(
        gender == "F",
        vocab.FIRST_NAMES_F[rng.integers(0, len(vocab.FIRST_NAMES_F), n)],
        vocab.FIRST_NAMES_M[rng.integers(0, len(vocab.FIRST_NAMES_M), n)],
    )
    last = vocab.LAST_NAMES[rng.integers(0, len(vocab.LAST_NAMES), n)]
    last = np.where(
        (gender == "F") & ~np.char.endswith(last, "y"),
        np.char.add(last, "ova"),
        np.where(gender == "F", np.char.add(np.char.rstrip(last, "y"), "a"), last),
    )
    domain = vocab.EMAIL_DOMAINS[rng.integers(0, len(vocab.EMAIL_DOMAINS), n)]
    local = np.char.lower(np.char.add(np.char.add(first, "."), last))
    email = np.char.add(np.char.add(np.char.add(local, client_id.astype(str)), "@"), domain)
    phone = np.char.add("+420", rng.integers(601_000_000, 799_999_999, n).astype(str))
    street = np.char.add(
        np.char.add(vocab.STREETS[rng.integers(0, len(vocab.STREETS), n)], " "),
        rng.integers(1, 180, n).astype(str),
    )
    district = rng.integers(0, len(vocab.DISTRICTS), n)
    work_district = rng.integers(0, len(vocab.DISTRICTS), n)
    home_lat = vocab.DISTRICT_LAT[district] + rng.normal(0, 0.01, n)
    home_lon = vocab.DISTRICT_LON[district] + rng.normal(0, 0.015, n)
    work_lat = vocab.DISTRICT_LAT[work_district] + rng.normal(0, 0.008, n)
    work_lon = vocab.DISTRICT_LON[work_district] + rng.normal(0, 0.012, n)
    occupation = vocab.OCCUPATIONS[rng.integers(0, len(vocab.OCCUPATIONS), n)]
    occupation = np.where(age >= 65, "retired", np.where(age <= 22, "student", occupation))
    marital = vocab.MARITAL[rng.choice(4, n, p=[0.38, 0.45, 0.12, 0.05])]
    marital = np.where(persona == P["young_family"], "married", marital)
    ownership = vocab.HOME_OWNERSHIP[rng.integers(0, 4, n)]
    head = rng.random(n) < 0.45
    created = start64 - rng.integers(30, 365 * 15, n).astype("timedelta64[D]")
    income = np.round(rng.lognormal(np.log(36_000), 0.45, n), -2)
    rich = persona == P["car_intender"]
    income[rich] = np.round(rng.lognormal(np.log(95_000), 0.3, rich.sum()), -2)
    salary_day = rng.choice([5, 10, 12, 15, 20, 25], n)
    opt_location = rng.random(n) < 0.35
    opt_location[persona == P["car_intender"]] = (
        rng.random((persona == P["car_intender"]).sum()) < 0.8
    )
    branch = rng.integers(1, 78, n)
    frequency = np.array(["POPLATEK MESICNE", "POPLATEK TYDNE", "POPLATEK PO OBRATU"])[
        rng.choice(3, n, p=[0.9, 0.07, 0.03])
    ]
    opening = np.round(rng.lognormal(np.log(25_000), 1.0, n), 2)
    opening[rich] = np.round(rng.uniform(420_000, 900_000, rich.sum()), 2)
    # dispositions: each client owns their account; 8% of accounts have a disponent.
    disponent_acc = np.flatnonzero(rng.random(n) < 0.08)
    disponent_client = (disponent_acc + rng.integers(1, n, len(disponent_acc))) % n
    disp_client = np.concatenate([np.arange(n), disponent_client])
    disp_account = np.concatenate([np.arange(n), disponent_acc])
    disp_type = np.concatenate([np.full(n, "OWNER"), np.full(len(disponent_acc), "DISPONENT")])
    # cards: 1-3 per customer, issued on the owner disposition
    n_cards = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    n_cards[persona == P["dormant"]] = 1
    card_client = np.repeat(np.arange(n), n_cards)
    first_of = np.cumsum(n_cards) - n_cards
    card_index = np.arange(len(card_client)) - np.repeat(first_of, n_cards)
    m = len(card_client)
    brand = np.where(rng.random(m) < 0.6, "Visa", "Mastercard")
    bin_digit = np.where(brand == "Visa", "4", "5")
    body = np.char.zfill(rng.integers(0, 10**14, m, dtype=np.int64).astype(str), 14)
    card_number = luhn_complete(np.char.add(bin_digit, body))
    card_type = np.array(["classic", "gold", "junior"])[rng.choice(3, m, p=[0.75, 0.2, 0.05])]
    issued = np.maximum(created[card_client], start64 - 365 * 4) + rng.integers(0, 365, m).astype(
        "timedelta64[D]"
    )
    issued = np.minimum(issued, start64 - 1)
    return Population(
        start=start,
        days=days,
        client_id=client_id,
        persona=persona,
        gender=gender,
        birth_date=birth_date,
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        street=street,
        district=district,
        home_lat=home_lat,
        home_lon=home_lon,
        work_lat=work_lat,
        work_lon=work_lon,
        occupation=occupation,
        marital=marital,
        home_ownership=ownership,
        head_of_household=head,
        created=created,
        monthly_income=income,
        salary_day=salary_day,
        opt_email=rng.random(n) < 0.7,
        opt_sms=rng.random(n) < 0.5,
        opt_push=rng.random(n) < 0.4,
        opt_location=opt_location,
        web_user=rng.random(n) < 0.6,
        account_branch=branch,
        account_frequency=frequency,
        opening_balance=opening,
        disp_id=np.arange(1, len(disp_client) + 1, dtype=np.int64),
        disp_client=client_id[disp_client],
        disp_account=client_id[disp_account],
        disp_type=disp_type,
        card_id=np.arange(1, m + 1, dtype=np.int64),
        card_client=client_id[card_client],
        card_index=card_index,
        card_disp=np.arange(1, n + 1, dtype=np.int64)[card_client],
        card_number=card_number,
        card_type=card_type,
        card_brand=brand,
        card_issued=issued,
        card_limit=np.round(rng.lognormal(np.log(60_000), 0.5, m), -3),
        card_cvv=rng.integers(100, 1000, m),
        n_cards=n_cards,
    )


_PER_DISPOSITION = ("disp_id", "disp_client", "disp_account", "disp_type")
_PER_CARD = tuple(f.name for f in fields(Population) if f.name.startswith("card_"))
_IDS = {
    "client_id": "client",
    "disp_client": "client",
    "disp_account": "client",
    "disp_id": "disp",
    "card_disp": "disp",
    "card_id": "card",
    "card_client": "client",
}


def _kind(name: str) -> str:
    return "disp" if name in _PER_DISPOSITION else "card" if name in _PER_CARD else "customer"


def joined(pop: Population, new: Population) -> Population:
    """pop followed by `new` (built on its own, ids from 1): new's client, disposition and card ids
    are moved past pop's."""
    offset = {"client": pop.size, "disp": len(pop.disp_id), "card": len(pop.card_id)}
    arrays = {}
    for f in fields(Population):
        if f.name in ("start", "days"):
            continue
        extra = getattr(new, f.name)
        if f.name in _IDS:
            extra = extra + offset[_IDS[f.name]]
        arrays[f.name] = np.concatenate([getattr(pop, f.name), extra])
    return replace(pop, **arrays)


def subset(pop: Population, rows: np.ndarray) -> Population:
    """The customers at indexes `rows`, with the dispositions and cards of their accounts."""
    ids = pop.client_id[rows]
    keep = {
        "customer": rows,
        "disp": np.flatnonzero(np.isin(pop.disp_account, ids)),
        "card": np.flatnonzero(np.isin(pop.card_client, ids)),
    }
    arrays = {
        f.name: getattr(pop, f.name)[keep[_kind(f.name)]]
        for f in fields(Population)
        if f.name not in ("start", "days")
    }
    return replace(pop, **arrays)
