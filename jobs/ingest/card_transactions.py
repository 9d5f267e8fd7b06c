"""Feed `card_transactions`: TabFormer-layout card payments, card holders and their cards."""

from __future__ import annotations

from jobs.ingest.engine import Refine

# table -> this feed's own step on typed rows, between typing and the quarantine split
REFINE: dict[str, Refine] = {}
