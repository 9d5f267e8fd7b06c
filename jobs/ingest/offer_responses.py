"""Feed `offer_responses`: opened/clicked/accepted/declined events of earlier offers."""

from __future__ import annotations

from jobs.ingest.engine import Refine

# table -> this feed's own step on typed rows, between typing and the quarantine split
REFINE: dict[str, Refine] = {}
