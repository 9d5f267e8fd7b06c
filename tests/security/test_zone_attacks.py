"""Zones stay where they belong: `--lake` moves the lake only, an on-prem root must be a local
folder, and a lake-side job reaches no on-prem path however it is spelled (`..`, `file:`, a
symlink) and never the vault."""

from pathlib import Path

import pytest
import yaml

from jobs.errors import ConfigError, ZoneAccessError
from jobs.runtime.config import LakeConfig
from jobs.runtime.zones import Side, Zone, check_access, zone_root


def test_lake_side_is_refused_the_vault():
    with pytest.raises(ZoneAccessError, match="lake-side job may not access the vault zone"):
        check_access(Side.LAKE, Zone.VAULT)


def test_the_lake_flag_moves_the_lake_only_where_on_prem_has_a_root_of_its_own(monkeypatch):
    """`OFFERLAKE_ENV=production offerlake pipeline --lake s3a://bucket/x` once wrote raw, the
    vault, its key file and the outbox into the bucket (and the key to ./s3a:/...)."""
    monkeypatch.delenv("OFFERLAKE_LAKE", raising=False)
    config = LakeConfig.load(environment="production", lake="s3a://other-bucket/x")
    assert zone_root(config, Zone.STAGE) == "s3a://other-bucket/x/lake/stage"
    for zone in (Zone.RAW, Zone.VAULT, Zone.KEYS, Zone.DELIVERY):
        assert zone_root(config, zone).startswith("/data/offerlake/onprem/")
    monkeypatch.setenv("OFFERLAKE_LAKE", "s3a://other-bucket/y")
    assert LakeConfig.load(environment="production").onprem_root == "/data/offerlake"


@pytest.mark.parametrize("onprem", [None, "s3a://bucket/bank", "file:///data/bank"])
def test_an_on_prem_root_that_is_not_a_local_folder_is_refused_at_start(tmp_path, onprem):
    conf = tmp_path / "conf"
    conf.mkdir()
    env = {"lake_root": "s3a://bucket/lake", **({"onprem_root": onprem} if onprem else {})}
    (conf / "lake.yaml").write_text(yaml.safe_dump({"environments": {"bank": env}}))
    with pytest.raises(ConfigError, match="environments.bank: the on-prem root must be a local"):
        LakeConfig.load(conf, environment="bank")


def _lake_side(root: Path):
    from datetime import date

    from jobs.runtime.context import RunContext

    return RunContext(LakeConfig.load(lake=str(root)), Side.LAKE, date(2026, 3, 1))


@pytest.mark.parametrize(
    "ref",
    [
        "stage/../../onprem/raw/crm_clients",
        "analytics/../../onprem/keys",
        "stage//onprem/raw/crm_clients",
        "stage/file:/onprem/raw",
        "stage/..",
    ],
)
def test_a_lake_side_context_refuses_a_table_spelled_as_a_path(tmp_path, ref):
    with pytest.raises(ZoneAccessError, match="not a path|names no table"):
        _lake_side(tmp_path).path(ref)


def test_a_lake_side_context_refuses_a_lake_folder_that_leads_on_prem(tmp_path):
    """A symlink in the lake (a table, or a whole zone) to an on-prem folder is refused where
    it resolves, not where it is spelled."""
    raw = tmp_path / "onprem" / "raw" / "crm_clients"
    raw.mkdir(parents=True)
    stage = tmp_path / "lake" / "stage"
    stage.mkdir(parents=True)
    (stage / "clients").symlink_to(raw)
    ctx = _lake_side(tmp_path)
    assert ctx.path("stage/transactions") == f"{tmp_path}/lake/stage/transactions"
    with pytest.raises(ZoneAccessError, match="resolves under"):
        ctx.path("stage/clients")
    (tmp_path / "lake" / "analytics").symlink_to(tmp_path / "onprem" / "raw")
    with pytest.raises(ZoneAccessError, match="resolves under"):
        ctx.path("analytics/crm_clients")
    with pytest.raises(ZoneAccessError, match="resolves under"):
        ctx.zone_path(Zone.ANALYTICS)
