"""Geofencing on real data: GeoLife GPS tracks replayed as pings, Visakhapatnam's banks as allies.

Both go through ingest (`ingest-public`) and the privacy gate first, as they would in the bank;
each GeoLife user is one customer (their device token), opted in to location. With no CRM to
record that consent, the lake's policy goes without the consent rule (the shipped one would
leave these tracks without coordinates: tests/security/test_location_consent.py).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.geofence.allies import AlliesConfigError, allies
from jobs.geofence.fences import fences
from jobs.geofence.pings import screen
from jobs.geofence.settings import GeofenceSettings
from jobs.geofence.visits import hits, visits
from jobs.ingest.public import ingest_public
from jobs.runtime.config import DEFAULT_CONF_DIR
from tests.lakes import DELIVERY, Lake

STAY_RADIUS_M = 200.0  # a stay: pings within this of its first ping ...
STAY_MINUTES = 20  # ... for at least this long, with no gap longer than the visit gap
FENCE_RADIUS_M = 210.0  # the stay's fence: its radius plus room for sphere vs spheroid
UNION_BANK = ("osm-n1815853642", 17.7233671, 83.3184421)  # a branch in banks.geojson


def without_location_consent(conf: Path) -> Path:
    """A copy of conf/ whose policy keeps GeoLife's coordinates: its users gave their tracks to
    research, and this lake has no CRM to hold that consent (the bank's rule needs a CRM row,
    so the shipped policy leaves a customer-less track without coordinates)."""
    text = (conf / "privacy.yaml").read_text()
    start = text.index("\nconsent:\n")
    end = text.index("\n\n", start + 1)
    copy = Path(tempfile.mkdtemp(prefix="geolife-conf-")) / "conf"
    shutil.copytree(conf, copy)
    (copy / "privacy.yaml").write_text(text[:start] + text[end:])
    return copy


@pytest.fixture(scope="module")
def real_lake(tmp_path_factory, spark, shared_datasets) -> Lake:
    conf = without_location_consent(DEFAULT_CONF_DIR)
    lake = Lake(tmp_path_factory.mktemp("real_geo") / "lake", spark, conf)
    sources = {
        "geolife": shared_datasets / "geolife",
        "osm": shared_datasets / "osm_pois" / "visakhapatnam_Kubs-03_POIS",
    }
    for r in ingest_public(lake.config, sources, DELIVERY, spark=spark):
        assert not r.error and r.reconciled, r
    lake.run("privacy", DELIVERY)
    return lake


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Stay:
    client_id: str
    lat: float
    lon: float
    start: datetime
    end: datetime


def stays(track: list, gap: timedelta) -> list[Stay]:
    """Stay points (Li et al., 2008) of one time-ordered track of (client, ts, lat, lon)."""
    found, i = [], 0
    while i < len(track):
        client, start, lat, lon = track[i]
        j = i + 1
        while (
            j < len(track)
            and track[j][1] - track[j - 1][1] <= gap
            and metres(lat, lon, track[j][2], track[j][3]) <= STAY_RADIUS_M
        ):
            j += 1
        if track[j - 1][1] - start >= timedelta(minutes=STAY_MINUTES):
            found.append(Stay(client, lat, lon, start, track[j - 1][1]))
            i = j
        else:
            i += 1
    return found


def far_apart(candidates: list[Stay], n: int) -> list[Stay]:
    """The n longest stays, each more than 1 km from the ones taken before it."""
    chosen: list[Stay] = []
    for s in sorted(candidates, key=lambda s: s.end - s.start, reverse=True):
        if all(metres(s.lat, s.lon, c.lat, c.lon) > 1_000 for c in chosen):
            chosen.append(s)
        if len(chosen) == n:
            break
    return chosen


def test_geolife_stays_are_visits_with_their_dwell_and_a_planted_jump_is_ignored(real_lake, spark):
    settings = GeofenceSettings()
    pings = real_lake.table("stage/location_pings").select(
        F.col("device_id").alias("client_id"), "ts", "lat", "lon", "accuracy"
    )
    rows = pings.orderBy("client_id", "ts").collect()
    gap = timedelta(minutes=settings.visit_gap_minutes)
    chosen: list[Stay] = []  # each user's three longest stays in different places
    for client in sorted({r.client_id for r in rows}):
        chosen += far_apart(stays([tuple(r)[:4] for r in rows if r.client_id == client], gap), 3)
    chosen.sort(key=lambda s: s.end - s.start, reverse=True)
    assert len(chosen) == 6

    # a jump planted in the middle of the longest stay: one ping 40 km away, then back
    longest = chosen[0]
    jump_at = longest.start + (longest.end - longest.start) / 2
    jump = spark.createDataFrame(
        [(longest.client_id, jump_at, longest.lat + 0.36, longest.lon, None)], pings.schema
    )
    replay = pings.where(
        ~((F.col("client_id") == longest.client_id) & (F.col("ts") == jump_at))
    ).unionByName(jump)

    stay_allies = spark.createDataFrame(
        [
            (
                f"stay-{n}",
                f"stay {n}",
                "cafe",
                5814,
                FENCE_RADIUS_M,
                "OFFER",
                10.0,
                None,
                None,
                f"POINT ({s.lon} {s.lat})",
            )  # fmt: skip
            for n, s in enumerate(chosen)
        ],
        "ally_id string, name string, category string, mcc int, radius_m double, "
        "offer_id string, discount_pct double, offer_valid_from date, offer_valid_to date, "
        "geometry_wkt string",
    )
    good, rejected = fences(stay_allies)
    assert rejected.count() == 0
    customers = pings.select("client_id").distinct().withColumn("opt_in_location", F.lit(True))
    screened = screen(replay, customers, settings).cache()
    reasons = {r.reason: r["count"] for r in screened.groupBy("reason").count().collect()}
    total = sum(reasons.values())
    # real GPS: noise and gaps, but hardly anything a 300 km/h check calls spoofed
    assert reasons.get("spoofed", 0) < 0.001 * total
    planted = screened.where((F.col("client_id") == longest.client_id) & (F.col("ts") == jump_at))
    assert planted.first().reason == "spoofed"

    seen = visits(hits(screened.where("reason IS NULL"), good, broadcast=True), settings)
    by_ally = {}
    for v in seen.collect():
        by_ally.setdefault(v.ally_id, []).append(v)
    for n, s in enumerate(chosen):
        covering = [
            v
            for v in by_ally.get(f"stay-{n}", [])
            if v.client_id == s.client_id and v.entered_at <= s.start and v.left_at >= s.end
        ]
        assert len(covering) == 1, (n, s, by_ally.get(f"stay-{n}"))
        visit = covering[0]
        assert visit.dwell_seconds >= (s.end - s.start).total_seconds()
        assert visit.distance_m <= FENCE_RADIUS_M
    screened.unpersist()


def test_simulate_route_in_visakhapatnam_fires_the_osm_bank_offer(real_lake, capsys):
    """OSM branches carry no offer: conf/allies.yaml's category offer for banks applies."""
    from jobs.cli import main
    from tests.integration.test_geofence import north

    ally_id, lat, lon = UNION_BANK
    bank = real_lake.table("stage/allies").where(F.col("ally_id") == ally_id).first()
    assert bank.offer_id is None and bank.category == "bank"
    route = ["--from", f"{north(lat, -300)},{lon}", "--to", f"{north(lat, 300)},{lon}"]
    base = ["--lake", str(real_lake.root), "simulate-route", "--date", "2026-03-31"]
    assert main([*base, *route, "--speed-kmh", "12"]) == 0
    printed = capsys.readouterr().out
    assert bank.name in printed and "BRANCH-FD-BONUS" in printed

    sea = ["--from", "17.70,83.50", "--to", "17.71,83.50"]  # the Bay of Bengal
    assert main([*base, *sea]) == 0
    assert "no offer fired along the route" in capsys.readouterr().out


