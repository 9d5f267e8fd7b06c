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

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.errors import OfferlakeError
from jobs.privacy import spark_crypto as sc
from jobs.privacy.keys import KEY_BYTES, KeyProvider, KmsKeys, LocalKeyFile, open_sealed, seal
from jobs.privacy.policy import PrivacyPolicy
from jobs.privacy.vault_store import NOW, DeltaVaultStore
from jobs.runtime.config import expand_env
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Zone

KEY_FILE = "vault.key"


class VaultError(OfferlakeError):
    """A vault operation cannot be done: unknown token, erased customer, collision."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def shared_owner(kind: str) -> str:
    """Key owner of the values of a non-personal kind (accounts, cards, devices)."""
    return f"vault:{kind}"


def open_store(ctx: RunContext, policy: PrivacyPolicy):
    """The configured vault store; both kinds are reachable from an on-prem context only."""
    root = ctx.zone_path(Zone.VAULT)  # raises on the lake side, whatever the store
    if policy.vault.store == "postgres":
        from jobs.privacy.vault_postgres import PostgresVaultStore

        url = expand_env(policy.vault.postgres_url, f"{policy.source}: vault.postgres_url")
        return PostgresVaultStore(ctx.spark, url, policy.vault.postgres_prefix)
    return DeltaVaultStore(ctx.spark, root)


class Vault:
    def __init__(
        self, ctx: RunContext, policy: PrivacyPolicy, store, provider: KeyProvider, job: str
    ) -> None:
        self.ctx = ctx
        self.policy = policy
        self.store = store
        self.provider = provider
        self.job = job
        self._load_keys()
        self._keys_df = sc.key_row(ctx.spark, index=self._index_key, mint=os.urandom(KEY_BYTES))

    def __repr__(self) -> str:
        return f"Vault({self.store!r}, {self.provider!r})"

    @classmethod
    def open(cls, ctx: RunContext, policy: PrivacyPolicy, job: str, kms_client=None) -> Vault:
        store = open_store(ctx, policy)
        has_keys = store.exists("keys")
        if policy.vault.key_provider == "kms":
            provider: KeyProvider = KmsKeys(policy.vault.kms_key_id, kms_client)
        else:
            from pathlib import Path

            provider = LocalKeyFile(Path(ctx.zone_path(Zone.KEYS)) / KEY_FILE, create=not has_keys)
        return cls(ctx, policy, store, provider, job)

    # -- keys ------------------------------------------------------------------------------------

    def _load_keys(self) -> None:
        rows = self.store.read("keys").where("retired_at IS NULL").collect()
        if not rows:
            made = [self._new_key("kek")[0], self._new_key("index")[0]]
            self.store.append("keys", self.store.rows("keys", made))
            rows = self.store.read("keys").where("retired_at IS NULL").collect()
        keks = sorted((r for r in rows if r["purpose"] == "kek"), key=lambda r: r["created_at"])
        index = [r for r in rows if r["purpose"] == "index"]
        if not keks or not index:
            raise VaultError(f"the vault {self.store!r} has no active key-encryption or index key")
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

    def data_keys(self, owners: list[str]) -> DataFrame:
        """(owner, dek) for these owners, making a data key for each owner that has none.

        An erased owner (its key destroyed) is left out: nothing can be encrypted for it.
        """
        wanted = set(owners)
        known = {
            r["owner"]: r
            for r in self.store.read("data_keys")
            .join(self.ctx.spark.createDataFrame([(o,) for o in wanted], "owner string"), "owner")
            .collect()
        }
        new = []
        for owner in sorted(wanted - set(known)):
            dek = os.urandom(KEY_BYTES)
            wrapped = seal(self._kek, dek, f"dek:{owner}".encode())
            new.append((owner, bytearray(wrapped), self._kek_id, self.ctx.run_id, None))
        if new:
            self.store.insert_new(
                "data_keys",
                self.store.rows("data_keys", new),
                ["owner"],
            )
            known.update(
                {
                    row[0]: dict(zip(("owner", "wrapped", "kek_id"), row, strict=False))
                    for row in new
                }
            )
        clear = [
            (owner, bytearray(self._unwrap_dek(owner, row)))
            for owner, row in known.items()
            if row["wrapped"] is not None
        ]
        return self.ctx.spark.createDataFrame(clear, "owner string, dek binary")

    def _unwrap_dek(self, owner: str, row) -> bytes:
        kek = self._keks.get(row["kek_id"])
        if kek is None:
            raise VaultError(f"data key of {owner} is wrapped by retired key {row['kek_id']}")
        return open_sealed(
            kek, bytes(row["wrapped"]), f"dek:{owner}".encode(), f"data key of {owner}"
        )

    # -- tokens ----------------------------------------------------------------------------------

    def indexed(self, values: DataFrame, kind: str) -> DataFrame:
        """Distinct non-empty values (column `value`) with their blind index."""
        clean = values.select(sc.normalized(F.col("value")).alias("value")).where(
            F.col("value").isNotNull() & (F.col("value") != "")
        )
        return sc.with_keys(clean.distinct(), self._keys_df).select(
            "value", sc.blind_index(F.col("value"), kind).alias("blind_index")
        )

    def tokens(self, values: DataFrame, kind: str) -> DataFrame:
        """(value, token) for every distinct non-empty value; new values get new tokens.

        Null and empty values get no token (they are left null by the gate), so they never
        share one.
        """
        spec = self.policy.kinds[kind]
        indexed = self.indexed(values, kind).persist()
        known = self.store.read("token_map").where(F.col("kind") == kind)
        new = (
            sc.with_keys(
                indexed.join(known.select("blind_index"), "blind_index", "left_anti"), self._keys_df
            )
            .select(
                "value",
                "blind_index",
                sc.token_text(spec.prefix, sc.hmac_hex(F.col("blind_index"), "mint")).alias(
                    "token"
                ),
            )
            .persist()
        )
        if not new.isEmpty():
            if spec.personal:
                owners = [r["token"] for r in new.select("token").collect()]
                new = new.withColumn("key_owner", F.col("token"))
            else:
                owners = [shared_owner(kind)]
                new = new.withColumn("key_owner", F.lit(shared_owner(kind)))
            deks = self.data_keys(owners).withColumnRenamed("owner", "key_owner")
            minted = new.join(F.broadcast(deks) if not spec.personal else deks, "key_owner").select(
                F.lit(kind).alias("kind"),
                "blind_index",
                "token",
                sc.aes_gcm(F.col("value"), F.col("dek"), F.col("token")).alias("value_ct"),
                "key_owner",
                F.lit(self.ctx.run_id).alias("created_run"),
            )
            self.store.insert_new("token_map", minted, ["kind", "blind_index"])
            self._check_unique(kind)
        mapped = (
            self.store.read("token_map").where(F.col("kind") == kind).select("blind_index", "token")
        )
        result = indexed.join(mapped, "blind_index").select("value", "token")
        new.unpersist()
        return result

    def _check_unique(self, kind: str) -> None:
        clashes = (
            self.store.read("token_map")
            .where(F.col("kind") == kind)
            .groupBy("token")
            .count()
            .where("count > 1")
            .count()
        )
        if clashes:
            raise VaultError(f"{clashes} tokens of kind {kind} map to two values; re-run the gate")

    # -- contacts --------------------------------------------------------------------------------

    def store_contacts(self, contacts: DataFrame) -> int:
        """Encrypt (owner, field, value) rows under each owner's data key; returns rows stored.

        A value that did not change since the last run keeps its ciphertext (compared by blind
        index), so re-running the gate rewrites nothing.
        """
        clean = contacts.where(
            F.col("value").isNotNull() & (F.trim(F.col("value")) != "")
        ).dropDuplicates(["owner", "field"])
        owners = [r["owner"] for r in clean.select("owner").distinct().collect()]
        if not owners:
            return 0
        deks = self.data_keys(owners)
        rows = sc.with_keys(clean.join(deks, "owner"), self._keys_df).select(
            "owner",
            "field",
            sc.aes_gcm(F.col("value"), F.col("dek"), F.concat_ws("|", "owner", "field")).alias(
                "value_ct"
            ),
            sc.hmac_hex(F.concat_ws("|", "field", "value"), "index").alias("value_index"),
            F.lit(self.ctx.run_id).alias("updated_run"),
        )
        self.store.upsert("contacts", rows, ["owner", "field"], changed="value_index")
        return len(owners)

    # -- reading back (on-prem, audited) ---------------------------------------------------------

    def audit(self, action: str, token: str, detail: str, purpose: str) -> None:
        row = (_now(), self.job, self.ctx.run_id, action, token, detail, purpose)
        self.store.append("audit", self.store.rows("audit", [row]))

    def _owner_key(self, owner: str, token: str) -> bytes:
        rows = self.store.read("data_keys").where(F.col("owner") == owner).collect()
        if rows and rows[0]["wrapped"] is None:
            erased = self.store.read("erasures").where(F.col("token") == owner).collect()
            when = erased[0]["erased_at"].isoformat() if erased else "an earlier run"
            raise VaultError(f"token {token}: its customer was erased ({when}); nothing to return")
        if not rows:
            raise VaultError(f"token {token}: the vault has no data key for it")
        return self._unwrap_dek(owner, rows[0])

    def detokenize(self, token: str, purpose: str) -> str:
        rows = self.store.read("token_map").where(F.col("token") == token).collect()
        if not rows:
            raise VaultError(f"token {token} is not in the vault")
        row = rows[0]
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

    # -- rotation and erasure --------------------------------------------------------------------

    def rotate(self) -> tuple[str, str, int]:
        """New KEK; every data key re-wrapped under it; old KEKs retired. (old, new, data keys).

        Each step leaves a working vault: the new KEK is added, the data keys are rewritten in
        one commit, then old KEKs are retired and their history vacuumed.
        """
        old = sorted(self._keks)
        row, key = self._new_key("kek")
        self.store.append("keys", self.store.rows("keys", [row]))
        new_id = row[0]
        rewrapped = []
        for r in self.store.read("data_keys").collect():
            wrapped = r["wrapped"]
            if wrapped is not None:
                dek = self._unwrap_dek(r["owner"], r)
                wrapped = bytearray(seal(key, dek, f"dek:{r['owner']}".encode()))
            rewrapped.append((r["owner"], wrapped, new_id, r["created_run"], r["destroyed_at"]))
        self.store.replace("data_keys", self.store.rows("data_keys", rewrapped))
        self._keks[new_id] = key
        self._kek_id = new_id
        self.store.update(
            "keys", {"purpose": "kek", "key_id": old}, {"retired_at": NOW, "wrapped": None}
        )
        for k in old:
            del self._keks[k]
        self.store.purge_history(["keys", "data_keys"])
        self.audit("rotate", "", f"{', '.join(old)} -> {new_id}", "key rotation")
        return ", ".join(old), new_id, len(rewrapped)

    def shred(self, token: str, kind: str, tables: str, rows_deleted: int) -> None:
        """Destroy the data key of a personal token and what it encrypted; record the erasure."""
        self.store.update("data_keys", {"owner": token}, {"wrapped": None, "destroyed_at": NOW})
        self.store.delete("contacts", {"owner": token})
        self.store.update("token_map", {"token": token}, {"value_ct": None})
        self.store.purge_history(["data_keys", "contacts", "token_map"])
        record = (uuid.uuid4().hex, token, kind, _now(), self.ctx.run_id, tables, rows_deleted)
        self.store.append("erasures", self.store.rows("erasures", [record]))
        self.audit("erase", token, tables, "right to be forgotten")

    def erased_at(self, token: str):
        rows = self.store.read("erasures").where(F.col("token") == token).collect()
        return rows[0]["erased_at"] if rows else None
