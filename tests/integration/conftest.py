"""Fixtures for stage tests: a fresh lake with hand-made landing files, and running ingest on it."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from jobs.runtime.config import LakeConfig
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.zones import Side

DELIVERY = date(2026, 3, 31)


@dataclass
class Lake:
    """A temporary lake: land files, run ingest, read raw and quarantine tables."""

    root: Path
    spark: object
    conf_dir: Path | None = None

    @property
    def config(self) -> LakeConfig:
        config = LakeConfig.load(lake=str(self.root))
        if self.conf_dir is not None:
            config = LakeConfig(**{**config.__dict__, "conf_dir": self.conf_dir})
        return config

    def land(self, feed: str, name: str, content: str | bytes, delivery: date = DELIVERY) -> Path:
        folder = self.root / "onprem" / "landing" / feed / delivery.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        if name.endswith(".gz") and isinstance(content, str):
            data = gzip.compress(data, mtime=0)
        (folder / name).write_bytes(data)
        return folder / name

    def context(self, run_date: date = DELIVERY) -> RunContext:
        return RunContext(self.config, Side.ONPREM, run_date, _spark=self.spark)

    def ingest(self, *feeds: str, run_date: date = DELIVERY, formats=None) -> dict[str, JobResult]:
        from jobs.ingest.run import run

        results = run(self.context(run_date), list(feeds) or None, formats)
        return {r.table or r.feed: r for r in results}

    def table(self, ref: str):
        zone, name = ref.split("/")
        return self.spark.read.format("delta").load(str(self.root / "onprem" / zone / name))

    def quarantined(self, table: str) -> dict[str, tuple[str, str]]:
        """record -> (rule, reason) of the table's quarantine."""
        rows = self.table(f"quarantine/{table}").collect()
        return {r.record: (r.rule, r.reason) for r in rows}


@pytest.fixture
def lake(tmp_path, spark) -> Lake:
    return Lake(tmp_path / "lake", spark)
