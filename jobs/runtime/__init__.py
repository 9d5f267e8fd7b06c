"""Shared runtime of every job: config, Spark session, lake zones, Delta I/O, run context."""
