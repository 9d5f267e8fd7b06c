"""`offerlake ingest-public`: land real public datasets in their feeds' folders, then ingest them.

Each layout says which files go to which feed and which format of that feed reads them:

    offerlake ingest-public --berka datasets/berka --tabformer datasets/tabformer
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jobs.errors import ConfigError
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.zones import Side, Zone, zone_root

Rename = Callable[[Path, Path], str]  # (source folder, file) -> name in the delivery folder


def _same_name(_: Path, file: Path) -> str:
    return file.name


def _geolife_name(_: Path, file: Path) -> str:
    """020/Trajectory/20110911000506.plt -> 020_20110911000506.plt (user and track kept)."""
    return f"{file.parent.parent.name}_{file.name}"


def _osm_name(root: Path, file: Path) -> str:
    """visakhapatnam_Kubs-03_POIS/banks.geojson -> visakhapatnam_Kubs-03_POIS__banks.geojson."""
    parts = file.relative_to(root).parts
    return "__".join(parts)


@dataclass(frozen=True)
class PublicLayout:
    """Where a public dataset's files land (feed -> glob patterns) and in which format."""

    feeds: dict[str, tuple[str, ...]]
    formats: dict[str, str]
    rename: Rename = _same_name


LAYOUTS: dict[str, PublicLayout] = {
    "berka": PublicLayout(
        {
            "mainframe": ("account.asc", "disp.asc", "card.asc"),
            "crm": ("client.asc", "district.asc"),
            "transactions": ("trans.asc", "loan.asc", "order.asc"),
        },
        {"mainframe": "berka", "crm": "berka", "transactions": "berka"},
    ),
    "tabformer": PublicLayout(
        {"card_transactions": ("*card_transaction*.csv", "sd254_users.csv", "sd254_cards.csv")},
        {"card_transactions": "tabformer"},
    ),
    "carddemo": PublicLayout(
        {
            "mainframe": (
                "data/EBCDIC/AWS.M2.CARDDEMO.ACCTDATA.PS",
                "data/EBCDIC/AWS.M2.CARDDEMO.CARDDATA.PS",
                "data/EBCDIC/AWS.M2.CARDDEMO.CARDXREF.PS",
                "data/EBCDIC/AWS.M2.CARDDEMO.CUSTDATA.PS",
                "data/EBCDIC/AWS.M2.CARDDEMO.DALYTRAN.PS",
                "cpy/*.cpy",
            )
        },
        {"mainframe": "carddemo"},
    ),
    # the sessions as JSON lines; ga_sessions_20170801.json beside them is a schema dump
    "ga": PublicLayout({"web": ("ga_sessions_*.ndjson.gz",)}, {"web": "ga360"}),
    "geolife": PublicLayout(
        {"location_pings": ("*/Trajectory/*.plt",)}, {"location_pings": "geolife"}, _geolife_name
    ),
    "osm": PublicLayout({"allies": ("**/*.geojson",)}, {"allies": "osm"}, _osm_name),
}


def land(config: LakeConfig, layout: PublicLayout, source: Path, delivery: date) -> int:
    """Copy the layout's files from `source` into landing/<feed>/<delivery>/; how many."""
    if not source.is_dir():
        raise ConfigError(f"{source}: not a folder")
    landing = Path(zone_root(config, Zone.LANDING))
    copied = 0
    for feed, patterns in layout.feeds.items():
        target = landing / feed / delivery.isoformat()
        target.mkdir(parents=True, exist_ok=True)
        for pattern in patterns:
            found = sorted(p for p in source.glob(pattern) if p.is_file())
            if not found:
                raise ConfigError(f"{source}: no file matches {pattern}")
            for file in found:
                shutil.copyfile(file, target / layout.rename(source, file))
                copied += 1
    return copied


def ingest_public(
    config: LakeConfig, sources: dict[str, Path], delivery: date, spark=None
) -> list[JobResult]:
    """Land each named dataset (e.g. {"berka": Path(...)}) and ingest its feeds."""
    from jobs.ingest.run import run

    feeds: list[str] = []
    formats: dict[str, str] = {}
    for name, folder in sources.items():
        layout = LAYOUTS[name]
        land(config, layout, folder, delivery)
        for feed, fmt in layout.formats.items():
            if formats.get(feed, fmt) != fmt:
                raise ConfigError(f"--{name} and another layout both need feed {feed}: run apart")
            formats[feed] = fmt
            feeds.append(feed)
    context = RunContext(config, Side.ONPREM, delivery, _spark=spark)
    return run(context, feeds, formats)
