"""conf/geofence.yaml: accuracy, speed, visit gap, cooldown, daily cap, join strategy, and whether
the geo_offers DAG also runs hourly."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from jobs.errors import OfferlakeError


class GeofenceConfigError(OfferlakeError):
    """conf/geofence.yaml is missing a setting or holds a wrong value."""


@dataclass(frozen=True)
class GeofenceSettings:
    max_accuracy_m: float = 100.0
    max_speed_kmh: float = 300.0
    visit_gap_minutes: float = 30.0
    cooldown_hours: float = 24.0
    max_events_per_customer_per_day: int = 3
    broadcast_max_fences: int = 20_000
    categories: tuple[str, ...] = ()  # store categories campaigns may trigger on (dsl checker)
    hourly: bool = True  # geo_offers also runs every hour for the day so far, not only on stage

    @classmethod
    def load(cls, conf_dir: Path) -> GeofenceSettings:
        path = conf_dir / "geofence.yaml"
        doc = yaml.safe_load(path.read_text()) if path.is_file() else {}
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(doc) - set(known))
        if unknown:
            raise GeofenceConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        values = {}
        categories = doc.pop("categories", [])
        hourly = doc.pop("hourly", True)
        if not isinstance(hourly, bool):
            raise GeofenceConfigError(f"{path}: hourly must be true or false, not {hourly!r}")
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise GeofenceConfigError(f"{path}: categories must be a list of category names")
        for name, value in doc.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise GeofenceConfigError(
                    f"{path}: {name} must be a positive number, not {value!r}"
                )
            values[name] = int(value) if known[name] == "int" else float(value)
        return cls(**values, categories=tuple(categories), hourly=hourly)
