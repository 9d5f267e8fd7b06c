"""The vault's other options: PostgreSQL as the store, AWS KMS (moto) as the key provider."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from jobs.runtime.config import DEFAULT_CONF_DIR
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Side
from tests.lakes import SMALL_BANK, Lake, copy_raw

PG_URL = os.environ.get("OFFERLAKE_PG_URL")


def conf_with(tmp_path, **vault: str):
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    text = (conf / "privacy.yaml").read_text()
    for key, value in vault.items():
        start = text.index(f"  {key}:")
        end = text.index("\n", start)
        text = text[:start] + f"  {key}: {value}" + text[end:]
    (conf / "privacy.yaml").write_text(text)
    return conf


def gate_and_check(lake: Lake) -> Vault:
    """Run the gate and check what every store and provider must do."""
    results = lake.run("privacy", SMALL_BANK.delivery_date)
    assert results["stage/crm_clients"].rows_written == SMALL_BANK.customers
    ctx = RunContext(lake.config, Side.ONPREM, SMALL_BANK.delivery_date, _spark=lake.spark)
    vault = Vault.open(ctx, load_policy(lake.config.conf_dir), "test")
    client = lake.table("raw/crm_clients").orderBy("client_id").first()
    token = vault.token_of(str(client.client_id), "client")
    stage = lake.table("stage/crm_clients").where(F.col("client_id") == token)
    assert stage.count() == 1
    assert vault.detokenize(token, "test") == str(client.client_id)
    assert vault.contact(token, "crm_clients.email", "test") == client.email
    linked = lake.table("stage/dispositions").where(F.col("client_id") == token).count()
    assert (
        linked
        == lake.table("raw/dispositions").where(F.col("client_id") == client.client_id).count()
    )
    # a second run mints nothing new and keeps every token
    before = lake.table("stage/crm_clients").select("client_id").collect()
    lake.run("privacy", SMALL_BANK.delivery_date)
    assert sorted(before) == sorted(lake.table("stage/crm_clients").select("client_id").collect())
    return vault


@pytest.mark.postgres
@pytest.mark.skipif(
    not PG_URL, reason="OFFERLAKE_PG_URL is not set: PostgreSQL is started by .ci/run"
)
def test_the_vault_in_postgresql(ingested, tmp_path, monkeypatch):
    import psycopg

    from jobs.privacy.vault_postgres import conninfo

    prefix = f"vault_t{uuid.uuid4().hex[:8]}_"
    monkeypatch.setenv("OFFERLAKE_VAULT_PG_URL", PG_URL)
    lake = copy_raw(ingested[0], tmp_path)
    lake.conf_dir = conf_with(tmp_path, store="postgres", postgres_prefix=prefix)
    try:
        vault = gate_and_check(lake)
        assert not (lake.root / "onprem" / "vault").exists()
        with psycopg.connect(**conninfo(PG_URL)) as conn:
            tokens = conn.execute(f"SELECT count(*) FROM {prefix}token_map").fetchone()[0]
            audit = conn.execute(f"SELECT count(*) FROM {prefix}audit").fetchone()[0]
        assert tokens > SMALL_BANK.customers and audit == 2
        with psycopg.connect(**conninfo(PG_URL)) as conn:
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(f"DELETE FROM {prefix}audit")
        old, new, rewrapped = vault.rotate()
        assert rewrapped > SMALL_BANK.customers and old != new
        first = lake.table("raw/crm_clients").orderBy("client_id").first()
        token = vault.token_of(str(first.client_id), "client")
        assert vault.detokenize(token, "after rotation") == str(first.client_id)
        # shredding rewrites the tables (VACUUM FULL): the old files, with the destroyed key's
        # dead row version in them, are gone; a plain VACUUM keeps the file (same relfilenode)
        files = "SELECT relname, relfilenode FROM pg_class WHERE relname = ANY(%s)"
        names = [f"{prefix}{n}" for n in ("data_keys", "token_map", "contacts")]
        with psycopg.connect(**conninfo(PG_URL)) as conn:
            before = dict(conn.execute(files, (names,)).fetchall())
        vault.shred({token: "client"})
        with psycopg.connect(**conninfo(PG_URL)) as conn:
            after = dict(conn.execute(files, (names,)).fetchall())
            left = conn.execute(
                f"SELECT count(*) FROM {prefix}data_keys WHERE owner = %s AND wrapped IS NOT NULL",
                (token,),
            ).fetchone()[0]
        assert left == 0 and set(before) == set(names)
        assert all(after[n] != before[n] for n in names), (before, after)
        vault.close()
    finally:
        with psycopg.connect(**conninfo(PG_URL)) as conn:
            names = conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",)
            ).fetchall()
            for (name,) in names:
                conn.execute(f"DROP TABLE {name}")


def test_kms_wraps_the_vault_keys(ingested, tmp_path, monkeypatch):
    from moto import mock_aws

    for name, value in {
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        kms = boto3.client("kms")
        key = kms.create_key(Description="offerlake vault")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/offerlake-test", TargetKeyId=key)
        lake = copy_raw(ingested[0], tmp_path)
        lake.conf_dir = conf_with(tmp_path, key_provider="kms", kms_key_id="alias/offerlake-test")
        gate_and_check(lake)
        assert not (lake.root / "onprem" / "keys").exists()  # no local key file with KMS
        providers = {r.provider for r in lake.table("vault/keys").collect()}
        assert providers == {"kms"}
        # a wrapped key that KMS cannot open (changed bytes) is a clear error, not a new key
        from delta.tables import DeltaTable

        keys = DeltaTable.forPath(lake.spark, str(lake.root / "onprem/vault/keys"))
        kek = lake.table("vault/keys").where("purpose = 'kek'").first()
        broken = bytearray(kek.wrapped)
        broken[-1] ^= 1
        keys.update(F.col("key_id") == kek.key_id, {"wrapped": F.lit(bytes(broken))})
        from jobs.privacy.keys import VaultKeyError

        ctx = RunContext(lake.config, Side.ONPREM, SMALL_BANK.delivery_date, _spark=lake.spark)
        with pytest.raises(VaultKeyError, match="could not unwrap"):
            Vault.open(ctx, load_policy(lake.config.conf_dir), "test")


def test_the_audit_log_refuses_changes_in_delta(spark, tmp_path):
    from delta.tables import DeltaTable
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    from jobs.privacy.vault_store import DeltaVaultStore

    store = DeltaVaultStore(spark, str(tmp_path / "vault"))
    row = (datetime(2026, 3, 31, 9), "deliver", "r1", "decrypt", "tok", "crm.email", "test")
    store.append("audit", store.rows("audit", [row]))
    store.append("audit", store.rows("audit", [row]))
    assert store.read("audit").count() == 2
    audit = DeltaTable.forPath(spark, store.path("audit"))
    for change in (lambda: audit.delete(), lambda: audit.update(set={"purpose": "'x'"})):
        with pytest.raises((PySparkException, Py4JJavaError), match="(?i)append.?only"):
            change()
    assert store.read("audit").count() == 2
