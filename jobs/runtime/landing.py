"""What has landed: feeds, delivery folders, file counts and sizes in onprem/landing/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobs.runtime.config import LakeConfig
from jobs.runtime.zones import Zone, zone_root


@dataclass(frozen=True)
class LandedDelivery:
    feed: str
    delivery: str
    files: int
    bytes: int


def landing_inventory(config: LakeConfig) -> list[LandedDelivery]:
    """One row per landing/<feed>/<delivery>/ folder (local lakes; empty for s3a:// roots)."""
    root = zone_root(config, Zone.LANDING)
    if "://" in root or not Path(root).is_dir():
        return []
    rows = []
    for feed in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for delivery in sorted(p for p in feed.iterdir() if p.is_dir()):
            files = [f for f in delivery.rglob("*") if f.is_file()]
            rows.append(
                LandedDelivery(
                    feed.name, delivery.name, len(files), sum(f.stat().st_size for f in files)
                )
            )
    return rows
