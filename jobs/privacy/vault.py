"""The on-prem vault: tokens by blind index, per-customer data keys, encrypted contacts, audit.

Open it only from an on-prem RunContext: its paths come from `ctx.path("vault/...")` and the
key file from the on-prem `keys` zone, both of which a lake-side context refuses.

Tokens are minted in bulk in Spark: a token is the prefix plus letters of HMAC(run secret,
blind index), where the run secret is 32 random bytes that live only in this process. Within a
run the same value always mints the same token (so a recomputed plan agrees with itself);
across runs, a value found in `token_map` keeps its first token.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.errors import OfferlakeError
from jobs.privacy import spark_crypto as sc
from jobs.privacy.keys import KEY_BYTES, KeyProvider, KmsKeys, LocalKeyFile, open_sealed
from jobs.privacy.policy import PrivacyPolicy
from jobs.privacy.vault_store import NOW, DeltaVaultStore
from jobs.runtime.config import expand_env
from jobs.runtime.context import RunContext
from jobs.runtime.locks import EXCLUSIVE, Mode
from jobs.runtime.zones import Zone

KEY_FILE = "vault.key"


class VaultError(OfferlakeError):
    """A vault operation cannot be done: unknown token, erased customer, collision."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


SHARED_OWNER = "vault:"  # + kind: the key owner of a non-personal kind's values (accounts, cards)


def open_store(ctx: RunContext, policy: PrivacyPolicy):
    """The configured vault store; both kinds are reachable from an on-prem context only."""
    root = ctx.zone_path(Zone.VAULT)  # raises on the lake side, whatever the store
    if policy.vault.store == "postgres":
        from jobs.privacy.vault_postgres import PostgresVaultStore

        url = expand_env(policy.vault.postgres_url, f"{policy.source}: vault.postgres_url")
        return PostgresVaultStore(ctx.spark, url, policy.vault.postgres_prefix)
    return DeltaVaultStore(ctx.spark, root)


def vault_lock(ctx: RunContext, policy: PrivacyPolicy, mode: Mode):
    """The vault's lock alone (`with vault_lock(ctx, policy, SHARED):`), for an on-prem job that
    writes tables an erasure deletes from and vacuums at 0 hours (ingest: raw, quarantine)."""
    return open_store(ctx, policy).lock(mode, policy.vault.lock_timeout_seconds)


def _tokens_held(store) -> list[str]:
    """The vault tables that only exist once tokens were made (a vault in use)."""
    return [name for name in ("token_map", "data_keys") if store.exists(name)]


