"""The lake's zones, which side of the trust boundary owns each, and their paths."""

from __future__ import annotations

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
    return zone, table


def check_access(side: Side, zone: Zone) -> None:
    """Refuse, loudly, a zone the side may not touch (the lake side never sees on-prem data)."""
    if zone not in ALLOWED_ZONES[side]:
        raise ZoneAccessError(
            f"a {side.value}-side job may not access the {zone.value} zone; "
            "only on-prem jobs see on-prem zones"
        )
