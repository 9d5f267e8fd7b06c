"""Card transactions in IBM TabFormer's CSV layout, vectorized per chunk of customers."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from jobs.generate.merchants import (
    CAT_CHANNEL,
    CAT_MCC,
    CAT_MEDIAN,
    CAT_SIGMA,
    CATEGORY,
    MerchantCatalog,
)
from jobs.generate.population import PERSONAS, P, Population
from jobs.generate.vocab import CARD_ERRORS

HEADER = [
    "User",
    "Card",
    "Year",
    "Month",
    "Day",
    "Time",
    "Amount",
    "Use Chip",
    "Merchant Name",
    "Merchant City",
    "Merchant State",
    "Zip",
    "MCC",
    "Errors?",
    "Is Fraud?",
]

DAILY_RATE = {
    "regular": 0.55,
    "car_intender": 0.5,
    "frequent_traveller": 0.75,
    "young_family": 0.85,
    "dormant": 0.03,
    "fraud_victim": 0.55,
}
_BASE = {
    "grocery": 30,
    "restaurant": 10,
    "fast_food": 10,
    "fuel": 6,
    "pharmacy": 5,
    "clothing": 5,
    "electronics": 2,
    "online_retail": 8,
    "utilities": 3,
    "telecom": 3,
    "cinema": 3,
    "airline": 0.3,
    "hotel": 0.3,
    "car_rental": 0.1,
    "kids_clothing": 1,
    "toys": 1,
    "car_dealer": 0.05,
    "motorcycle_shop": 0.1,
    "travel_agency": 0.3,
}
_PERSONA_MIX = {
    "car_intender": {"fuel": 0, "two_wheeler_fuel": 12, "motorcycle_shop": 1, "car_dealer": 0.5},
    "frequent_traveller": {
        "airline": 5,
        "hotel": 6,
        "car_rental": 2,
        "travel_agency": 2,
        "restaurant": 14,
    },
    "young_family": {"kids_clothing": 8, "toys": 6, "grocery": 40, "pharmacy": 7},
}
HOUR_WEIGHTS = np.array(
    [1, 0.5, 0.3, 0.3, 0.4, 1, 3, 6, 7, 7, 7, 8, 10, 9, 8, 8, 9, 10, 10, 9, 7, 5, 3, 2], dtype=float
)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()


def _mix_matrix() -> np.ndarray:
    """Row p: category probabilities of persona p."""
    rows = []
    for name in PERSONAS:
        weights = {**_BASE, **_PERSONA_MIX.get(str(name), {})}
        w = np.array([weights.get(c, 0.0) for c in CATEGORY], dtype=float)
        rows.append(w / w.sum())
    return np.array(rows)


MIX = _mix_matrix()


def _categories(rng: np.random.Generator, persona: np.ndarray) -> np.ndarray:
    """One category per transaction from its customer's persona mix (inverse CDF, vectorized)."""
    cdf = np.cumsum(MIX, axis=1)
    u = rng.random(len(persona))
    cat = (u[:, None] > cdf[persona]).sum(axis=1)
    return np.minimum(cat, MIX.shape[1] - 1)


def generate_chunk(
    pop: Population, catalog: MerchantCatalog, lo: int, hi: int, seed: int
) -> dict[str, np.ndarray]:
    """Transactions of customers lo..hi-1, sorted like TabFormer (user, card, time)."""
    rng = np.random.default_rng([seed, 2, lo])
    days = pop.days
    persona = pop.persona[lo:hi]
    rate = np.array([DAILY_RATE[str(p)] for p in PERSONAS])[persona]
    count = rng.poisson(rate * days)
    cust = np.repeat(np.arange(lo, hi), count)
    per = persona[cust - lo]
    day = rng.integers(0, days, len(cust))
    dormant = per == P["dormant"]
    day[dormant] = rng.integers(0, max(1, int(days * 0.3)), dormant.sum())
    minute = rng.choice(24, len(cust), p=HOUR_WEIGHTS) * 60 + rng.integers(0, 60, len(cust))
    cat = _categories(rng, per)
    fraud = np.zeros(len(cust), dtype=bool)

    victims = np.flatnonzero(pop.persona[lo:hi] == P["fraud_victim"]) + lo
    if len(victims) and days >= 4:
        burst = rng.integers(6, 16, len(victims))
        f_cust = np.repeat(victims, burst)
        f_start = np.repeat(rng.integers(int(days * 0.3), days - 2, len(victims)), burst)
        f_min = rng.integers(0, 36 * 60, len(f_cust))
        cust = np.concatenate([cust, f_cust])
        day = np.concatenate([day, f_start + f_min // 1440])
        minute = np.concatenate([minute, f_min % 1440])
        cat = np.concatenate(
            [
                cat,
                rng.choice(
                    [CATEGORY["electronics"], CATEGORY["online_retail"], CATEGORY["hotel"]],
                    len(f_cust),
                ),
            ]
        )
        fraud = np.concatenate([fraud, np.ones(len(f_cust), dtype=bool)])

    n = len(cust)
    card = (rng.random(n) * pop.n_cards[cust]).astype(np.int64)
    order = np.lexsort((minute, day, card, cust))
    cust, card, day, minute, cat, fraud = (a[order] for a in (cust, card, day, minute, cat, fraud))
    merchant = catalog.pick(rng, cat)
    cents = np.round(rng.lognormal(np.log(CAT_MEDIAN[cat]), CAT_SIGMA[cat]) * 100).astype(np.int64)
    cents[fraud] *= 3
    cents = np.maximum(cents, 100)
    refund = rng.random(n) < 0.008
    cents[refund] = -cents[refund]
    channel = CAT_CHANNEL[cat]
    online = (channel == "online") | (fraud & (channel != "foreign"))
    use_chip = np.where(online, 2, np.where(rng.random(n) < 0.72, 0, 1))  # index into _CHIP
    errors = np.where(rng.random(n) < 0.015, rng.integers(1, len(CARD_ERRORS) + 1, n), 0)
    return {
        "cust": cust,
        "card": card,
        "day": day,
        "minute": minute,
        "cents": cents,
        "use_chip": use_chip,
        "merchant": merchant,
        "online": online,
        "mcc": CAT_MCC[cat],
        "errors": errors,
        "fraud": fraud,
    }


def _lpad2(values: np.ndarray) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), 2, "0")


