"""Where customers move (location pings) and where the ally stores are (GeoJSON)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from jobs.generate.merchants import CATEGORIES, MerchantCatalog
from jobs.generate.population import Population

PING_DAYS = 7  # pings cover the last week of the period
METRES_PER_DEG_LAT = 111_320.0


def ally_rows(catalog: MerchantCatalog) -> np.ndarray:
    return np.flatnonzero(catalog.is_ally)


def write_allies(pop: Population, catalog: MerchantCatalog, path: Path, seed: int) -> int:
    """Partner stores: points with a radius, some as polygons (store footprints), + offer terms."""
    rng = np.random.default_rng([seed, 8])
    features = []
    end = pop.start + timedelta(days=pop.days)
    for n, row in enumerate(ally_rows(catalog)):
        lat, lon = float(catalog.lat[row]), float(catalog.lon[row])
        cat = CATEGORIES[catalog.category[row]]
        props = {
            "ally_id": f"ALLY-{n + 1:05d}",
            "name": str(catalog.name[row]),
            "category": cat[0],
            "mcc": int(cat[1]),
            "merchant_name": str(catalog.merchant_id[row]),
            "offer": {
                "offer_id": f"ALLY-{n + 1:05d}-OFFER",
                "discount_pct": int(rng.choice([5, 10, 15, 20])),
                "valid_from": str(pop.start),
                "valid_to": str(end + timedelta(days=90)),
            },
        }
        if rng.random() < 0.15:
            dlat = 30 / METRES_PER_DEG_LAT
            dlon = dlat / np.cos(np.radians(lat))
            ring = [
                [lon - dlon, lat - dlat],
                [lon + dlon, lat - dlat],
                [lon + dlon, lat + dlat],
                [lon - dlon, lat + dlat],
                [lon - dlon, lat - dlat],
            ]
            geometry = {
                "type": "Polygon",
                "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]],
            }
        else:
            props["radius_m"] = int(rng.choice([50, 100, 150, 250]))
            geometry = {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1))
    return len(features)


def write_pings(pop: Population, catalog: MerchantCatalog, path: Path, seed: int) -> int:
    """A day of an opted-in customer: home, commute, work, sometimes a shop, home again."""
    rng = np.random.default_rng([seed, 9])
    users = np.flatnonzero(pop.opt_location)
    days = min(PING_DAYS, pop.days)
    first_day = pop.days - days
    cust = np.repeat(users, days)
    day = np.tile(np.arange(first_day, pop.days), len(users))
    k = len(cust)
    allies = ally_rows(catalog)
    shop = rng.random(k) < 0.4
    store = allies[rng.integers(0, len(allies), k)] if len(allies) else np.zeros(k, dtype=int)
    hl, ho = pop.home_lat[cust], pop.home_lon[cust]
    wl, wo = pop.work_lat[cust], pop.work_lon[cust]
    sl, so = np.where(shop, catalog.lat[store], hl), np.where(shop, catalog.lon[store], ho)
    # (minute of day, fraction from A to B, A, B)
    plan = [
        (410, 0, "h", "h"),
        (450, 0.33, "h", "w"),
        (470, 0.66, "h", "w"),
        (500, 1, "h", "w"),
        (720, 1, "h", "w"),
        (900, 1, "h", "w"),
        (1040, 0.5, "w", "s"),
        (1060, 1, "w", "s"),
        (1075, 1, "w", "s"),
        (1110, 0.5, "s", "h"),
        (1140, 1, "s", "h"),
        (1320, 1, "s", "h"),
    ]
    places = {"h": (hl, ho), "w": (wl, wo), "s": (sl, so)}
    lat, lon, minute, who, dd = [], [], [], [], []
    for m, f, a, b in plan:
        (al, ao), (bl, bo) = places[a], places[b]
        lat.append(al + (bl - al) * f)
        lon.append(ao + (bo - ao) * f)
        minute.append(np.full(k, m) + rng.integers(-8, 9, k))
        who.append(cust)
        dd.append(day)
    lat, lon, minute, who, dd = (np.concatenate(x) for x in (lat, lon, minute, who, dd))
    accuracy = np.round(rng.gamma(2.0, 6.0, len(lat)), 1)
    lat = lat + rng.normal(0, 1, len(lat)) * accuracy / METRES_PER_DEG_LAT
    lon = lon + rng.normal(0, 1, len(lat)) * accuracy / (METRES_PER_DEG_LAT * 0.64)
    order = np.lexsort((minute, dd, who))
    ts = (
        np.datetime64(pop.start, "m")
        + (dd * 1440 + minute).astype("timedelta64[m]")
        + rng.integers(0, 60, len(lat)).astype("timedelta64[s]")
    )[order]
    device = np.char.add("dev-", np.char.zfill(pop.client_id.astype(str), 8))
    table = pa.table(
        {
            "device_id": device[who[order]],
            "client_id": pop.client_id[who[order]],
            "ts": np.char.add(ts.astype("datetime64[s]").astype(str), "Z"),
            "lat": np.round(lat[order], 6),
            "lon": np.round(lon[order], 6),
            "accuracy": accuracy[order],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, str(path))
    return table.num_rows
