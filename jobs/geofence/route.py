"""`offerlake simulate-route`: a customer walks or rides through the city; which offers fire?

The route is street-like: from A it runs in blocks (`block_m`, ~150 m) alternately along the
meridian and the parallel towards B, like a grid of streets, and reports a ping every
`every_s` seconds at `speed_kmh`. The pings go through the same screening, Sedona join, visits
and event rules as the geofence stage (no cooldown from earlier runs), against the lake's
allies (stage/allies and conf/allies.yaml), and nothing is written to the lake. `--html`
draws the route, the fences and the fired events as a self-contained SVG page (no tiles, no
network needed to view it).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.errors import OfferlakeError
from jobs.geofence.events import fire
from jobs.geofence.fences import fences
from jobs.geofence.pings import screen
from jobs.geofence.settings import GeofenceSettings
from jobs.geofence.visits import hits, visits

A, E2 = 6378137.0, 0.00669437999014  # WGS84
SIMULATED = "simulated-customer"


class RouteError(OfferlakeError):
    """The route cannot be simulated: bad coordinates, no allies in the lake."""


def parse_point(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise RouteError(f"{text!r} is not 'lat,lon' (e.g. '17.72,83.30')") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RouteError(f"{text!r} is outside lat -90..90, lon -180..180")
    return lat, lon


def _metres_per_degree(lat: float) -> tuple[float, float]:
    s2 = math.sin(math.radians(lat)) ** 2
    north = A * (1 - E2) / (1 - E2 * s2) ** 1.5
    east = A / math.sqrt(1 - E2 * s2) * math.cos(math.radians(lat))
    return math.radians(1) * north, math.radians(1) * east


@dataclass(frozen=True)
class Route:
    start: tuple[float, float]
    end: tuple[float, float]
    speed_kmh: float = 30.0
    every_s: float = 20.0
    block_m: float = 150.0

    def corners(self) -> list[tuple[float, float]]:
        """The street corners from start to end: a staircase of blocks, north-south first."""
        (lat, lon), (lat2, lon2) = self.start, self.end
        per_lat, per_lon = _metres_per_degree((lat + lat2) / 2)
        dy, dx = (lat2 - lat) * per_lat, (lon2 - lon) * per_lon
        steps = max(1, math.ceil(max(abs(dy), abs(dx)) / self.block_m))
        points = [(lat, lon)]
        for i in range(1, steps + 1):
            points.append((lat + (lat2 - lat) * i / steps, points[-1][1]))
            points.append((points[-1][0], lon + (lon2 - lon) * i / steps))
        return points

    def pings(self, day: date) -> list[tuple[datetime, float, float]]:
        """(time, lat, lon) every `every_s` seconds along the corners, leaving at 08:00."""
        corners = self.corners()
        per_lat, per_lon = _metres_per_degree(corners[0][0])
        legs = [
            (a, b, math.hypot((b[0] - a[0]) * per_lat, (b[1] - a[1]) * per_lon))
            for a, b in zip(corners, corners[1:], strict=False)
        ]
        step = self.speed_kmh / 3.6 * self.every_s
        total = sum(length for *_, length in legs)
        leaving = datetime.combine(day, time(8))
        out, leg, passed = [], 0, 0.0  # passed: metres before the current leg
        for k in range(int(total // step) + 1):
            walked = k * step
            while leg < len(legs) - 1 and walked > passed + legs[leg][2]:
                passed += legs[leg][2]
                leg += 1
            (a_lat, a_lon), (b_lat, b_lon), length = legs[leg]
            f = min(1.0, (walked - passed) / length) if length else 0.0
            clock = leaving + timedelta(seconds=k * self.every_s)
            out.append((clock, a_lat + (b_lat - a_lat) * f, a_lon + (b_lon - a_lon) * f))
        return out


def simulate(
    spark: SparkSession,
    allies: DataFrame,
    customers: DataFrame | None,
    route: Route,
    day: date,
    customer: str,
    settings: GeofenceSettings,
) -> tuple[list[tuple[datetime, float, float]], DataFrame, list]:
    """(the pings, the usable fences, the fired events in time order)."""
    track = route.pings(day)
    pings = spark.createDataFrame(
        [(customer, t, lat, lon, 5.0) for t, lat, lon in track],
        "client_id string, ts timestamp, lat double, lon double, accuracy double",
    )
    if customers is None:
        customers = spark.createDataFrame(
            [(customer, True)], "client_id string, opt_in_location boolean"
        )
    good, _ = fences(allies)
    good = good.cache()
    if good.count() == 0:
        raise RouteError(
            "no usable allies in stage/allies or conf/allies.yaml: run ingest and privacy"
        )
    screened = screen(pings, customers, settings)
    found = hits(screened.where(F.col("reason").isNull()), good, broadcast=True)
    outcomes = fire(visits(found, settings), None, day, settings)
    fired = outcomes.where("outcome = 'fired'").orderBy("entered_at", "ally_id").collect()
    return track, good, fired


def svg_page(track, fence_rows, fired, title: str) -> str:
    """A self-contained HTML page: fences (grey), route (blue), fired events (red, numbered)."""
    lats = [p[1] for p in track] + [f["lat"] for f in fence_rows]
    lons = [p[2] for p in track] + [f["lon"] for f in fence_rows]
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    per_lat, per_lon = _metres_per_degree((south + north) / 2)
    pad = 0.05 * max((north - south) * per_lat, (east - west) * per_lon, 200)
    width_m = (east - west) * per_lon + 2 * pad
    height_m = (north - south) * per_lat + 2 * pad
    scale = 900 / max(width_m, height_m)

    def xy(lat, lon):
        return ((lon - west) * per_lon + pad) * scale, ((north - lat) * per_lat + pad) * scale

    parts = []
    for f in fence_rows:
        x, y = xy(f["lat"], f["lon"])
        label = html.escape(f"{f['name']} ({f['category']})")
        if f["radius_m"]:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{f["radius_m"] * scale:.1f}" '
                         f'class="fence"><title>{label}</title></circle>')  # fmt: skip
        else:
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(la, lo) for lo, la in f["ring"]))
            parts.append(
                f'<polygon points="{points}" class="fence"><title>{label}</title></polygon>'
            )
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(p[1], p[2]) for p in track))
    parts.append(f'<polyline points="{line}" class="route"/>')
    for n, e in enumerate(fired, 1):
        x, y = xy(e.ping_lat, e.ping_lon)
        label = html.escape(f"{n}. {e.entered_at:%H:%M:%S} {e.name}: offer {e.offer_id}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" class="event"><title>{label}</title>'
                     f'</circle><text x="{x + 8:.1f}" y="{y - 8:.1f}">{n}</text>')  # fmt: skip
    size = f'viewBox="0 0 {width_m * scale:.0f} {height_m * scale:.0f}"'
    items = "".join(
        f"<li>{e.entered_at:%H:%M:%S} {html.escape(e.name)} ({html.escape(e.category)}): "
        f"{html.escape(str(e.offer_id))}, {e.distance_m:.0f} m from the store</li>"
        for e in fired
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} svg{{border:1px solid #ccc;max-width:100%}}
.fence{{fill:#999;fill-opacity:.25;stroke:#666}} .route{{fill:none;stroke:#1565c0;stroke-width:3}}
.event{{fill:#d32f2f}} text{{font-size:14px;fill:#d32f2f}}</style></head>
<body><h1>{html.escape(title)}</h1>
<svg xmlns="http://www.w3.org/2000/svg" {size}>{"".join(parts)}</svg>
<ol>{items}</ol></body></html>
"""


