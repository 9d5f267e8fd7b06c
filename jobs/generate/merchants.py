"""Spending categories and the merchant catalog (some merchants are ally stores in Prague)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from jobs.generate.vocab import DISTRICT_LAT, DISTRICT_LON, DISTRICT_ZIPS, DISTRICTS, FOREIGN_CITIES

# name, MCC, where it is paid (store / online / foreign), median amount CZK, log-sigma
CATEGORIES = [
    ("grocery", 5411, "store", 450, 0.7),
    ("restaurant", 5812, "store", 380, 0.6),
    ("fast_food", 5814, "store", 180, 0.5),
    ("fuel", 5541, "store", 1400, 0.3),
    ("two_wheeler_fuel", 5541, "store", 240, 0.25),
    ("pharmacy", 5912, "store", 300, 0.6),
    ("clothing", 5651, "store", 1200, 0.7),
    ("electronics", 5732, "store", 2500, 0.9),
    ("online_retail", 5999, "online", 900, 0.8),
    ("utilities", 4900, "online", 1800, 0.4),
    ("telecom", 4814, "online", 600, 0.3),
    ("cinema", 7832, "store", 300, 0.3),
    ("airline", 4511, "online", 6500, 0.6),
    ("hotel", 7011, "foreign", 3200, 0.6),
    ("car_rental", 7512, "foreign", 2500, 0.5),
    ("kids_clothing", 5641, "store", 900, 0.6),
    ("toys", 5945, "store", 700, 0.7),
    ("car_dealer", 5511, "store", 15000, 1.0),
    ("motorcycle_shop", 5571, "store", 1200, 0.6),
    ("travel_agency", 4722, "online", 9000, 0.6),
]
CATEGORY = {name: i for i, (name, *_rest) in enumerate(CATEGORIES)}
CAT_MCC = np.array([c[1] for c in CATEGORIES])
CAT_CHANNEL = np.array([c[2] for c in CATEGORIES])
CAT_MEDIAN = np.array([c[3] for c in CATEGORIES], dtype=float)
CAT_SIGMA = np.array([c[4] for c in CATEGORIES])
# Ally stores are drawn from these in-store categories.
ALLY_CATEGORIES = [
    "grocery",
    "restaurant",
    "fuel",
    "clothing",
    "electronics",
    "kids_clothing",
    "toys",
    "car_dealer",
    "motorcycle_shop",
    "pharmacy",
]
# Two-wheeler fuel is bought at the same fuel stations as car fuel.
_MERCHANT_POOL = {CATEGORY["two_wheeler_fuel"]: CATEGORY["fuel"]}


@dataclass(frozen=True)
class MerchantCatalog:
    """Arrays indexed by merchant; `by_category[c]` lists the merchants that sell category c."""

    merchant_id: np.ndarray  # int64, TabFormer-style signed hash
    category: np.ndarray
    city: np.ndarray
    state: np.ndarray
    zip: np.ndarray  # "" where none
    lat: np.ndarray
    lon: np.ndarray
    is_ally: np.ndarray
    name: np.ndarray
    by_category: list[np.ndarray]

    @cached_property
    def arrow_city(self) -> pa.Array:
        return pa.array(self.city)

    @cached_property
    def arrow_state(self) -> pa.Array:
        return pa.array(self.state, mask=self.state == "")

    @cached_property
    def arrow_zip(self) -> pa.Array:
        """TabFormer writes zips as floats: `11000.0`."""
        return pa.array(np.char.add(self.zip, ".0"), mask=self.zip == "")

    def pick(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        """One merchant per transaction of the given categories, uniform within the category."""
        out = np.empty(len(category), dtype=np.int64)
        for c in np.unique(category):
            rows = np.flatnonzero(category == c)
            pool = self.by_category[_MERCHANT_POOL.get(int(c), int(c))]
            out[rows] = pool[rng.integers(0, len(pool), len(rows))]
        return out


def build_catalog(seed: int, customers: int) -> MerchantCatalog:
    """Merchants for every category; the catalog grows slowly with the bank's size."""
    rng = np.random.default_rng([seed, 101])
    per_cat = max(12, customers // 400)
    n_allies = min(2000, 40 + customers // 250)
    cats, cities, states, zips, lats, lons, names = [], [], [], [], [], [], []
    for c, (cname, _mcc, channel, _m, _s) in enumerate(CATEGORIES):
        if c in _MERCHANT_POOL:
            continue
        n = per_cat
        cats.append(np.full(n, c))
        if channel == "store":
            d = rng.integers(0, len(DISTRICTS), n)
            cities.append(np.full(n, "Praha"))
            states.append(np.full(n, "PR"))
            zips.append(DISTRICT_ZIPS[d])
            lats.append(DISTRICT_LAT[d] + rng.normal(0, 0.012, n))
            lons.append(DISTRICT_LON[d] + rng.normal(0, 0.018, n))
        elif channel == "online":
            cities.append(np.full(n, "ONLINE"))
            states.append(np.full(n, ""))
            zips.append(np.full(n, ""))
            lats.append(np.full(n, np.nan))
            lons.append(np.full(n, np.nan))
        else:
            f = FOREIGN_CITIES[rng.integers(0, len(FOREIGN_CITIES), n)]
            cities.append(f[:, 0])
            states.append(f[:, 1])
            zips.append(np.full(n, ""))
            lats.append(np.full(n, np.nan))
            lons.append(np.full(n, np.nan))
        names.append(np.array([f"{cname.replace('_', ' ').title()} {i + 1}" for i in range(n)]))
    category = np.concatenate(cats)
    total = len(category)
    merchant_id = rng.integers(-(2**63), 2**63 - 1, total, dtype=np.int64)
    is_ally = np.zeros(total, dtype=bool)
    ally_pool = np.flatnonzero(np.isin(category, [CATEGORY[a] for a in ALLY_CATEGORIES]))
    is_ally[rng.choice(ally_pool, min(n_allies, len(ally_pool)), replace=False)] = True
    by_category = [
        np.flatnonzero(category == _MERCHANT_POOL.get(c, c)) for c in range(len(CATEGORIES))
    ]
    return MerchantCatalog(
        merchant_id,
        category,
        np.concatenate(cities),
        np.concatenate(states),
        np.concatenate(zips),
        np.concatenate(lats),
        np.concatenate(lons),
        is_ally,
        np.concatenate(names),
        by_category,
    )
