"""A swapped key file and a replayed erasure: each is refused, and nothing changes."""

from __future__ import annotations

import os

from pyspark.sql import functions as F

from jobs.cli import main
from tests.lakes import copy_lake


def _versions(lake) -> dict[str, int]:
    """Each Delta table's newest commit number, under onprem/ and lake/."""
    logs = sorted(lake.root.rglob("_delta_log"))
    return {str(p.parent): max(int(f.stem) for f in p.glob("*.json")) for p in logs}


def test_a_swapped_key_file_opens_nothing_and_changes_nothing(gated, tmp_path, capsys):
    lake = copy_lake(gated[0], tmp_path)
    client = lake.table("raw/crm_clients").orderBy("client_id").first()
    token = lake.table("stage/crm_clients").first().client_id
    key = lake.root / "onprem" / "keys" / "vault.key"
    fd = os.open(key, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, os.urandom(32))  # a well-formed key, not the vault's
    os.close(fd)
    before = _versions(lake)
    assert main(["--lake", str(lake.root), "vault", "detokenize", "--token", token]) == 1
    err = capsys.readouterr()
    assert "authentication failed" in err.err and str(client.email) not in err.out + err.err
    assert main(["--lake", str(lake.root), "vault", "erase", "--client-id",
                 str(client.client_id)]) == 1  # fmt: skip
    assert "authentication failed" in capsys.readouterr().err
    assert _versions(lake) == before, "no table was written with the wrong key"
    assert lake.table("raw/crm_clients").where(F.col("client_id") == client.client_id).count()


def test_a_replayed_erasure_is_refused_and_changes_nothing(gated, tmp_path, capsys):
    lake = copy_lake(gated[0], tmp_path)
    client = lake.table("raw/crm_clients").orderBy("client_id").first().client_id
    erase = ["--lake", str(lake.root), "vault", "erase", "--client-id", str(client)]
    assert main(erase) == 0
    capsys.readouterr()
    before = _versions(lake)
    assert main(erase) == 1
    assert "already erased" in capsys.readouterr().err
    assert _versions(lake) == before
