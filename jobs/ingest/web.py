"""Feed `web`: GA 360 sessions, one row per session and per hit, and the visitor map."""

from __future__ import annotations

from jobs.ingest.engine import Refine

# table -> this feed's own step on typed rows, between typing and the quarantine split
REFINE: dict[str, Refine] = {}