class Vault:
    def __init__(
        self, ctx: RunContext, policy: PrivacyPolicy, store, provider: KeyProvider, job: str
    ) -> None:
        self.ctx = ctx
        self.policy = policy
        self.store = store
        self.provider = provider
        self.job = job
        self._cached: list[DataFrame] = []  # clear values held in Spark's cache until close()
        self._load_keys()
        self._keys_df = sc.key_row(
            ctx.spark,
            index=self._index_key,
            mint=os.urandom(KEY_BYTES),  # token letters: random per run, stable via token_map
            dek=os.urandom(KEY_BYTES),  # new data keys (see `_add_data_keys`)
        )

    def __repr__(self) -> str:
        return f"Vault({self.store!r}, {self.provider!r})"

    @classmethod
    def open(
        cls,
        ctx: RunContext,
        policy: PrivacyPolicy,
        job: str,
        kms_client=None,
        lock: Mode = EXCLUSIVE,
    ) -> Vault:
        """Open the vault holding its lock until `close` (use `with Vault.open(...) as vault`).

        Jobs that change keys, tokens or contacts (gate, erasure, rotate) hold it `exclusive`;
        jobs that only read and append to the audit log (delivery) hold it `shared`.
        """
        store = open_store(ctx, policy)
        held = store.lock(lock, policy.vault.lock_timeout_seconds)
        held.acquire()
        try:
            store.held = held
            new_vault = not store.exists("keys") and not _tokens_held(store)
            if policy.vault.key_provider == "kms":
                provider: KeyProvider = KmsKeys(policy.vault.kms_key_id, kms_client)
            else:
                from pathlib import Path

                keys = Path(ctx.zone_path(Zone.KEYS)) / KEY_FILE
                provider = LocalKeyFile(keys, create=new_vault)
            return cls(ctx, policy, store, provider, job)
        except BaseException:
            held.release()
            raise

    def close(self) -> None:
        """Drop what the vault cached in Spark (clear values with their blind indexes), so no
        later stage of the process finds them in memory, and release the vault's lock (the
        process's exit releases it too)."""
        for frame in self._cached:
            frame.unpersist(blocking=True)
        self._cached.clear()
        if self.store.held is not None:
            self.store.held.release()

    def held(self, frame: DataFrame) -> DataFrame:
        """frame, persisted until the vault closes (it holds clear values: `close` drops it)."""
        frame = frame.persist()
        self._cached.append(frame)
        return frame

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- keys ------------------------------------------------------------------------------------

    def _load_keys(self) -> None:
        rows = self.store.read("keys").where("retired_at IS NULL").collect()
        if not rows:
            if held := _tokens_held(self.store):
                raise VaultError(
                    f"the vault {self.store!r} holds {', '.join(held)} but no active key: "
                    "refusing to make new keys (every customer would get new tokens, and "
                    "erased customers would come back); restore the vault's `keys` table"
                )
            made = [self._new_key("kek")[0], self._new_key("index")[0]]
            self.store.append("keys", self.store.rows("keys", made))
            rows = self.store.read("keys").where("retired_at IS NULL").collect()
        keks = sorted((r for r in rows if r["purpose"] == "kek"), key=lambda r: r["created_at"])
        index = [r for r in rows if r["purpose"] == "index"]
        if not keks or len(index) != 1:
            raise VaultError(
                f"the vault {self.store!r} has {len(keks)} active key-encryption keys and "
                f"{len(index)} active index keys (expected one or more, and exactly one): "
                "refusing to open it"
            )
        self._keks = {
            r["key_id"]: self.provider.unwrap(bytes(r["wrapped"]), f"kek:{r['key_id']}".encode())
            for r in keks
        }
        self._kek_id = keks[-1]["key_id"]  # new data keys are wrapped by the newest
        self._index_key = self.provider.unwrap(
            bytes(index[0]["wrapped"]), f"index:{index[0]['key_id']}".encode()
        )

    @property
    def _kek(self) -> bytes:
        return self._keks[self._kek_id]

    def _new_key(self, purpose: str) -> tuple[tuple, bytes]:
        key_id = f"{purpose}-{uuid.uuid4().hex[:12]}"
        key = os.urandom(KEY_BYTES)
        wrapped = self.provider.wrap(key, f"{purpose}:{key_id}".encode())
        return (key_id, purpose, self.provider.name, bytearray(wrapped), _now(), None), key

    def _kek_rows(self) -> DataFrame:
        """(kek_id, kek) of every active KEK: key bytes enter Spark as data, never as literals."""
        return self.ctx.spark.createDataFrame(
            [(key_id, bytearray(kek)) for key_id, kek in self._keks.items()],
            "kek_id string, kek binary",
        )

    def _add_data_keys(self, owners: DataFrame) -> None:
        """A data key for each owner (column `owner`) that has none, made and wrapped in Spark.

        The key is derived from the owner under this run's random `dek` secret (see
        `spark_crypto.derived_key`) and stored only wrapped by the newest KEK, as `seal` would.
        """
        missing = owners.distinct().join(
            self.store.read("data_keys").select("owner"), "owner", "left_anti"
        )
        newest = F.broadcast(self._kek_rows().where(F.col("kek_id") == self._kek_id))
        wrapped = (
            sc.with_keys(missing, self._keys_df)
            .crossJoin(newest)
            .select(
                "owner",
                sc.aes_gcm(
                    sc.derived_key(F.col("owner"), "dek"),
                    F.col("kek"),
                    F.concat(F.lit("dek:"), F.col("owner")),
                ).alias("wrapped"),
                "kek_id",
                F.lit(self.ctx.run_id).alias("created_run"),
                F.lit(None).cast("timestamp").alias("destroyed_at"),
            )
        )
        self.store.insert_new("data_keys", wrapped, ["owner"])

    def _data_keys(self, owners: DataFrame) -> DataFrame:
        """(owner, dek) for these owners (column `owner`), unwrapped in Spark.

        An erased owner (its key destroyed) is left out: nothing can be encrypted for it.
        """
        keys = self.store.read("data_keys").where(F.col("wrapped").isNotNull())
        keys = keys.join(owners.distinct(), "owner")
        active = list(self._keks)
        stale = keys.where(~F.col("kek_id").isin(*active)).select("kek_id").distinct().collect()
        if stale:
            ids = ", ".join(sorted(r["kek_id"] for r in stale))
            raise VaultError(f"data keys are wrapped by retired key(s) {ids}; run `vault rotate`")
        return keys.join(F.broadcast(self._kek_rows()), "kek_id").select(
            "owner",
            sc.aes_gcm_open(
                F.col("wrapped"), F.col("kek"), F.concat(F.lit("dek:"), F.col("owner"))
            ).alias("dek"),
        )

    def _unwrap_dek(self, owner: str, row) -> bytes:
        kek = self._keks.get(row["kek_id"])
        if kek is None:
            raise VaultError(f"data key of {owner} is wrapped by retired key {row['kek_id']}")
        return open_sealed(
            kek, bytes(row["wrapped"]), f"dek:{owner}".encode(), f"data key of {owner}"
        )

    # -- tokens ----------------------------------------------------------------------------------

    def indexed(self, values: DataFrame) -> DataFrame:
        """Distinct non-empty (kind, value) pairs with their blind index."""
        clean = values.select("kind", sc.normalized(F.col("value")).alias("value")).where(
            F.col("value").isNotNull() & (F.col("value") != "")
        )
        return sc.with_keys(clean.distinct(), self._keys_df).select(
            "kind", "value", sc.blind_index(F.col("value"), F.col("kind")).alias("blind_index")
        )

    def known(self, values: DataFrame) -> DataFrame:
        """(kind, value, token) for the (kind, value) pairs of `values` that have a token; mints
        none (a reader holding the lock shared may call it)."""
        mapped = self.store.read("token_map").select("kind", "blind_index", "token")
        return self.indexed(values).join(mapped, ["kind", "blind_index"]).drop("blind_index")

    def erased_values(self, values: DataFrame) -> DataFrame:
        """(kind, value): those of the (kind, value) pairs of `values` whose token was erased."""
        gone = self.store.read("token_map").where(F.col("value_ct").isNull())
        keys = ["kind", "blind_index"]
        return self.indexed(values).join(gone.select(*keys), keys)

    def tokenize(self, values: DataFrame) -> DataFrame:
        """(kind, value, token, erased) for every distinct non-empty (kind, value) of `values`.

        Values of every kind are tokenized together: one blind-index pass, one insert of the
        new tokens and their data keys, one read back. Null and empty values get no token (the
        gate leaves them null), so they never share one. `erased` is true for a value whose
        customer was erased: its token stays, its clear value and key are gone.
        """
        kinds = self.policy.kinds
        indexed = self.indexed(values).persist()
        self._cached.append(indexed)
        prefix = F.create_map(*[F.lit(x) for k, spec in kinds.items() for x in (k, spec.prefix)])
        personal = F.col("kind").isin(*[k for k, spec in kinds.items() if spec.personal])
        known = self.store.read("token_map").select("kind", "blind_index")
        new = (
            sc.with_keys(indexed.join(known, ["kind", "blind_index"], "left_anti"), self._keys_df)
            .select(
                "kind",
                "value",
                "blind_index",
                sc.token_text(
                    prefix[F.col("kind")], sc.hmac_hex(F.col("blind_index"), "mint")
                ).alias("token"),
            )
            .withColumn(
                "key_owner",
                F.when(personal, F.col("token")).otherwise(
                    F.concat(F.lit(SHARED_OWNER), F.col("kind"))
                ),
            )
            .persist()
        )
        if not new.isEmpty():
            owners = new.select(F.col("key_owner").alias("owner"))
            self._add_data_keys(owners)
            deks = self._data_keys(owners).withColumnRenamed("owner", "key_owner")
            minted = new.join(deks, "key_owner").select(
                "kind",
                "blind_index",
                "token",
                sc.aes_gcm(F.col("value"), F.col("dek"), F.col("token")).alias("value_ct"),
                "key_owner",
                F.lit(self.ctx.run_id).alias("created_run"),
            )
            self.store.insert_new("token_map", minted, ["kind", "blind_index"])
            self._check_unique()
        mapped = self.store.read("token_map").select(
            "kind", "blind_index", "token", F.col("value_ct").isNull().alias("erased")
        )
        result = indexed.join(mapped, ["kind", "blind_index"]).select(
            "kind", "value", "token", "erased"
        )
        new.unpersist()
        return result

    def tokens(self, values: DataFrame, kind: str) -> DataFrame:
        """(value, token) for the values (column `value`) of one kind."""
        pairs = values.select(F.lit(kind).alias("kind"), "value")
        return self.tokenize(pairs).select("value", "token")

    def _check_unique(self) -> None:
        clashes = (
            self.store.read("token_map")
            .groupBy("kind", "token")
            .count()
            .where("count > 1")
            .select("kind")
            .distinct()
            .collect()
        )
        if clashes:
            kinds = ", ".join(sorted(r["kind"] for r in clashes))
            raise VaultError(f"tokens of kind {kinds} map to two values; re-run the gate")

    # -- contacts --------------------------------------------------------------------------------

    def store_contacts(self, contacts: DataFrame) -> None:
        """Encrypt (owner, field, value) rows under each owner's data key.

        A value that did not change since the last run keeps its ciphertext (compared by blind
        index), so re-running the gate rewrites nothing. Erased owners have no key: their
        contacts are not stored.
        """
        clean = contacts.where(
            F.col("value").isNotNull() & (F.trim(F.col("value")) != "")
        ).dropDuplicates(["owner", "field"])
        indexed = sc.with_keys(clean, self._keys_df).withColumn(
            "value_index", sc.hmac_hex(F.concat_ws("|", "field", "value"), "index")
        )
        # only new and changed values are encrypted and merged
        stored = self.store.read("contacts").select("owner", "field", "value_index")
        changed = indexed.join(stored, ["owner", "field", "value_index"], "left_anti")
        deks = self._data_keys(changed.select("owner"))
        rows = changed.join(deks, "owner").select(
            "owner",
            "field",
            sc.aes_gcm(F.col("value"), F.col("dek"), F.concat_ws("|", "owner", "field")).alias(
                "value_ct"
            ),
            "value_index",
            F.lit(self.ctx.run_id).alias("updated_run"),
        )
        self.store.upsert("contacts", rows, ["owner", "field"], changed="value_index")

    def reachability(self, channels: dict[str, str]) -> DataFrame:
        """(client_id, <channel>...) booleans: does the vault hold the contact the channel
        needs ("crm_clients.email" for email)? Exported with stage; never the contact itself."""
        contacts = self.store.read("contacts").where(F.col("field").isin(*channels.values()))
        flags = [
            F.max(F.col("field") == F.lit(field)).alias(channel)
            for channel, field in sorted(channels.items())
        ]
        return contacts.groupBy(F.col("owner").alias("client_id")).agg(*flags)

    # -- reading back (on-prem, audited) ---------------------------------------------------------

    def open_tokens(self, tokens: DataFrame) -> DataFrame:
        """(token, value): the clear values of these tokens (column `token`), opened in Spark.

        For bulk jobs on-prem (delivery). Erased tokens are left out. The caller audits first.
        """
        mapped = (
            self.store.read("token_map")
            .where(F.col("value_ct").isNotNull())
            .join(tokens.select("token").distinct(), "token")
        )
        deks = self._data_keys(mapped.select(F.col("key_owner").alias("owner")))
        return mapped.join(deks.withColumnRenamed("owner", "key_owner"), "key_owner").select(
            "token",
            sc.aes_gcm_open(F.col("value_ct"), F.col("dek"), F.col("token"))
            .cast("string")
            .alias("value"),
        )

    def open_contacts(self, wanted: DataFrame) -> DataFrame:
        """(owner, field, value) for the wanted (owner, field) rows the vault holds, opened in
        Spark. Erased owners (key destroyed) are left out. The caller audits first."""
        contacts = self.store.read("contacts").join(
            wanted.select("owner", "field").distinct(), ["owner", "field"]
        )
        deks = self._data_keys(contacts.select("owner"))
        return contacts.join(deks, "owner").select(
            "owner",
            "field",
            sc.aes_gcm_open(F.col("value_ct"), F.col("dek"), F.concat_ws("|", "owner", "field"))
            .cast("string")
            .alias("value"),
        )

    def audit_many(self, rows: DataFrame, action: str, purpose: Column) -> None:
        """One audit row per row of `rows` (columns `token`, `detail`), in one append."""
        self.store.append(
            "audit",
            rows.select(
                F.current_timestamp().alias("at"),
                F.lit(self.job).alias("job"),
                F.lit(self.ctx.run_id).alias("run_id"),
                F.lit(action).alias("action"),
                "token",
                "detail",
                purpose.alias("purpose"),
            ),
        )

    def audit(self, action: str, token: str, detail: str, purpose: str) -> None:
        row = (_now(), self.job, self.ctx.run_id, action, token, detail, purpose)
        self.store.append("audit", self.store.rows("audit", [row]))

    def _owner_key(self, owner: str, token: str) -> bytes:
        rows = self.store.read("data_keys").where(F.col("owner") == owner).collect()
        if rows and rows[0]["wrapped"] is None:
            raise self._erased_error(token, owner)
        if not rows:
            raise VaultError(f"token {token}: the vault has no data key for it")
        return self._unwrap_dek(owner, rows[0])

    def detokenize(self, token: str, purpose: str) -> str:
        rows = self.store.read("token_map").where(F.col("token") == token).collect()
        if not rows:
            raise VaultError(f"token {token} is not in the vault")
        row = rows[0]
        if row["value_ct"] is None:
            raise self._erased_error(token, token)
        key = self._owner_key(row["key_owner"], token)
        value = open_sealed(key, bytes(row["value_ct"]), token.encode(), f"token {token}")
        self.audit("detokenize", token, row["kind"], purpose)
        return value.decode()

    def contact(self, owner: str, field: str, purpose: str) -> str | None:
        rows = (
            self.store.read("contacts")
            .where((F.col("owner") == owner) & (F.col("field") == field))
            .collect()
        )
        if not rows:
            return None
        key = self._owner_key(owner, owner)
        value = open_sealed(
            key, bytes(rows[0]["value_ct"]), f"{owner}|{field}".encode(), f"{field} of {owner}"
        )
        self.audit("decrypt", owner, field, purpose)
        return value.decode()

    def token_of(self, value: str, kind: str) -> str | None:
        index = sc.blind_index_py(value, kind, self._index_key)
        rows = (
            self.store.read("token_map")
            .where((F.col("kind") == kind) & (F.col("blind_index") == index))
            .select("token")
            .collect()
        )
        return rows[0]["token"] if rows else None

    def tokens_of(self, values: dict[str, set[str]]) -> dict[str, dict[str, str]]:
        """kind -> {value: token} for these clear values of each kind (those with a token)."""
        index = {
            (kind, sc.blind_index_py(v, kind, self._index_key)): v
            for kind, vs in values.items()
            for v in vs
        }
        if not index:
            return {}
        rows = (
            self.store.read("token_map")
            .where(F.col("blind_index").isin(*{i for _, i in index}))
            .select("kind", "blind_index", "token")
            .collect()
        )
        found: dict[str, dict[str, str]] = {}
        for r in rows:
            value = index.get((r["kind"], r["blind_index"]))
            if value is not None:
                found.setdefault(r["kind"], {})[value] = r["token"]
        return found

    # -- rotation and erasure --------------------------------------------------------------------

    def rotate(self) -> tuple[str, str, int]:
        """New KEK; every data key re-wrapped under it; old KEKs retired. (old, new, data keys).

        Each step leaves a working vault: the new KEK is added; the live data keys are
        re-wrapped in Spark and merged by owner in one commit (a key destroyed meanwhile stays
        destroyed: only rows that still hold a wrapped key are updated); then old KEKs are
        retired and their history vacuumed. Runs under the vault's exclusive lock.
        """
        old = sorted(self._keks)
        row, key = self._new_key("kek")
        self.store.append("keys", self.store.rows("keys", [row]))
        new_id = row[0]
        self._keks[new_id] = key
        new_kek = F.broadcast(self._kek_rows().where(F.col("kek_id") == new_id))
        live = self.store.read("data_keys").where(F.col("wrapped").isNotNull())
        opened = self._data_keys(live.select("owner"))
        aad = F.concat(F.lit("dek:"), F.col("owner"))
        rewrapped = opened.crossJoin(new_kek.withColumnRenamed("kek_id", "new_id")).select(
            "owner",
            sc.aes_gcm(F.col("dek"), F.col("kek"), aad).alias("wrapped"),
            F.col("new_id").alias("kek_id"),
        )
        count = self.store.rewrap("data_keys", rewrapped)
        self._kek_id = new_id
        self.store.update(
            "keys", {"purpose": "kek", "key_id": old}, {"retired_at": NOW, "wrapped": None}
        )
        for k in old:
            del self._keks[k]
        self.store.purge_history(["keys", "data_keys"])
        self.audit("rotate", "", f"{', '.join(old)} -> {new_id}", "key rotation")
        return ", ".join(old), new_id, count

    def shred(self, tokens: dict[str, str]) -> None:
        """Erase tokens ({token: kind}): personal tokens lose their data key and what it
        encrypted; every token loses its encrypted value, so it no longer opens. History is
        vacuumed: time travel cannot undo it. Doing it again changes nothing more."""
        personal = [t for t, kind in tokens.items() if self.policy.kinds[kind].personal]
        if personal:
            self.store.update(
                "data_keys", {"owner": personal}, {"wrapped": None, "destroyed_at": NOW}
            )
            self.store.delete("contacts", {"owner": personal})
        self.store.update("token_map", {"token": list(tokens)}, {"value_ct": None})
        self.store.purge_history(["data_keys", "contacts", "token_map"])

    def record_erasures(
        self, tokens: dict[str, str], owners: dict[str, str], tables: str, rows_deleted: int
    ) -> None:
        """An erasure record per token ({token: kind}) not recorded yet, with no personal data:
        a customer's own token (owners[t] == t) with the tables and rows, a linked token `with`
        its customer's; and one audit row per customer."""
        recorded = self.store.read("erasures").where(F.col("token").isin(*tokens)).select("token")
        seen = {r.token for r in recorded.collect()}
        when, run = _now(), self.ctx.run_id
        records, subjects = [], {}
        for token, kind in sorted(tokens.items()):
            owner = owners.get(token, token)
            if owner == token:
                subjects.setdefault(token, 0)
            else:
                subjects[owner] = subjects.get(owner, 0) + 1
            if token in seen:
                continue
            erased_with = (tables, rows_deleted) if owner == token else (f"with {owner}", 0)
            records.append((uuid.uuid4().hex, token, kind, when, run, *erased_with))
        if records:
            self.store.append("erasures", self.store.rows("erasures", records))
        audits = [(t, f"{tables}; {n} linked tokens") for t, n in sorted(subjects.items())]
        self.audit_many(
            self.ctx.spark.createDataFrame(audits, "token string, detail string"),
            "erase",
            F.lit("right to be forgotten"),
        )

    def _erased_error(self, token: str, owner: str) -> VaultError:
        erased = self.store.read("erasures").where(F.col("token") == owner).collect()
        when = erased[0]["erased_at"].isoformat() if erased else "an earlier run"
        return VaultError(f"token {token}: its customer was erased ({when}); nothing to return")

    def erased_tokens(self, tokens: list[str]) -> set[str]:
        """Those of these tokens that were erased, in one read."""
        rows = self.store.read("erasures").where(F.col("token").isin(*tokens)).select("token")
        return {r.token for r in rows.collect()}
