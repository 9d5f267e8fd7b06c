"""Handoff of deliverable offers from the lake to on-prem delivery, and delivery itself."""
