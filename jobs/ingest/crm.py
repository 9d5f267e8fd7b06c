"""Feed `crm`: CRM clients from JSON lines (or Berka `client.asc` + `district.asc`) into raw."""

from __future__ import annotations

from jobs.ingest.engine import Refine

# table -> this feed's own step on typed rows, between typing and the quarantine split
REFINE: dict[str, Refine] = {}
