"""Benchmark: the geofence join, 10 million pings x 10,000 geofences, Sedona and its peers.

    .venv/bin/python -m bench.geofence [--pings 10000000] [--fences 10000] [--sample 0.01]

Pings are spread uniformly over a 16 km square city; half the fences are 33-point circles
(30-150 m), half small convex polygons. Sedona runs the geofence stage's own join
(`jobs.geofence.visits.hits`, fences from `jobs.geofence.fences`), broadcast as the stage does
for this many fences and, for scale, spatially partitioned. In the same run, in their own
process (bench/geofence_peers.py): DuckDB's spatial extension, GeoPandas `sjoin` (STRtree) and a
naive every-ping-against-every-fence loop on a sample. All must find the same (ping, fence)
hits: the bench stops with the differences otherwise. Writes bench/results/geofence.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from jobs.geofence.fences import fences as fences_of
from jobs.geofence.visits import hits
from jobs.runtime.config import LakeConfig
from jobs.runtime.spark import build_spark

ROOT = Path(__file__).parent
RESULTS = ROOT / "results"
PEERS = ROOT / ".peers"
PEER_PACKAGES = ["duckdb==1.5.5", "duckdb-extension-spatial==1.5.5", "geopandas==1.2.0"]
CENTRE = (48.2082, 16.3738)  # lat, lon
HALF_SIDE_M = 8_000
M_PER_DEG = 111_320.0


def ensure_peers() -> None:
    if (PEERS / "duckdb_extension_spatial").is_dir() and (PEERS / "geopandas").is_dir():
        return
    uv = Path(sys.executable).parent / "uv"
    command = [str(uv), "pip", "install", "-q", "--target", str(PEERS), *PEER_PACKAGES]
    subprocess.run(command, check=True)


def _ring(lat: float, lon: float, radii: np.ndarray, angles: np.ndarray) -> str:
    dlat = radii * np.sin(angles) / M_PER_DEG
    dlon = radii * np.cos(angles) / (M_PER_DEG * math.cos(math.radians(lat)))
    points = [f"{lon + x:.7f} {lat + y:.7f}" for x, y in zip(dlon, dlat, strict=True)]
    return f"POLYGON(({', '.join([*points, points[0]])}))"


def make_data(out: Path, n_pings: int, n_fences: int, seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    lat0, lon0 = CENTRE
    span_lat = HALF_SIDE_M / M_PER_DEG
    span_lon = HALF_SIDE_M / (M_PER_DEG * math.cos(math.radians(lat0)))
    pings = pa.table(
        {
            "ping_id": np.arange(n_pings, dtype=np.int64),
            "lat": rng.uniform(lat0 - span_lat, lat0 + span_lat, n_pings),
            "lon": rng.uniform(lon0 - span_lon, lon0 + span_lon, n_pings),
        }
    )
    pq.write_table(pings, out / "pings.parquet", row_group_size=1_000_000)
    lats = rng.uniform(lat0 - span_lat, lat0 + span_lat, n_fences)
    lons = rng.uniform(lon0 - span_lon, lon0 + span_lon, n_fences)
    wkts, kinds = [], []
    for i in range(n_fences):
        radius = rng.uniform(30, 150)
        if i % 2 == 0:
            angles = np.linspace(0, 2 * math.pi, 32, endpoint=False)
            kinds.append("circle")
        else:
            angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(5, 10))))
            kinds.append("polygon")
        wkts.append(_ring(lats[i], lons[i], np.full(len(angles), radius), angles))
    fences = pa.table({"fence_id": np.arange(n_fences, dtype=np.int64), "kind": kinds, "wkt": wkts})
    pq.write_table(fences, out / "fences.parquet")


def sedona(spark, data: Path, broadcast: bool) -> tuple[float, int]:
    pings = spark.read.parquet(str(data / "pings.parquet")).select(
        F.lit("bench").alias("client_id"),
        F.col("ping_id").alias("seq"),
        F.current_timestamp().alias("ts"),
        "lat",
        "lon",
    )
    allies = spark.read.parquet(str(data / "fences.parquet")).select(
        F.col("fence_id").alias("ally_id"),
        *[F.lit(None).cast("string").alias(c) for c in ("name", "category", "mcc", "offer_id")],
        F.lit(None).cast("double").alias("discount_pct"),
        *[F.lit(None).cast("date").alias(c) for c in ("offer_valid_from", "offer_valid_to")],
        F.col("wkt").alias("geometry_wkt"),
        F.lit(None).cast("double").alias("radius_m"),
    )
    fences, rejected = fences_of(allies)
    fences = fences.cache()
    assert rejected.count() == 0 and fences.count() > 0
    name = "broadcast" if broadcast else "partitioned"
    started = time.perf_counter()
    found = hits(pings, fences, broadcast).select(
        F.col("seq").alias("ping_id"), F.col("ally_id").alias("fence_id")
    )
    found.write.mode("overwrite").parquet(str(data / f"hits_sedona_{name}"))
    seconds = time.perf_counter() - started
    fences.unpersist()
    return seconds, spark.read.parquet(str(data / f"hits_sedona_{name}")).count()


def compare(data: Path, step: int) -> tuple[dict[str, int], dict[str, int]]:
    """Hits per peer, and each peer's hits (the naive loop: on its sample) minus Sedona's and
    the reverse."""
    con = duckdb.connect()
    base = f"'{data}/hits_sedona_broadcast/*.parquet'"
    sources = {
        "sedona_partitioned": (f"'{data}/hits_sedona_partitioned/*.parquet'", base),
        "duckdb": (f"'{data}/hits_duckdb.parquet'", base),
        "geopandas": (f"'{data}/hits_geopandas.parquet'", base),
        "naive": (
            f"'{data}/hits_naive.parquet'",
            f"(SELECT * FROM {base} WHERE ping_id % {step} = 0)",
        ),
    }
    differences, counts = {}, {}
    for peer, (theirs, ours) in sources.items():
        counts[peer] = con.execute(f"SELECT count(*) FROM {theirs}").fetchone()[0]
        for a, b, label in ((theirs, ours, "extra"), (ours, theirs, "missing")):
            sql = f"SELECT count(*) FROM (SELECT ping_id, fence_id FROM {a} EXCEPT "
            sql += f"SELECT ping_id, fence_id FROM {b})"
            differences[f"{peer}_{label}"] = con.execute(sql).fetchone()[0]
    return counts, differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=10_000_000)
    parser.add_argument("--fences", type=int, default=10_000)
    parser.add_argument("--sample", type=float, default=0.01, help="naive loop's ping sample")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "geofence")
    args = parser.parse_args()
    ensure_peers()
    args.data.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    make_data(args.data, args.pings, args.fences)
    generated = time.perf_counter() - started

    spark = build_spark(LakeConfig.load(lake=str(args.data / "lake")))
    broadcast_s, n_hits = sedona(spark, args.data, broadcast=True)
    partitioned_s, n_partitioned = sedona(spark, args.data, broadcast=False)
    spark.stop()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PEERS), str(ROOT.parent)]))
    run = subprocess.run(
        [sys.executable, "-m", "bench.geofence_peers", str(args.data), str(args.sample)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    peers = json.loads(run.stdout.strip().splitlines()[-1])
    step = round(1 / args.sample)
    counts, differences = compare(args.data, step)

    rows = [
        ("Sedona, broadcast index join (the stage's choice)", broadcast_s, args.pings, n_hits),
        ("Sedona, spatially partitioned join", partitioned_s, args.pings, n_partitioned),
        ("peer: DuckDB 1.5.5 spatial", peers["duckdb_seconds"], args.pings, counts["duckdb"]),
        ("peer: GeoPandas 1.2 sjoin", peers["geopandas_seconds"], args.pings, counts["geopandas"]),
        ("naive: all fences x sample", peers["naive_seconds"], args.pings // step, counts["naive"]),
    ]
    table = Table(title=f"geofence join: {args.pings:,} pings x {args.fences:,} fences")
    for column in ("engine", "pings", "seconds", "pings/s", "hits"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for engine, seconds, pings, found in rows:
        table.add_row(
            engine,
            f"{pings:,}",
            f"{seconds:.1f}",
            f"{pings / seconds:,.0f}",
            f"{found:,}",
        )
    Console().print(table)
    figures = {
        "pings": args.pings,
        "fences": args.fences,
        "generate_seconds": round(generated, 1),
        "hits": n_hits,
        "sedona_broadcast_seconds": round(broadcast_s, 1),
        "sedona_partitioned_seconds": round(partitioned_s, 1),
        **{k: round(v, 1) for k, v in peers.items()},
        "naive_sample_pings": args.pings // step,
        "naive_projected_seconds": round(peers["naive_seconds"] * step, 1),
        "differences": differences,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "geofence.json").write_text(json.dumps(figures, indent=2))
    if any(differences.values()):
        raise SystemExit(f"the engines disagree on hits: {differences}")
    print(f"all engines found the same {n_hits:,} hits")


if __name__ == "__main__":
    main()
