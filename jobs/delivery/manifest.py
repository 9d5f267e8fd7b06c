"""The handoff's manifest: proof, for on-prem delivery, that a handoff folder holds exactly what
the lake exported.

`lake/handoff/<run>/_manifest.json` sits beside the Parquet files (a leading `_` keeps Spark's
Parquet reader off it) and names the run, the row count and every file with its size and
SHA-256. `verify` refuses the folder whole, with one error naming every file at fault, when a
file changed, went missing or was added, when the rows disagree, or when the manifest itself is
missing or malformed. Files are read through pyarrow's filesystems: a local folder or s3a://.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from jobs.errors import OfferlakeError
from jobs.runtime.storage import filesystem

MANIFEST = "_manifest.json"
FORMAT = "offerlake-handoff/1"
CHUNK = 1 << 20


class HandoffError(OfferlakeError):
    """A handoff folder is not what its manifest says (or has no valid manifest)."""


@dataclass(frozen=True)
class Manifest:
    run_id: str
    rows: int
    files: dict[str, dict]  # file name -> {"bytes": n, "sha256": hex, "rows": n}

    def to_json(self) -> str:
        body = {"format": FORMAT, "run_id": self.run_id, "rows": self.rows, "files": self.files}
        return json.dumps(body, indent=2, sort_keys=True)


def list_files(fs: pafs.FileSystem, folder: str) -> list[str]:
    """Names of the files directly in folder (the manifest included)."""
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.File)


def _sha256(fs: pafs.FileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(fs: pafs.FileSystem, folder: str, name: str) -> dict:
    path = f"{folder}/{name}"
    with fs.open_input_file(path) as handle:
        rows = pq.ParquetFile(handle).metadata.num_rows
    size = fs.get_file_info(path).size
    return {"bytes": size, "sha256": _sha256(fs, path), "rows": rows}


def write(folder: str, run_id: str) -> Manifest:
    """Describe every Parquet file of folder in its manifest, written last (the commit mark)."""
    fs, root = filesystem(folder)
    names = [n for n in list_files(fs, root) if n != MANIFEST]
    files = {n: _describe(fs, root, n) for n in names}
    manifest = Manifest(run_id, sum(f["rows"] for f in files.values()), files)
    with fs.open_output_stream(f"{root}/{MANIFEST}") as out:
        out.write(manifest.to_json().encode())
    return manifest


def _parse(text: bytes, where: str) -> Manifest:
    try:
        body = json.loads(text)
        if body.get("format") != FORMAT:
            raise ValueError(f"format is {body.get('format')!r}, expected {FORMAT!r}")
        files = body["files"]
        for name, entry in files.items():
            if not {"bytes", "sha256", "rows"} <= set(entry):
                raise ValueError(f"entry {name!r} lacks bytes, sha256 or rows")
        return Manifest(str(body["run_id"]), int(body["rows"]), dict(files))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise HandoffError(f"{where}: malformed manifest: {e}") from None


def verify(folder: str) -> Manifest:
    """The folder's manifest, once every file is checked against it; else HandoffError."""
    fs, root = filesystem(folder)
    where = f"{folder}/{MANIFEST}"
    present = list_files(fs, root)
    if MANIFEST not in present:
        raise HandoffError(f"{where}: no manifest; the handoff is incomplete or not a handoff")
    with fs.open_input_stream(f"{root}/{MANIFEST}") as stream:
        manifest = _parse(stream.read(), where)
    on_disk = set(present) - {MANIFEST}
    faults = [f"missing file {n}" for n in sorted(set(manifest.files) - on_disk)]
    faults += [f"extra file {n}" for n in sorted(on_disk - set(manifest.files))]
    for name in sorted(on_disk & set(manifest.files)):
        if _sha256(fs, f"{root}/{name}") != manifest.files[name]["sha256"]:
            faults.append(f"changed file {name} (SHA-256 differs)")
    listed = sum(int(f["rows"]) for f in manifest.files.values())
    if listed != manifest.rows:
        faults.append(f"the manifest says {manifest.rows} rows but its files list {listed}")
    if faults:
        raise HandoffError(f"{folder}: handoff refused: " + "; ".join(faults))
    return manifest


def read_verified(folder: str) -> tuple[Manifest, pa.Table | None]:
    """The verified manifest and the handoff's rows, parsed from the very bytes whose SHA-256
    matched (a file swapped between the check and the read is refused, not read)."""
    manifest = verify(folder)
    fs, root = filesystem(folder)
    tables = []
    for name in sorted(manifest.files):
        with fs.open_input_stream(f"{root}/{name}") as stream:
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != manifest.files[name]["sha256"]:
            raise HandoffError(f"{folder}: handoff refused: changed file {name} (while reading)")
        tables.append(pq.read_table(pa.BufferReader(data)))
    if not tables:
        return manifest, None
    return manifest, pa.concat_tables(tables)
