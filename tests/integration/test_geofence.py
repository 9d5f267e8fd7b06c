"""The geofence stage on hand-made geometries with known answers (Visakhapatnam coordinates).

Offsets in metres are turned into degrees with the WGS84 radii of curvature at the fence's
latitude, so "1 m outside" is 1 m on the ellipsoid, the way Sedona's spheroid distance sees it.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.geofence.fences import fences
from jobs.geofence.settings import GeofenceSettings
from jobs.geofence.visits import hits
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Side
from tests.lakes import Lake

DAY = date(2026, 3, 10)
A, E2 = 6378137.0, 0.00669437999014  # WGS84


def north(lat: float, metres: float) -> float:
    """Latitude `metres` north of lat (meridian radius of curvature)."""
    s2 = math.sin(math.radians(lat)) ** 2
    m = A * (1 - E2) / (1 - E2 * s2) ** 1.5
    return lat + math.degrees(metres / m)


def east(lat: float, lon: float, metres: float) -> float:
    """Longitude `metres` east of lon at latitude lat (prime vertical radius)."""
    n = A / math.sqrt(1 - E2 * math.sin(math.radians(lat)) ** 2)
    return lon + math.degrees(metres / (n * math.cos(math.radians(lat))))


CAFE = (17.7200, 83.3000)  # a point store, 100 m radius
MALL = ((17.7300, 83.3100), (17.7310, 83.3110))  # a square polygon: (south, west), (north, east)
BOWTIE = "POLYGON ((83.32 17.74, 83.321 17.741, 83.321 17.74, 83.32 17.741, 83.32 17.74))"
FUEL = (17.7500, 83.3300)  # a point store whose offer is over
BAKERY = (17.7600, 83.3400)
AWAY = (17.7000, 83.2800)  # no fence near

ALLY_SCHEMA = (
    "ally_id string, name string, category string, mcc int, radius_m double, offer_id string, "
    "discount_pct double, offer_valid_from date, offer_valid_to date, geometry_wkt string"
)


def ally(ally_id, wkt, radius=None, valid_to=date(2026, 12, 31), category="coffee"):
    return (ally_id, ally_id, category, 5814, radius, f"off-{ally_id}", 10.0, date(2026, 1, 1),
            valid_to, wkt)  # fmt: skip


def point(lat, lon):
    return f"POINT ({lon} {lat})"


def square(south_west, north_east):
    (s, w), (n, e) = south_west, north_east
    return f"POLYGON (({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"


ALLIES = [
    ally("cafe", point(*CAFE), 100.0),
    ally("mall", square(*MALL), category="mall"),
    ally("bowtie", BOWTIE, category="kiosk"),
    ally("fuel", point(*FUEL), 150.0, valid_to=date(2026, 3, 1), category="fuel"),
    ally("bakery", point(*BAKERY), 50.0, category="bakery"),
    ally("no_radius", point(17.8, 83.4)),
    ally("line", "LINESTRING (83.3 17.7, 83.31 17.71)"),
    ally("nothing", None),
]


def at(hour, minute=0, day=DAY):
    return datetime(day.year, day.month, day.day, hour, minute)


(s, w), (n, e) = MALL
PINGS = [
    # (client, ts, lat, lon, accuracy)
    ("c_centre", at(9), *CAFE, 10.0),
    ("c_99m_north", at(9), north(CAFE[0], 99), CAFE[1], 10.0),
    ("c_101m_north", at(9), north(CAFE[0], 101), CAFE[1], 10.0),
    ("c_99m_east", at(9), CAFE[0], east(CAFE[0], CAFE[1], 99), 10.0),
    ("c_101m_east", at(9), CAFE[0], east(CAFE[0], CAFE[1], 101), 10.0),
    ("c_mall_inside", at(9), (s + n) / 2, (w + e) / 2, 10.0),
    ("c_mall_edge", at(9), n, (w + e) / 2, 10.0),
    ("c_mall_1m_out", at(9), north(n, 1), (w + e) / 2, 10.0),
    ("c_bowtie", at(9), 17.7405, 83.3202, 10.0),  # in the left triangle of the repaired bow tie
    ("c_no_consent", at(9), *CAFE, 10.0),
    ("c_inaccurate", at(9), *CAFE, 500.0),
    ("c_bad_coordinates", at(9), 95.0, CAFE[1], 10.0),
    ("c_fuel", at(9), *FUEL, 10.0),
    # dwell: three pings at the cafe, one away, one back (arriving out of time order, with a
    # duplicate): visit 1 lasts 10 minutes; visit 2 is held by the cooldown
    ("c_dwell", at(10, 20), *CAFE, 10.0),
    ("c_dwell", at(10, 10), *CAFE, 10.0),
    ("c_dwell", at(10, 0), *CAFE, 10.0),
    ("c_dwell", at(10, 5), *CAFE, 10.0),
    ("c_dwell", at(10, 5), *CAFE, 10.0),
    ("c_dwell", at(10, 15), *AWAY, 10.0),
    # spoofing: a jump from far away to the cafe and straight back, one minute each way
    ("c_spoof", at(11, 0), 18.2, 83.9, 10.0),
    ("c_spoof", at(11, 1), *CAFE, 10.0),
    ("c_spoof", at(11, 2), 18.2, 83.9, 10.0),
    # daily cap: four live allies in one day, an hour apart: the fourth is over the cap of 3
    ("c_cap", at(12), *CAFE, 10.0),
    ("c_cap", at(13), (s + n) / 2, (w + e) / 2, 10.0),
    ("c_cap", at(14), 17.7405, 83.3202, 10.0),
    ("c_cap", at(15), *BAKERY, 10.0),
    # cooldown across runs: an event the day before at 12:00, visits at 08:00 and 13:00 today
    ("c_cool", at(12, day=DAY - timedelta(days=1)), *CAFE, 10.0),
    ("c_cool", at(12, 30, day=DAY - timedelta(days=1)), *BAKERY, 10.0),
    ("c_cool", at(8), *CAFE, 10.0),
    ("c_cool", at(9), *BAKERY, 10.0),
    ("c_cool", at(13), *CAFE, 10.0),
]
CLIENTS = sorted({p[0] for p in PINGS})


@pytest.fixture(scope="module")
def geo_lake(spark, tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("geo") / "lake", spark)
    ctx = RunContext(lake.config, Side.LAKE, DAY, _spark=spark)
    ctx.write("stage/allies", spark.createDataFrame(ALLIES, ALLY_SCHEMA))
    ctx.write(
        "stage/location_pings",
        spark.createDataFrame(
            PINGS, "client_id string, ts timestamp, lat double, lon double, accuracy double"
        ),
    )
    ctx.write(
        "stage/crm_clients",
        spark.createDataFrame(
            [(c, c != "c_no_consent") for c in CLIENTS], "client_id string, opt_in_location boolean"
        ),
    )
    lake.run("geofence", DAY - timedelta(days=1))
    lake.results = lake.run("geofence", DAY)
    return lake


def events(lake: Lake, day: date = DAY) -> dict[str, list]:
    found: dict[str, list] = {}
    for r in lake.table("analytics/geo_events").where(F.col("event_date") == day).collect():
        found.setdefault(r.client_id, []).append(r)
    return found


def test_circles_measure_metres_on_the_ellipsoid(geo_lake):
    fired = events(geo_lake)
    assert {"c_centre", "c_99m_north", "c_99m_east"} <= fired.keys()
    assert not {"c_101m_north", "c_101m_east"} & fired.keys()
    assert fired["c_99m_north"][0].distance_m == pytest.approx(99, abs=0.01)
    assert fired["c_99m_east"][0].distance_m == pytest.approx(99, abs=0.01)


def test_polygons_count_their_edge_and_a_bow_tie_is_repaired(geo_lake):
    fired = events(geo_lake)
    assert fired["c_mall_inside"][0].ally_id == "mall"
    assert fired["c_mall_edge"][0].ally_id == "mall"
    assert "c_mall_1m_out" not in fired
    assert fired["c_bowtie"][0].ally_id == "bowtie"
    assert "1 repaired" in geo_lake.results["analytics/geo_events"].notes[0]


def test_consent_accuracy_and_offer_window_decide(geo_lake):
    fired = events(geo_lake)
    assert not {"c_no_consent", "c_inaccurate", "c_bad_coordinates", "c_fuel"} & fired.keys()
    rejects = {
        (r.kind, r.client_id or r.ally_id): r.reason
        for r in geo_lake.table("analytics/geo_rejects").where(F.col("event_date") == DAY).collect()
    }
    assert rejects[("ping", "c_no_consent")] == "no_consent"
    assert rejects[("ping", "c_inaccurate")] == "inaccurate"
    assert rejects[("ping", "c_bad_coordinates")] == "invalid_coordinates"
    assert rejects[("ping", "c_dwell")] == "duplicate_ping"
    assert rejects[("fence", "no_radius")] == "point_without_radius"
    assert rejects[("fence", "line")] == "unsupported_geometry"
    assert rejects[("fence", "nothing")] == "null_geometry"
    assert "offer_not_live 1" in geo_lake.results["analytics/geo_events"].notes[1]


def test_consecutive_pings_are_one_visit_with_its_dwell(geo_lake):
    (visit,) = events(geo_lake)["c_dwell"]
    assert (visit.entered_at, visit.dwell_seconds, visit.pings) == (at(10), 600, 3)
    assert visit.ping == f"POINT ({CAFE[1]} {CAFE[0]})"


def test_a_spoofed_jump_is_ignored(geo_lake):
    assert "c_spoof" not in events(geo_lake)
    rejects = geo_lake.table("analytics/geo_rejects").where("client_id = 'c_spoof'").collect()
    assert [r.reason for r in rejects] == ["spoofed"]


def test_cooldown_spans_runs_and_the_daily_cap_holds(geo_lake):
    fired = events(geo_lake)
    # 08:00 is 20 h after yesterday's cafe event, the bakery at 09:00 20.5 h after its own
    assert [(r.ally_id, r.entered_at) for r in fired["c_cool"]] == [("cafe", at(13))]
    assert sorted(r.ally_id for r in fired["c_cap"]) == ["bowtie", "cafe", "mall"]
    notes = geo_lake.results["analytics/geo_events"].notes[1]
    assert "daily_cap 1" in notes and "cooldown 3" in notes
    assert geo_lake.results["analytics/geo_events"].reconciled


def test_rerunning_a_day_gives_the_same_events(geo_lake):
    before = geo_lake.table("analytics/geo_events")
    before = before.sparkSession.createDataFrame(before.collect(), before.schema)
    geo_lake.run("geofence", DAY)
    assert_df_equality(
        geo_lake.table("analytics/geo_events"), before, ignore_row_order=True, ignore_nullable=True
    )


@pytest.mark.parametrize("broadcast, operator", [(True, "BroadcastIndexJoin"), (False, "Join")])
def test_sedona_plans_an_indexed_spatial_join_either_way(geo_lake, broadcast, operator):
    ctx = RunContext(geo_lake.config, Side.LAKE, DAY, _spark=geo_lake.spark)
    good, _ = fences(ctx.read("stage/allies"))
    pings = ctx.read("stage/location_pings").withColumn("seq", F.lit(1))
    found = hits(pings, good, broadcast)
    plan = found._jdf.queryExecution().executedPlan().toString()
    assert operator in plan and "CartesianProduct" not in plan and "BroadcastNestedLoop" not in plan
    if not broadcast:
        assert "RangeJoin" in plan
    assert found.count() == 24  # every ping inside a usable fence, screened or not


def test_settings_refuse_a_wrong_value(tmp_path):
    (tmp_path / "geofence.yaml").write_text("cooldown_hours: -1\n")
    with pytest.raises(Exception, match="cooldown_hours must be a positive number"):
        GeofenceSettings.load(tmp_path)


def test_the_generated_city_fires_offers_at_its_allies(gated, tmp_path):
    """The small bank's opted-in customers shop at allies on their way home: events fire, only
    for opted-in customers, inside each fence, while the ally's offer is live."""
    from tests.lakes import SMALL_BANK, copy_lake

    lake = copy_lake(gated[0], tmp_path)
    day = SMALL_BANK.delivery_date
    results = lake.run("geofence", day)
    fired = lake.table("analytics/geo_events")
    assert results["analytics/geo_events"].rows_written == fired.count() > 0
    consent = lake.table("stage/crm_clients").select("client_id", "opt_in_location")
    assert fired.join(consent, "client_id").where("NOT opt_in_location").count() == 0
    circles = fired.where("kind = 'circle'").join(
        lake.table("stage/allies").select("ally_id", F.col("radius_m").alias("r")), "ally_id"
    )
    assert circles.where("distance_m > r").count() == 0
    assert (
        fired.where(
            (F.to_date("entered_at") < F.col("offer_valid_from"))
            | (F.to_date("entered_at") > F.col("offer_valid_to"))
        ).count()
        == 0
    )
    per_day = fired.groupBy("client_id").count().agg(F.max("count")).first()[0]
    assert per_day <= GeofenceSettings().max_events_per_customer_per_day


