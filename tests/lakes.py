"""Fixtures for stage tests (integration and security): a fresh lake with hand-made landing
files, and the small generated bank ingested, gated and modelled once per test session."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from jobs.generate.bank import BankSpec, generate_bank
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
    kill_points: dict[str, list[str]] = field(default_factory=dict)  # stage -> points passed

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

    def run(self, stage: str, run_date: date = DELIVERY) -> dict[str, JobResult]:
        from jobs.pipeline import run_stage

        results = run_stage(stage, self.config, run_date, self.spark)
        return {r.table or r.feed: r for r in results}

    def table(self, ref: str):
        zone, name = ref.split("/")
        side = "lake" if zone in ("stage", "analytics", "handoff") else "onprem"
        return self.spark.read.format("delta").load(str(self.root / side / zone / name))

    def quarantined(self, table: str) -> dict[str, tuple[str, str]]:
        """record -> (rule, reason) of the table's quarantine."""
        rows = self.table(f"quarantine/{table}").collect()
        return {r.record: (r.rule, r.reason) for r in rows}


@pytest.fixture
def lake(tmp_path, spark) -> Lake:
    return Lake(tmp_path / "lake", spark)


# A small generated bank, ingested once per test run; tests copy it before changing anything.
SMALL_BANK = BankSpec(customers=80, days=20, seed=5)
RAW_TABLES = (
    "crm_clients",
    "accounts",
    "dispositions",
    "cards",
    "transactions",
    "card_transactions",
    "card_users",
    "payment_cards",
    "web_sessions",
    "web_hits",
    "web_visitors",
    "location_pings",
    "allies",
    "offer_responses",
)


def fresh_lake(bank: Path, tmp_path: Path, spark) -> Lake:
    """A new lake whose landing zone holds the bank's files."""
    lake = Lake(tmp_path / "lake", spark)
    shutil.copytree(bank / "onprem" / "landing", lake.root / "onprem" / "landing")
    return lake


@pytest.fixture(scope="session")
def bank(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bank")
    generate_bank(SMALL_BANK, out, workers=1, progress=False)
    return out


def traced(lake: Lake, stage: str, run):
    """run() with the kill points it passes (jobs/runtime/faults.py) kept as
    `lake.kill_points[stage]`, for the kill tests."""
    from jobs.runtime import faults

    faults.reset()
    result = run()
    lake.kill_points[stage] = faults.passed()
    return result


@pytest.fixture(scope="session")
def ingested(bank, tmp_path_factory, spark) -> tuple[Lake, dict[str, JobResult]]:
    lake = fresh_lake(bank, tmp_path_factory.mktemp("ingested"), spark)
    return lake, traced(lake, "ingest", lambda: lake.ingest(run_date=SMALL_BANK.delivery_date))


def copy_lake(source: Lake, tmp_path: Path) -> Lake:
    """A copy of a whole lake (on-prem and lake sides) a test may change."""
    lake = Lake(tmp_path / "lake", source.spark, source.conf_dir)
    for side in ("onprem", "lake"):
        if (source.root / side).is_dir():
            shutil.copytree(source.root / side, lake.root / side)
    return lake


def copy_raw(source: Lake, tmp_path: Path) -> Lake:
    """A new lake holding a copy of source's raw zone (to run later stages on)."""
    lake = Lake(tmp_path / "lake", source.spark, source.conf_dir)
    shutil.copytree(source.root / "onprem" / "raw", lake.root / "onprem" / "raw")
    return lake


@pytest.fixture(scope="session")
def gated(ingested, tmp_path_factory) -> tuple[Lake, dict[str, JobResult]]:
    """The small bank through the privacy gate: raw, stage, vault. Tests that change it copy it."""
    lake = copy_raw(ingested[0], tmp_path_factory.mktemp("gated"))
    return lake, traced(lake, "privacy", lambda: lake.run("privacy", SMALL_BANK.delivery_date))


@pytest.fixture(scope="session")
def modelled(gated, tmp_path_factory) -> tuple[Lake, dict[str, JobResult]]:
    """The gated small bank, copied (other modules share `gated`), through the model."""
    lake = copy_lake(gated[0], tmp_path_factory.mktemp("modelled"))
    return lake, traced(lake, "model", lambda: lake.run("model", SMALL_BANK.delivery_date))


@pytest.fixture(scope="module")
def trino(tmp_path_factory, free_port):
    """A real Trino 476 server (Delta Lake connector, file metastore, local file system) for the
    module that asks for it, stopped after it: about 20 s to start and 1 GB of memory."""
    from jobs.catalog import trino_server

    server = trino_server.start(tmp_path_factory.mktemp("trino"), free_port())
    try:
        trino_server.wait_until_ready(server)
        yield server
    finally:
        server.stop()