def _nullable(values: np.ndarray) -> pa.Array:
    """Strings with "" as null (TabFormer leaves those fields empty)."""
    return pa.array(values, mask=values == "")


# pyarrow quotes every string under quoting_style="needed"; TabFormer quotes only fields with a
# comma. So we write unquoted and mark the few comma fields with control bytes, swapped after.
_QUOTE, _COMMA = "\x02", "\x01"
_CHIP = pa.array(["Chip Transaction", "Swipe Transaction", "Online Transaction"])
_ERRORS = pa.array(
    [""]
    + [f"{_QUOTE}{e.replace(',', _COMMA)}{_QUOTE}" if "," in e else e for e in CARD_ERRORS.tolist()]
)


def to_csv_bytes(
    pop: Population, catalog: MerchantCatalog, tx: dict[str, np.ndarray], header: bool
) -> bytes:
    """Format one chunk exactly like TabFormer: `$-12.30`, `HH:MM`, zip `91750.0`, `Yes`/`No`."""
    start = np.datetime64(pop.start, "D")
    dates = start + np.arange(pop.days + 3).astype("timedelta64[D]")
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    months = dates.astype("datetime64[M]").astype(int) % 12 + 1
    mdays = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    day, cents, m = tx["day"], tx["cents"], tx["merchant"]
    online = tx["online"]
    n = len(cents)
    dollars = np.abs(cents) // 100
    amount = pc.binary_join_element_wise(
        pa.array(np.where(cents < 0, "$-", "$")),
        pc.cast(pa.array(dollars), pa.string()),
        pa.array(np.full(n, ".")),
        _lpad2(np.abs(cents) % 100),
        "",
    )
    time = pc.binary_join_element_wise(_lpad2(tx["minute"] // 60), _lpad2(tx["minute"] % 60), ":")
    # merchant attributes by merchant row; an online sale has no city, state or zip
    place = pa.array(np.where(online, -1, m))
    city = pc.if_else(
        pc.equal(place, -1), "ONLINE", catalog.arrow_city.take(pc.max_element_wise(place, 0))
    )
    state = pc.if_else(
        pc.equal(place, -1), None, catalog.arrow_state.take(pc.max_element_wise(place, 0))
    )
    zip_ = pc.if_else(
        pc.equal(place, -1), None, catalog.arrow_zip.take(pc.max_element_wise(place, 0))
    )
    table = pa.table(
        {
            "User": pa.array(
                tx["cust"]
            ),  # TabFormer's user = row of the users file = client_id - 1
            "Card": pa.array(tx["card"]),
            "Year": pa.array(years[day]),
            "Month": pa.array(months[day]),
            "Day": pa.array(mdays[day]),
            "Time": time,
            "Amount": amount,
            "Use Chip": _CHIP.take(pa.array(tx["use_chip"])),
            "Merchant Name": pa.array(catalog.merchant_id[m]),
            "Merchant City": city,
            "Merchant State": state,
            "Zip": zip_,
            "MCC": pa.array(tx["mcc"]),
            "Errors?": pc.if_else(
                pc.equal(pa.array(tx["errors"]), 0), None, _ERRORS.take(pa.array(tx["errors"]))
            ),
            "Is Fraud?": pa.array(np.where(tx["fraud"], "Yes", "No")),
        }
    )
    sink = io.BytesIO()
    if header:
        sink.write((",".join(HEADER) + "\n").encode())
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return sink.getvalue().replace(b"\x02", b'"').replace(b"\x01", b",")