def test_simulate_route_fires_near_a_store_and_not_far_from_stores(gated, tmp_path, capsys):
    from jobs.cli import main
    from tests.lakes import SMALL_BANK

    lake = gated[0]
    day = SMALL_BANK.delivery_date.isoformat()
    store = (
        lake.table("stage/allies")
        .where("geometry_type = 'ST_Point' AND offer_id IS NOT NULL")
        .orderBy("ally_id")
        .first()
    )
    lon, lat = (float(v) for v in store.geometry_wkt[7:-1].split())
    near = ["--from", f"{north(lat, -300)},{lon}", "--to", f"{north(lat, 300)},{lon}"]
    page = tmp_path / "route.html"
    args = ["--lake", str(lake.root), "simulate-route", *near, "--date", day]
    assert main([*args, "--speed-kmh", "12", "--html", str(page)]) == 0
    printed = capsys.readouterr().out
    assert store.name in printed and store.offer_id in printed
    html = page.read_text()
    assert "<svg" in html and "<polyline" in html and store.offer_id in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no network

    far = ["--from", f"{lat + 1},{lon + 1}", "--to", f"{lat + 1.01},{lon + 1}"]
    assert main(["--lake", str(lake.root), "simulate-route", *far, "--date", day]) == 0
    assert "no offer fired along the route" in capsys.readouterr().out
