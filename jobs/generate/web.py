"""Web analytics: Google Analytics 360 nested JSON sessions (daily gzip files) + visitor map."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np

from jobs.generate.population import P, Population

PAGES = [
    "/",
    "/accounts",
    "/cards",
    "/payments",
    "/loans/car",
    "/loans/mortgage",
    "/insurance/travel",
    "/cards/travel",
    "/savings/kids",
    "/investments",
    "/offers",
    "/branches",
]
INTEREST = {  # persona -> pages it visits more often
    P["car_intender"]: ["/loans/car", "/loans/car", "/investments"],
    P["frequent_traveller"]: ["/insurance/travel", "/cards/travel"],
    P["young_family"]: ["/savings/kids", "/loans/mortgage"],
}
SOURCES = [
    ("google", "organic"),
    ("(direct)", "(none)"),
    ("newsletter", "email"),
    ("facebook.com", "referral"),
    ("bank-app", "app"),
]
DEVICES = [
    ("Chrome", "Android", True, "mobile"),
    ("Safari", "iOS", True, "mobile"),
    ("Chrome", "Windows", False, "desktop"),
    ("Firefox", "Linux", False, "desktop"),
    ("Safari", "Macintosh", False, "desktop"),
]
HOST = "ib.offerlake-bank.cz"


def _hits(rng: np.random.Generator, persona: int, count: int) -> list[dict]:
    pages = PAGES + INTEREST.get(persona, [])
    hits, t = [], 0
    for number in range(1, count + 1):
        path = pages[rng.integers(0, len(pages))]
        hit = {
            "hitNumber": number,
            "time": t,
            "type": "PAGE",
            "page": {
                "pagePath": path,
                "hostname": HOST,
                "pageTitle": path.strip("/").replace("/", " ").title() or "Home",
            },
        }
        if path.startswith(("/loans", "/offers")) and rng.random() < 0.3:
            hit["type"] = "EVENT"
            hit["eventInfo"] = {
                "eventCategory": "calculator",
                "eventAction": "open",
                "eventLabel": path,
            }
        hits.append(hit)
        t += int(rng.integers(4_000, 90_000))
    return hits


def write_web(
    pop: Population, folder: Path, seed: int, bank_seed: int | None = None
) -> tuple[int, int]:
    """Daily files ga_sessions_YYYYMMDD.json.gz; visitor_map.csv links visitors to clients.
    A continued day (bank_seed: the bank's own seed) keeps the customers' visitor ids."""
    rng = np.random.default_rng([seed, 7])
    users = np.flatnonzero(pop.web_user)
    ids = rng if bank_seed is None else np.random.default_rng([bank_seed, 7])
    visitor_ids = ids.integers(10**18, 9 * 10**18, pop.size, dtype=np.int64).astype(str)
    count = rng.poisson(pop.days / 30, len(users))
    cust = np.repeat(users, count)
    # one session in ten comes from a visitor the bank cannot link to a client
    anonymous = rng.random(len(cust)) < 0.1
    day = rng.integers(0, pop.days, len(cust))
    second = rng.integers(6 * 3600, 23 * 3600, len(cust))
    order = np.lexsort((second, day))
    start_epoch = int(np.datetime64(pop.start, "s").astype(np.int64))
    folder.mkdir(parents=True, exist_ok=True)
    visit_number: dict[str, int] = {}
    sessions = 0
    for d in np.unique(day):
        rows = order[day[order] == d]
        date = str(np.datetime64(pop.start, "D") + int(d)).replace("-", "")
        target = folder / f"ga_sessions_{date}.json.gz"
        # mtime=0 and no file name in the header: the same seed gives byte-identical files
        with (
            target.open("wb") as raw,
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=1, mtime=0) as packed,
            io.TextIOWrapper(packed, encoding="utf-8") as out,
        ):
            for r in rows:
                c = int(cust[r])
                visitor = str(rng.integers(10**18, 9 * 10**18)) if anonymous[r] else visitor_ids[c]
                visit_number[visitor] = visit_number.get(visitor, 0) + 1
                start = start_epoch + int(d) * 86400 + int(second[r])
                hits = _hits(rng, int(pop.persona[c]), int(rng.integers(1, 9)))
                source, medium = SOURCES[rng.integers(0, len(SOURCES))]
                browser, system, mobile, category = DEVICES[rng.integers(0, len(DEVICES))]
                session = {
                    "fullVisitorId": visitor,
                    "visitId": start,
                    "visitNumber": visit_number[visitor],
                    "visitStartTime": start,
                    "date": date,
                    # GA 360 exports the totals as strings
                    "totals": {
                        "visits": "1",
                        "hits": str(len(hits)),
                        "pageviews": str(sum(h["type"] == "PAGE" for h in hits)),
                        "timeOnSite": str(hits[-1]["time"] // 1000 + 10),
                        "bounces": "1" if len(hits) == 1 else None,
                        "newVisits": "1" if visit_number[visitor] == 1 else None,
                    },
                    "trafficSource": {"source": source, "medium": medium, "campaign": "(not set)"},
                    "device": {
                        "browser": browser,
                        "operatingSystem": system,
                        "isMobile": mobile,
                        "deviceCategory": category,
                    },
                    "geoNetwork": {"continent": "Europe", "country": "Czechia", "city": "Prague"},
                    "hits": hits,
                }
                out.write(json.dumps(session, separators=(",", ":")) + "\n")
                sessions += 1
    with (folder / "visitor_map.csv").open("w") as out:
        out.write("fullVisitorId,client_id\n")
        for c in users:
            out.write(f"{visitor_ids[c]},{pop.client_id[c]}\n")
    return sessions, len(users)