def fence_shapes(good: DataFrame, near: list[tuple[datetime, float, float]]) -> list[dict]:
    """The fences within 2 km of the route, with a centre and (polygons) their outer ring."""
    lats = [p[1] for p in near]
    lons = [p[2] for p in near]
    box = F.expr(
        f"ST_Intersects(geom, ST_Buffer(ST_PolygonFromEnvelope({min(lons)}, {min(lats)}, "
        f"{max(lons)}, {max(lats)}), 0.02))"
    )
    rows = (
        good.where(box)
        .select(
            "name",
            "category",
            "radius_m",
            F.expr("ST_Y(centre)").alias("lat"),
            F.expr("ST_X(centre)").alias("lon"),
            F.when(
                F.col("kind") == "polygon",
                F.expr("ST_AsText(ST_ExteriorRing(ST_GeometryN(geom, 0)))"),
            ).alias("ring_wkt"),
        )
        .collect()
    )
    shapes = []
    for r in rows:
        ring = []
        if r.ring_wkt:
            body = r.ring_wkt[r.ring_wkt.index("(") + 1 : r.ring_wkt.rindex(")")]
            ring = [tuple(float(v) for v in pair.split()) for pair in body.split(",")]
        shapes.append({**r.asDict(), "ring": ring})
    return shapes
