"""`offerlake run privacy` on the small generated bank: tokens in stage, the rest in the vault."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.delivery import handoff, manifest
from jobs.errors import ZoneAccessError
from jobs.privacy import purges
from jobs.privacy.keys import VaultKeyError
from jobs.privacy.policy import PolicyError, load_policy
from jobs.privacy.vault import Vault, VaultError
from jobs.runtime.config import DEFAULT_CONF_DIR
from jobs.runtime.context import RunContext
from jobs.runtime.quarantine import file_rows_frame
from jobs.runtime.zones import Side
from tests.lakes import DELIVERY, RAW_TABLES, SMALL_BANK, Lake, copy_lake, copy_raw

RUN_DATE = SMALL_BANK.delivery_date


def vault_of(lake: Lake, job: str = "test") -> Vault:
    """A vault handle for checks, its lock released at once: jobs the test runs next (in this
    process or another) take the lock themselves."""
    ctx = RunContext(lake.config, Side.ONPREM, RUN_DATE, _spark=lake.spark)
    with Vault.open(ctx, load_policy(lake.config.conf_dir), job) as vault:
        return vault


def test_every_raw_table_has_a_stage_twin_with_the_same_rows(gated):
    lake, results = gated
    for table in RAW_TABLES:
        result = results[f"stage/{table}"]
        assert result.rows_read == result.rows_written > 0, table
        assert lake.table(f"stage/{table}").count() == lake.table(f"raw/{table}").count()


def test_contact_details_leave_the_record_and_identifiers_become_tokens(gated):
    lake, _ = gated
    crm = lake.table("stage/crm_clients")
    for gone in ("first_name", "last_name", "email", "phone", "street", "date_of_birth", "zip"):
        assert gone not in crm.columns
    assert {"age_band", "zip3", "income_band"} <= set(crm.columns)
    ids = [r.client_id for r in crm.select("client_id").collect()]
    assert all(
        i.startswith("cl_") and len(i) == 27 and not any(c.isdigit() for c in i) for i in ids
    )
    cards = lake.table("stage/payment_cards")
    assert "cvv" not in cards.columns and "expires" not in cards.columns
    masked = [r.card_number_masked for r in cards.select("card_number_masked").collect()]
    assert all(m[:-4] == "*" * (len(m) - 4) and m[-4:].isdigit() for m in masked)


def test_no_raw_pii_value_appears_in_any_stage_column(gated):
    lake, _ = gated
    raw = lake.table("raw/crm_clients")
    pii = set()
    for column in ("first_name", "last_name", "email", "phone", "street"):
        pii |= {r[0] for r in raw.select(column).distinct().collect() if r[0]}
    pii |= {str(r[0]) for r in lake.table("raw/payment_cards").select("card_number").collect()}
    for table in RAW_TABLES:
        stage = lake.table(f"stage/{table}")
        for column in stage.columns:
            values = {str(r[0]) for r in stage.select(column).distinct().collect()}
            assert not (values & pii), (table, column)


def test_the_same_value_gets_the_same_token_in_every_feed(gated):
    lake, _ = gated
    clients = {r[0] for r in lake.table("stage/crm_clients").select("client_id").collect()}
    for table in ("dispositions", "offer_responses", "location_pings", "web_visitors"):
        used = {r[0] for r in lake.table(f"stage/{table}").select("client_id").distinct().collect()}
        assert used and used <= clients, table
    cards = {r[0] for r in lake.table("stage/cards").select("card_number").collect()}
    paid = {r[0] for r in lake.table("stage/payment_cards").select("card_number").collect()}
    assert cards & paid, "mainframe cards and TabFormer cards share card numbers, so tokens"
    accounts = {r[0] for r in lake.table("stage/accounts").select("account_id").collect()}
    moved = {
        r[0] for r in lake.table("stage/transactions").select("account_id").distinct().collect()
    }
    assert moved <= accounts


def _cached(spark) -> dict[int, str]:
    """Spark's cached RDDs (id: name) but Delta's own (a table's log state, no row of data)."""
    rdds = spark.sparkContext._jsc.getPersistentRDDs()
    names = {int(k): str(rdds[k].name()) for k in rdds.keys()}
    return {k: n for k, n in names.items() if not n.startswith("Delta Table State")}


def test_rerunning_the_gate_keeps_tokens_and_tables(gated):
    lake, _ = gated
    tables = {t: lake.table(f"stage/{t}") for t in ("crm_clients", "payment_cards")}
    before = {t: (df.schema, df.collect()) for t, df in tables.items()}
    mapped = lake.table("vault/token_map").count()
    cached = _cached(lake.spark)
    lake.run("privacy", RUN_DATE)
    # no clear value stays in Spark's cache for a later stage of the process to find
    left = {k: v for k, v in _cached(lake.spark).items() if k not in cached}
    assert not left, left
    for table, (schema, rows) in before.items():
        assert_df_equality(
            lake.spark.createDataFrame(rows, schema),
            lake.table(f"stage/{table}"),
            ignore_row_order=True,
        )
    assert lake.table("vault/token_map").count() == mapped


def test_tokens_and_contacts_open_with_the_customers_key_and_are_audited(gated):
    lake, _ = gated
    raw = lake.table("raw/crm_clients").orderBy("client_id").first()
    vault = vault_of(lake, "operator-test")
    token = vault.token_of(str(raw.client_id), "client")
    assert token is not None and vault.detokenize(token, "test") == str(raw.client_id)
    assert vault.contact(token, "crm_clients.email", "test") == raw.email
    audit = lake.table("vault/audit").where(F.col("job") == "operator-test").orderBy("at").collect()
    assert [(a.action, a.token) for a in audit] == [("detokenize", token), ("decrypt", token)]
    assert all(raw.email not in str(a) and str(raw.client_id) != a.detail for a in audit)


def test_changed_ciphertext_fails_authentication_and_returns_nothing(gated, tmp_path):
    source, _ = gated
    lake = Lake(tmp_path / "lake", source.spark)
    shutil.copytree(source.root / "onprem", lake.root / "onprem")
    token_map = lake.table("vault/token_map")
    row = token_map.where(F.col("kind") == "client").first()
    tampered = bytearray(row.value_ct)
    tampered[-1] ^= 1
    from delta.tables import DeltaTable

    DeltaTable.forPath(lake.spark, str(lake.root / "onprem/vault/token_map")).update(
        F.col("token") == row.token, {"value_ct": F.lit(bytes(tampered))}
    )
    with pytest.raises(VaultKeyError, match="authentication failed"):
        vault_of(lake).detokenize(row.token, "test")


def test_a_missing_key_file_for_an_existing_vault_is_an_error(gated, tmp_path):
    source, _ = gated
    lake = Lake(tmp_path / "lake", source.spark)
    shutil.copytree(source.root / "onprem", lake.root / "onprem")
    key = lake.root / "onprem" / "keys" / "vault.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    key.unlink()
    with pytest.raises(VaultKeyError, match="missing"):
        vault_of(lake)
    assert not key.exists()


def test_crm_quasi_identifiers_are_at_least_5_anonymous(gated):
    lake, results = gated
    crm = lake.table("stage/crm_clients")
    smallest = crm.groupBy("age_band", "gender", "zip3", "occupation").count().agg(F.min("count"))
    assert smallest.first()[0] >= 5
    assert any("k = " in n for n in results["stage/crm_clients"].notes)


def test_a_raw_column_without_an_action_stops_the_gate_before_any_write(ingested, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    text = (conf / "privacy.yaml").read_text()
    (conf / "privacy.yaml").write_text(text.replace("      home_ownership_status: keep\n", "", 1))
    lake = copy_raw(ingested[0], tmp_path)
    lake.conf_dir = conf
    with pytest.raises(PolicyError, match=r"crm_clients\.home_ownership_status has no action"):
        lake.run("privacy", RUN_DATE)
    assert not (lake.root / "lake").exists()
    vault = lake.root / "onprem" / "vault"  # its lock file only: no key, token or table
    assert sorted(p.name for p in vault.iterdir()) == ["_vault.lock"]


def test_a_lake_side_context_cannot_open_the_vault(gated):
    lake, _ = gated
    ctx = RunContext(lake.config, Side.LAKE, DELIVERY, _spark=lake.spark)
    with pytest.raises(ZoneAccessError):
        Vault.open(ctx, load_policy(lake.config.conf_dir), "model")
    with pytest.raises(ZoneAccessError):
        ctx.read("vault/token_map")


def test_keys_never_appear_in_spark_plans(gated, capsys):
    lake, _ = gated
    vault = vault_of(lake)
    values = lake.spark.createDataFrame([("1",), ("2",)], "value string")
    plan = vault.tokens(values, "client")._jdf.queryExecution().toString()
    secret = vault._index_key.hex()
    assert secret not in plan.lower() and vault._kek.hex() not in plan.lower()
    assert "_index_i" in plan  # the key came in as a column, not a literal
    owners = lake.spark.createDataFrame([("cl_someone",)], "owner string")
    plan = vault._data_keys(owners)._jdf.queryExecution().toString().lower()
    assert vault._kek.hex() not in plan and "kek" in plan  # data keys open with a KEK column


def test_unknown_tokens_are_a_clear_error(gated):
    lake, _ = gated
    with pytest.raises(VaultError, match="not in the vault"):
        vault_of(lake).detokenize("cl_nosuchtoken", "test")


def test_policy_lists_every_column_of_every_generated_raw_table(gated):
    lake, _ = gated
    policy = load_policy(Path(DEFAULT_CONF_DIR))
    for table in RAW_TABLES:
        policy.check_covers(table, lake.table(f"raw/{table}").columns)


def test_the_gate_exports_reachability_flags_and_never_the_contacts(gated):
    lake, results = gated
    reach = lake.table("stage/contact_reachability")
    assert reach.columns == ["client_id", "email", "sms"]
    assert results["stage/contact_reachability"].rows_written == reach.count()
    clients = lake.table("raw/crm_clients").collect()
    assert reach.count() == len(clients)
    vault = vault_of(lake)
    flags = {r.client_id: r for r in reach.collect()}
    for client in clients[:15]:
        row = flags[vault.token_of(str(client.client_id), "client")]
        assert row.email == bool((client.email or "").strip())
        assert row.sms == bool((client.phone or "").strip())


def own_copy(gated, tmp_path) -> Lake:
    """A copy of the gated lake (raw, stage, vault, keys) a test may change."""
    return copy_lake(gated[0], tmp_path)


def _append(lake: Lake, ref: str, rows: list) -> None:
    zone, name = ref.split("/")
    side = "lake" if zone in ("stage", "analytics", "handoff") else "onprem"
    schema = lake.table(ref).schema if zone == "raw" else None
    frame = lake.spark.createDataFrame(rows, schema)
    frame.write.format("delta").mode("append").save(str(lake.root / side / zone / name))


def test_erasure_forgets_the_customer_everywhere_and_for_good(gated, tmp_path):
    from jobs.privacy.commands import erase

    lake = own_copy(gated, tmp_path)
    holders = lake.table("raw/cards").join(lake.table("raw/dispositions"), "disp_id")
    holder = holders.orderBy("client_id").first().client_id  # a customer with a card
    clients = lake.table("raw/crm_clients").orderBy("client_id").collect()
    client = next(c for c in clients if c.client_id == holder)
    other = next(c for c in clients if c.client_id != holder)
    vault = vault_of(lake)
    token = vault.token_of(str(client.client_id), "client")
    other_token = vault.token_of(str(other.client_id), "client")
    dispositions = lake.table("raw/dispositions").where(F.col("client_id") == client.client_id)
    dispositions = dispositions.collect()
    in_stage = lake.table("stage/dispositions").where(F.col("client_id") == token).count()
    assert in_stage == len(dispositions) > 0
    holders_of = (
        lake.table("raw/dispositions")
        .groupBy("account_id")
        .agg(F.collect_set("client_id").alias("holders"))
    )
    own = [r.account_id for r in holders_of.collect() if list(r.holders) == [client.client_id]]
    # the customer is also second holder of another customer's account: that account stays
    joint = lake.table("raw/dispositions").where(F.col("client_id") == other.client_id).first()
    shared = joint.account_id
    second = joint.asDict() | {"disp_id": 10**9, "client_id": client.client_id, "type": "DISPONENT"}
    _append(lake, "raw/dispositions", [second])
    own_tokens = [vault.token_of(str(a), "account") for a in own]
    shared_token = vault.token_of(str(shared), "account")
    transactions = lake.table("raw/transactions").where(F.col("account_id").isin(*own)).count()
    assert transactions > 0
    card_users = lake.table("raw/payment_cards").join(
        lake.table("raw/cards").join(
            lake.table("raw/dispositions").where(F.col("client_id") == client.client_id),
            "disp_id",
        ),
        "card_number",
    )
    card_user_values = {str(r.user) for r in card_users.select("user").collect()}
    card_user_tokens = [vault.token_of(u, "card_user") for u in card_user_values]
    # an analytics table holding both customers' tokens, a quarantined row with the e-mail
    _append(lake, "analytics/scores", [(token, 1.0), (other_token, 2.0)])
    offers = [(token, "car_loan"), (other_token, "car_loan"), (other_token, "savers")]
    frame = lake.spark.createDataFrame(offers, "client_id string, campaign string")
    handoff.export(lake.context(), frame, "match-2026-01-20")
    handed = lake.root / "lake/handoff/match-2026-01-20"
    quarantined = [
        ("crm.jsonl", "line 9", f'{{"email": "{client.email}"}}', "utf-8", "wrong_type", "x"),
        ("crm.jsonl", "line 10", f'{{"email": "{other.email}"}}', "utf-8", "wrong_type", "x"),
    ]
    file_rows_frame(lake.spark, quarantined, "test").write.format("delta").mode("append").save(
        str(lake.root / "onprem/quarantine/crm_clients")
    )

    table = erase(lake.config, [str(client.client_id)])
    assert table.row_count > 0
    for ref, column, value in (
        ("raw/crm_clients", "client_id", client.client_id),
        ("raw/dispositions", "client_id", client.client_id),
        ("raw/transactions", "account_id", own[0]),
        ("stage/crm_clients", "client_id", token),
        ("stage/dispositions", "client_id", token),
        ("stage/transactions", "account_id", own_tokens[0]),
        ("analytics/scores", "_1", token),
        ("stage/contact_reachability", "client_id", token),
        ("vault/contacts", "owner", token),
    ):
        assert lake.table(ref).where(F.col(column) == value).count() == 0, ref
    assert lake.table("analytics/scores").where(F.col("_1") == other_token).count() == 1
    assert manifest.verify(str(handed)).rows == 2  # rewritten, with a new manifest
    assert {r.client_id for r in lake.spark.read.parquet(str(handed)).collect()} == {other_token}
    emails = [r.original for r in lake.table("quarantine/crm_clients").collect()]
    assert not any(client.email in e for e in emails) and any(other.email in e for e in emails)
    key = lake.table("vault/data_keys").where(F.col("owner") == token).first()
    assert key.wrapped is None and key.destroyed_at is not None
    for erased in [token, *own_tokens, *card_user_tokens]:
        with pytest.raises(VaultError, match="erased"):
            vault_of(lake).detokenize(erased, "test")
    assert card_user_tokens and all(
        lake.table("stage/card_users").where(F.col("user") == t).count() == 0
        for t in card_user_tokens
    )
    assert vault_of(lake).detokenize(shared_token, "t") == str(shared)
    # no older version of the vault's tables still holds the destroyed key
    old = lake.spark.read.parquet(str(lake.root / "onprem/vault/data_keys"))
    assert old.where((F.col("owner") == token) & F.col("wrapped").isNotNull()).count() == 0
    record = lake.table("vault/erasures").where(F.col("token") == token).first()
    assert "raw/crm_clients 1" in record.tables and "analytics/scores 1" in record.tables
    assert "handoff/match-2026-01-20 1" in record.tables
    assert client.email not in str(record) and client.last_name not in str(record)
    linked = lake.table("vault/erasures").where(F.col("tables") == f"with {token}")
    assert linked.count() >= len(own) + len(card_user_tokens)
    assert vault_of(lake).detokenize(other_token, "t") == str(other.client_id)

    # no file of raw, old or current, holds the customer (vacuumed at once: ingest takes the
    # vault's lock); analytics files do until their purge is due (their lake-side writers do not)
    def in_files(ref, column, value):
        zone = "onprem" if ref.startswith("raw") else "lake"
        files = lake.spark.read.parquet(str(lake.root / zone / ref))
        return files.where(F.col(column) == value).count()

    assert in_files("raw/crm_clients", "client_id", client.client_id) == 0
    assert in_files("analytics/scores", "_1", token) == 1
    ctx = lake.context()
    scores = ctx.path("analytics/scores")
    assert scores in purges.queued(ctx)
    assert purges.run_due(ctx, 12) == []  # not due for 12 hours
    later = datetime.now(UTC) + timedelta(hours=13)
    assert purges.run_due(ctx, 0, now=later) == [scores]
    assert in_files("analytics/scores", "_1", token) == 0
    assert purges.queued(ctx) == {}

    # a later delivery brings the customer back into raw (an ingest run that did not refuse
    # them): the gate leaves those rows out
    for name, rows in (("crm_clients", [client]), ("dispositions", dispositions)):
        again = lake.spark.createDataFrame(rows, lake.table(f"raw/{name}").schema)
        again = again.withColumn("_ingest_run", F.lit("2026-03-31_redelivered"))
        again.write.format("delta").mode("append").save(str(lake.root / "onprem/raw" / name))
    results = lake.run("privacy", RUN_DATE)
    for name, rows in (("crm_clients", [client]), ("dispositions", dispositions)):
        assert lake.table(f"stage/{name}").where(F.col("client_id") == token).count() == 0
        result = results[f"stage/{name}"]
        assert result.rows_withheld == len(rows) and result.reconciled
        assert f"{len(rows)} rows of erased customers left out" in result.notes
    assert lake.table("vault/contacts").where(F.col("owner") == token).count() == 0
    assert lake.table("vault/data_keys").where(F.col("owner") == token).first().wrapped is None


def test_rotation_rewraps_data_keys_and_every_token_still_opens(gated, tmp_path):
    from jobs.privacy.commands import rotate

    lake = own_copy(gated, tmp_path)
    before = lake.table("vault/token_map").select("token", "value_ct").toPandas()
    old_keks = {r.key_id for r in lake.table("vault/keys").where("purpose = 'kek'").collect()}
    assert "re-wrapped" in rotate(lake.config)
    keys = lake.table("vault/keys").where("purpose = 'kek'").collect()
    assert {k.key_id for k in keys if k.retired_at is not None} == old_keks
    assert all(k.wrapped is None for k in keys if k.retired_at is not None)
    active = [k.key_id for k in keys if k.retired_at is None]
    assert len(active) == 1
    assert {r.kek_id for r in lake.table("vault/data_keys").collect()} == set(active)
    after = lake.table("vault/token_map").select("token", "value_ct").toPandas()
    assert before.sort_values("token").equals(after.sort_values("token"))  # nothing re-encrypted
    vault = vault_of(lake)
    for row in lake.table("raw/crm_clients").limit(5).collect():
        token = vault.token_of(str(row.client_id), "client")
        assert vault.detokenize(token, "t") == str(row.client_id)
        assert vault.contact(token, "crm_clients.phone", "t") == row.phone


def test_rotation_waits_for_a_delivery_holding_the_vault_and_keeps_shredded_keys(gated, tmp_path):
    """`vault rotate` in its own process waits while another job holds the vault's lock
    (shared, as a delivery does), then re-wraps by MERGE: a key erasure destroyed stays
    destroyed. Purging history without the exclusive lock is refused."""
    import subprocess
    import sys
    import threading
    import time

    from jobs.privacy.vault_store import UnlockedPurge
    from jobs.runtime.locks import SHARED, FileLock

    lake = own_copy(gated, tmp_path)
    unlocked = vault_of(lake)
    with pytest.raises(UnlockedPurge, match="only under its exclusive lock"):
        unlocked.store.purge_history(["data_keys"])
    gone = lake.table("stage/crm_clients").orderBy("client_id").first().client_id
    with Vault.open(lake.context(RUN_DATE), load_policy(lake.config.conf_dir), "t") as vault:
        vault.shred({gone: "client"})
    live = lake.table("vault/data_keys").where("wrapped IS NOT NULL").count()
    delivery = FileLock(lake.root / "onprem" / "vault" / "_vault.lock", SHARED, 5)
    delivery.acquire()
    rotate = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "--lake", str(lake.root), "vault", "rotate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(rotate.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300  # a Spark session starts, then the lock is asked for
        while not any("waiting for" in line for line in lines) and rotate.poll() is None:
            assert time.monotonic() < deadline, "rotate never waited for the lock"
            time.sleep(0.5)
        time.sleep(2)
        assert rotate.poll() is None, "".join(lines)  # still waiting: nothing rotated
        assert lake.table("vault/keys").where("retired_at IS NOT NULL").count() == 0
    finally:
        delivery.release()
    rotate.wait(timeout=600)
    reader.join()
    out = "".join(lines)
    assert rotate.returncode == 0, out
    assert "waiting for" in out and f"{live:,} data keys re-wrapped" in out
    keys = lake.table("vault/data_keys")
    assert keys.where(F.col("owner") == gone).first().wrapped is None
    assert keys.where("wrapped IS NOT NULL").count() == live
    (active,) = [
        r.key_id
        for r in lake.table("vault/keys").collect()
        if r.retired_at is None and r.purpose == "kek"
    ]
    assert {r.kek_id for r in keys.where("wrapped IS NOT NULL").collect()} == {active}


def test_a_vault_without_its_key_rows_or_with_two_index_keys_refuses_to_open(gated, tmp_path):
    """A vault in use whose `keys` rows are gone does not quietly make new keys (every customer
    would get new tokens, and erased ones would come back); two active index keys are as
    ambiguous. Nothing is written either way."""
    from delta.tables import DeltaTable

    lake = own_copy(gated, tmp_path)
    keys = str(lake.root / "onprem" / "vault" / "keys")
    table = lake.table("vault/keys")
    second = table.where("purpose = 'index'").withColumn("key_id", F.lit("index-second"))
    second.write.format("delta").mode("append").save(keys)
    with pytest.raises(VaultError, match="1 active key-encryption keys and 2 active index keys"):
        vault_of(lake)
    DeltaTable.forPath(lake.spark, keys).delete()
    version = DeltaTable.forPath(lake.spark, keys).history(1).first()["version"]
    with pytest.raises(VaultError, match="holds token_map, data_keys but no active key"):
        vault_of(lake)
    assert DeltaTable.forPath(lake.spark, keys).history(1).first()["version"] == version
    assert lake.table("vault/keys").count() == 0


def test_leakscan_is_clean_after_the_gate_and_finds_a_copied_column(gated, tmp_path):
    from jobs.privacy.commands import leakscan

    lake = own_copy(gated, tmp_path)
    table, hits = leakscan(lake.config, lake.spark)
    assert hits == [], [(h.table, h.column, h.found) for h in hits]
    raw = lake.table("raw/crm_clients")
    leaked = raw.select(F.col("email").alias("contact"), F.col("last_name").alias("who"))
    leaked.write.format("delta").save(str(lake.root / "lake/analytics/leaky"))
    cards = lake.table("raw/payment_cards").select(F.col("card_number").alias("pan"))
    cards.write.format("delta").save(str(lake.root / "lake/stage/cards_copy"))
    _, hits = leakscan(lake.config, lake.spark)
    found = {(h.table, h.column, h.found) for h in hits}
    assert ("analytics/leaky", "contact", "raw crm_clients.email") in found
    assert ("analytics/leaky", "contact", "detector: e-mail") in found
    assert ("analytics/leaky", "who", "raw crm_clients.last_name") in found
    assert ("stage/cards_copy", "pan", "detector: card number (Luhn)") in found
    assert ("stage/cards_copy", "pan", "raw payment_cards.card_number") in found
    assert {h.table for h in hits} == {"analytics/leaky", "stage/cards_copy"}


def test_vault_cli_detokenizes_for_operators_and_names_unknown_tokens(gated, capsys):
    from jobs.cli import main

    lake, _ = gated
    client = lake.table("raw/crm_clients").orderBy("client_id").first()
    token = vault_of(lake).token_of(str(client.client_id), "client")
    assert main(["--lake", str(lake.root), "vault", "detokenize", "--token", token]) == 0
    assert capsys.readouterr().out.strip() == str(client.client_id)
    assert main(["--lake", str(lake.root), "vault", "detokenize", "--token", "cl_unknown"]) == 1
    assert "cl_unknown is not in the vault" in capsys.readouterr().err


def test_null_and_empty_values_get_no_token(gated, tmp_path):
    lake = copy_lake(
        gated[0], tmp_path
    )  # it mints a token: the kill test compares vaults to gated's
    values = lake.spark.createDataFrame(
        [(None,), ("",), ("   ",), ("dev-1",), (" dev-1 ",)], "value string"
    )
    tokens = vault_of(lake).tokens(values, "device").collect()
    assert [(t.value, t.token[:3]) for t in tokens] == [("dev-1", "dv_")]


def test_leakscan_reads_a_thousand_column_table_in_one_projection(spark):
    from jobs.privacy.leakscan import _values

    wide = spark.range(3).select(
        *[F.concat(F.lit(f"v{i}-"), F.col("id")).alias(f"c{i}") for i in range(1200)],
        F.array(F.lit("a@b.example"), F.lit(None)).alias("tags"),
        F.struct(F.lit(1).alias("x")).alias("nested"),
    )
    values = _values(wide)
    assert "Union" not in values._jdf.queryExecution().optimizedPlan().toString()
    rows = {(r.column, r.value, r.text) for r in values.collect()}
    assert len(rows) == 1200 * 3 + 1 + 1
    assert ("c7", "v7-2", True) in rows and ("tags", "a@b.example", True) in rows
    assert ("nested", '{"x":1}', False) in rows


def test_leakscan_reads_doubles_only_when_a_pii_value_has_a_doubles_shape(spark):
    from jobs.privacy.leakscan import _candidates, shapes_unseen

    schema = "value string, source string, is_name boolean, only_in string"
    pii = spark.createDataFrame(
        [("4111111111111111", "raw cards.card_number", False, None)], schema
    )
    lake = {
        "analytics/t": spark.createDataFrame(
            [(4111111111111111, 12.5, True, "x")], "pan bigint, amount double, ok boolean, n string"
        )
    }
    assert shapes_unseen(pii) == {"fractional", "boolean"}
    found = {(r.column, r.source) for r in _candidates(lake, pii).collect()}
    assert found == {("pan", "raw cards.card_number"), ("n", None)}
    odd = pii.union(spark.createDataFrame([("12.5", "raw x.amount", False, None)], schema))
    assert shapes_unseen(odd) == {"boolean"}
    found = {(r.column, r.source) for r in _candidates(lake, odd).collect()}
    assert ("amount", "raw x.amount") in found


def _accounts_of(lake: Lake, client_id) -> list:
    rows = lake.table("raw/dispositions").where(F.col("client_id") == client_id).collect()
    return [r.account_id for r in rows]


def _left(lake: Lake, accounts: list) -> int:
    """Rows of these accounts still in raw (accounts and their transactions)."""
    held = F.col("account_id").isin(*accounts)
    return sum(lake.table(f"raw/{t}").where(held).count() for t in ("accounts", "transactions"))


def test_an_erasure_killed_after_dispositions_finishes_on_the_rerun(gated, tmp_path):
    """`vault erase` is killed (SIGKILL) right after raw/dispositions lost the customer's rows,
    the only table that links them to their accounts. The re-run reads the plan written
    before the first delete, so the accounts and transactions still go, and the plan is gone."""
    import os
    import subprocess
    import sys

    lake = own_copy(gated, tmp_path)
    client = lake.table("raw/dispositions").orderBy("client_id").first().client_id
    own = _accounts_of(lake, client)
    assert own and _left(lake, own) > 0
    command = [sys.executable, "-m", "jobs.cli", "--lake", str(lake.root), "vault", "erase",
               "--client-id", str(client)]  # fmt: skip
    killed = subprocess.run(
        command, env={**os.environ, "OFFERLAKE_KILL_AT": "erase:raw-dispositions"},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stdout + killed.stderr
    plans = list((lake.root / "onprem" / "erasure").glob("*.json"))
    assert len(plans) == 1 and oct(plans[0].stat().st_mode & 0o777) == "0o600"
    assert _accounts_of(lake, client) == [], "killed after the dispositions went"
    assert _left(lake, own) > 0

    again = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 interrupted erasure(s) finished first" in " ".join(again.stdout.split())
    assert _left(lake, own) == 0, "the plan still knew the accounts"
    assert not list((lake.root / "onprem" / "erasure").glob("*.json"))
    token = lake.table("vault/erasures").where("tables NOT LIKE 'with %'").first().token
    with pytest.raises(VaultError, match="erased"):
        vault_of(lake).detokenize(token, "test")


def test_many_customers_are_erased_in_one_plan(gated, tmp_path):
    """`vault erase --client-ids-file`: three customers, one plan, every one of them gone."""
    from jobs.cli import main

    lake = own_copy(gated, tmp_path)
    clients = [r.client_id for r in lake.table("raw/crm_clients").orderBy("client_id").take(3)]
    accounts = [a for c in clients for a in _accounts_of(lake, c)]
    assert _left(lake, accounts) > 0
    ids = tmp_path / "erase.txt"
    ids.write_text("# erasure requests of the day\n" + "\n".join(str(c) for c in clients) + "\n\n")
    assert main(["--lake", str(lake.root), "vault", "erase", "--client-ids-file", str(ids)]) == 0
    raw = lake.table("raw/crm_clients")
    assert raw.where(F.col("client_id").isin(*clients)).count() == 0
    assert raw.count() == SMALL_BANK.customers - 3
    subjects = lake.table("vault/erasures").where("tables NOT LIKE 'with %'").collect()
    assert len(subjects) == 3
    assert all("erased with 2 other customer(s)" in r.tables for r in subjects)
    assert _left(lake, accounts) == 0
