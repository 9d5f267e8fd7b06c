"""Keyed hashing and AES-GCM as Spark column expressions, with keys passed as data, not literals.

Key material enters a plan only as a column of a one-row DataFrame built from Python rows, so
`explain()`, the Spark UI and the event log show a scan of an RDD and never the bytes (a
literal would be printed). HMAC-SHA256 is RFC 2104 over Spark's sha2: H(K^opad || H(K^ipad || m)),
checked against Python's `hmac` in the tests.
"""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

BLOCK = 64  # SHA-256 block size
DIGITS_TO_LETTERS = ("0123456789", "qrstuvwxyz")  # hex digits 0-9 -> letters outside a-f
TOKEN_LETTERS = 24  # 96 random bits


def hmac_pads(key: bytes) -> tuple[bytearray, bytearray]:
    padded = key.ljust(BLOCK, b"\0")
    return bytearray(b ^ 0x36 for b in padded), bytearray(b ^ 0x5C for b in padded)


def key_row(spark: SparkSession, **keys: bytes) -> DataFrame:
    """One row of binary columns: `<name>_i`/`<name>_o` HMAC pads for each key."""
    values, names = [], []
    for name, key in keys.items():
        inner, outer = hmac_pads(key)
        values += [inner, outer]
        names += [f"`_{name}_i` binary", f"`_{name}_o` binary"]
    return spark.createDataFrame([tuple(values)], ", ".join(names))


def with_keys(df: DataFrame, keys: DataFrame) -> DataFrame:
    return df.crossJoin(F.broadcast(keys))


def hmac_hex(message: Column, key: str) -> Column:
    """Hex HMAC-SHA256 of a string column under the key `key` joined in by `with_keys`."""
    inner = F.unhex(F.sha2(F.concat(F.col(f"_{key}_i"), message.cast("binary")), 256))
    return F.sha2(F.concat(F.col(f"_{key}_o"), inner), 256)


def hmac_hex_py(message: str, key: bytes) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def normalized(value: Column) -> Column:
    """The text a value is tokenized by: `1`, `1.0`-free integers, trimmed strings."""
    return F.trim(value.cast("string"))


def blind_index(value: Column, kind: Column, key: str = "index") -> Column:
    """HMAC of `<kind>:<value>`: the same value of two kinds has two unrelated indexes."""
    return hmac_hex(F.concat(kind, F.lit(":"), value), key)


def blind_index_py(value: str, kind: str, key: bytes) -> str:
    return hmac_hex_py(f"{kind}:{value.strip()}", key)


def token_text(prefix: Column, seed: Column) -> Column:
    """`cl_` + 24 letters drawn from a hex digest: no digits, never read as a phone or card."""
    letters = F.translate(F.substring(seed, 1, TOKEN_LETTERS), *DIGITS_TO_LETTERS)
    return F.concat(prefix, F.lit("_"), letters)


def derived_key(owner: Column, key: str) -> Column:
    """32 key bytes: HMAC-SHA256(secret `key`, owner). With a secret that is random per run
    and never stored, the bytes are as good as random, and a plan recomputed within the run
    derives the same ones."""
    return F.unhex(hmac_hex(owner, key))


def aes_gcm_open(sealed: Column, key: Column, aad: Column) -> Column:
    """Inverse of `aes_gcm`; a changed byte or the wrong key fails the Spark job (GCM tag)."""
    return F.aes_decrypt(sealed, key, F.lit("GCM"), F.lit("DEFAULT"), aad.cast("binary"))


def aes_gcm(value: Column, key: Column, aad: Column) -> Column:
    """AES-256-GCM, random 12-byte IV: IV || ciphertext || tag (opens with `keys.open_sealed`)."""
    return F.aes_encrypt(
        value.cast("binary"),
        key,
        F.lit("GCM"),
        F.lit("DEFAULT"),
        F.unhex(F.lit("")),
        aad.cast("binary"),
    )