def test_conf_allies_replace_the_feeds_and_fill_missing_offers(spark, tmp_path):
    feed = spark.createDataFrame(
        [
            ("a1", "Old name", "bank", 6011, 100.0, None, None, None, None, "POINT (83.3 17.7)"),
            (
                "a2",
                "Bakery",
                "bank",
                6011,
                100.0,
                "OWN",
                5.0,
                date(2020, 1, 1),
                date(2020, 2, 1),
                "POINT (83.4 17.7)",
            ),  # fmt: skip
            ("a3", "Kiosk", "kiosk", 5999, 100.0, None, None, None, None, "POINT (83.5 17.7)"),
        ],
        "ally_id string, name string, category string, mcc int, radius_m double, "
        "offer_id string, discount_pct double, offer_valid_from date, offer_valid_to date, "
        "geometry_wkt string",
    )
    (tmp_path / "allies.yaml").write_text(
        "category_offers:\n  bank: {offer_id: BANK-OFFER, discount_pct: 1, valid_to: 2026-12-31}\n"
        "allies:\n"
        "  - {ally_id: a1, name: New name, category: bank, lat: 17.71, lon: 83.31, radius_m: 50}\n"
        "  - {ally_id: a4, name: Mall, category: mall, wkt: 'POLYGON ((0 0, 1 0, 1 1, 0 0))',\n"
        "     offer: {offer_id: MALL, valid_from: 2026-01-01}}\n"
    )
    got = {r.ally_id: r for r in allies(spark, feed, tmp_path).collect()}
    assert set(got) == {"a1", "a2", "a3", "a4"}
    assert (got["a1"].name, got["a1"].radius_m) == ("New name", 50)
    assert got["a1"].offer_id == "BANK-OFFER"
    assert got["a1"].geometry_wkt == "POINT (83.31 17.71)"
    assert got["a1"].offer_valid_to == date(2026, 12, 31)
    assert (got["a2"].offer_id, got["a2"].offer_valid_to) == ("OWN", date(2020, 2, 1))  # kept
    assert got["a3"].offer_id is None  # no offer for kiosks
    assert (got["a4"].offer_id, got["a4"].offer_valid_from) == ("MALL", date(2026, 1, 1))

    (tmp_path / "allies.yaml").write_text(
        "allies:\n  - {ally_id: a1, name: X, category: bank, lat: 17.7, radius_m: 50}\n"
    )
    with pytest.raises(AlliesConfigError, match=r"allies.yaml: allies.0: .*lat, lon and radius_m"):
        allies(spark, feed, tmp_path)
