"""Feed `mainframe`: EBCDIC accounts, dispositions and cards decoded by Cobrix (or Berka files)."""

from __future__ import annotations

from jobs.ingest.engine import Refine

# table -> this feed's own step on typed rows, between typing and the quarantine split
REFINE: dict[str, Refine] = {}
