"""Key providers and envelope encryption with AES-256-GCM (the `cryptography` package).

The hierarchy: a provider (a local key file, or AWS KMS) wraps the vault's key-encryption key
(KEK) and its blind-index key; the KEK wraps one data key (DEK) per customer; DEKs encrypt
values. Rotating the KEK re-wraps DEKs and re-encrypts no value; destroying a DEK shreds its
customer. No function here logs or puts key material in an exception message.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jobs.errors import OfferlakeError

KEY_BYTES = 32
NONCE_BYTES = 12


class VaultKeyError(OfferlakeError):
    """A key is missing, unreadable, or does not open what it should."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || AES-256-GCM ciphertext+tag: the layout Spark's aes_encrypt(..., 'GCM') writes."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes, what: str) -> bytes:
    """Decrypt `seal` output; a changed byte or the wrong key is a clear error, never garbage."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise VaultKeyError(
            f"{what}: authentication failed (AES-GCM tag mismatch): the ciphertext was changed "
            "or the key is not the one it was encrypted with; nothing was decrypted"
        ) from None


class KeyProvider(Protocol):
    name: str

    def wrap(self, key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes: ...


class LocalKeyFile:
    """A 32-byte master key in a file readable by its owner only (created 0600 on first use)."""

    name = "local"

    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        if not path.exists():
            if not create:
                raise VaultKeyError(
                    f"key file {path} is missing but the vault already holds keys wrapped by it; "
                    "restore the file from its backup (a new key would make every token "
                    "unreadable, so none is made)"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(os.urandom(KEY_BYTES))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise VaultKeyError(f"key file {path} has mode {mode:o}; allow its owner only (600)")
        self._key = path.read_bytes()
        if len(self._key) != KEY_BYTES:
            raise VaultKeyError(f"key file {path} does not hold a {KEY_BYTES}-byte key")

    def wrap(self, key: bytes, aad: bytes) -> bytes:
        return seal(self._key, key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return open_sealed(self._key, wrapped, aad, f"key wrapped by {self.path}")

    def __repr__(self) -> str:
        return f"LocalKeyFile({self.path})"


class KmsKeys:
    """AWS KMS wraps the vault keys (Encrypt/Decrypt with the key id and an encryption context)."""

    name = "kms"

    def __init__(self, key_id: str, client=None) -> None:
        import boto3

        self.key_id = key_id
        self._kms = client or boto3.client("kms")

    def wrap(self, key: bytes, aad: bytes) -> bytes:
        reply = self._kms.encrypt(
            KeyId=self.key_id, Plaintext=key, EncryptionContext={"purpose": aad.decode()}
        )
        return reply["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        try:
            reply = self._kms.decrypt(
                KeyId=self.key_id,
                CiphertextBlob=wrapped,
                EncryptionContext={"purpose": aad.decode()},
            )
        except Exception as exc:  # botocore's InvalidCiphertextException and kin
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise VaultKeyError(
                f"KMS key {self.key_id} could not unwrap a vault key ({code})"
            ) from None
        return reply["Plaintext"]

    def __repr__(self) -> str:
        return f"KmsKeys({self.key_id})"
