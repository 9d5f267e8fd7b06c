"""The lake's zones, which side of the trust boundary owns each, and their paths."""

from __future__ import annotations

import os
from enum import StrEnum

from jobs.errors import ZoneAccessError
from jobs.runtime.config import LakeConfig


class Side(StrEnum):
    """Where a job runs: on the bank's premises (sees identities) or lake side (tokens only)."""

    ONPREM = "onprem"
    LAKE = "lake"


class Zone(StrEnum):
    LANDING = "landing"
    RAW = "raw"
    QUARANTINE = "quarantine"
    VAULT = "vault"
    KEYS = "keys"  # the vault's local key file (key_provider: local)
    DELIVERY = "delivery"
    ERASURE = "erasure"  # the plans of erasures in progress (deleted when each is done)
    STAGE = "stage"
    ANALYTICS = "analytics"
    HANDOFF = "handoff"
    CATALOG = "catalog"  # DDL for analysts' engines (lake/catalog/trino.sql)

    @property
    def side(self) -> Side:
        return Side.LAKE if self in _LAKE_ZONES else Side.ONPREM


_LAKE_ZONES = {Zone.STAGE, Zone.ANALYTICS, Zone.HANDOFF, Zone.CATALOG}

# On-prem jobs may read the lake (the handoff comes back through it); the lake never sees on-prem.
ALLOWED_ZONES: dict[Side, frozenset[Zone]] = {
    Side.ONPREM: frozenset(Zone),
    Side.LAKE: frozenset(_LAKE_ZONES),
}


def zone_root(config: LakeConfig, zone: Zone) -> str:
    """Folder (or s3a:// prefix) of a zone: `<onprem_root>/onprem/raw`, `<lake_root>/lake/stage`."""
    base = config.onprem_root if zone.side is Side.ONPREM else config.lake_root
    return f"{base}/{zone.side.value}/{zone.value}"


def parse_table_ref(ref: str) -> tuple[Zone, str]:
    """`"stage/transactions"` -> (Zone.STAGE, "transactions"), with a clear error otherwise."""
    zone_name, _, table = ref.partition("/")
    try:
        zone = Zone(zone_name)
    except ValueError:
        raise ZoneAccessError(
            f"'{ref}' does not start with a zone; expected one of {[z.value for z in Zone]}"
        ) from None
    if not table:
        raise ZoneAccessError(f"'{ref}' names no table after the zone")
    if table.startswith("/") or ".." in table.split("/") or "\\" in table or ":" in table:
        raise ZoneAccessError(f"'{ref}': a table is a name inside its zone, not a path")
    return zone, table


def _local(path: str) -> str | None:
    """A local path's real location (symlinks and `..` resolved), or None for an object store."""
    if path.startswith("file:"):
        path = path.removeprefix("file:").removeprefix("//")
    elif "://" in path:
        return None
    return os.path.realpath(path)


def confine(config: LakeConfig, side: Side, path: str) -> str:
    """`path` itself, if a `side` job may touch it: a lake-side job gets nothing that is, or
    resolves to (symlinks, `..`, `file:`), a place under the on-prem root."""
    if side is Side.ONPREM:
        return path
    real, onprem = _local(path), _local(f"{config.onprem_root}/{Side.ONPREM.value}")
    if real is not None and onprem is not None and (real + os.sep).startswith(onprem + os.sep):
        raise ZoneAccessError(
            "a lake-side job may not access an on-prem path (it resolves under "
            f"{config.onprem_root}/onprem); only on-prem jobs see on-prem zones"
        )
    return path


def check_access(side: Side, zone: Zone) -> None:
    """Refuse, loudly, a zone the side may not touch (the lake side never sees on-prem data)."""
    if zone not in ALLOWED_ZONES[side]:
        raise ZoneAccessError(
            f"a {side.value}-side job may not access the {zone.value} zone; "
            "only on-prem jobs see on-prem zones"
        )
