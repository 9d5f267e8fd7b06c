"""An independent search for a customer's clear values in every file of a lake: pyarrow for
Parquet (cells and footer statistics), plain text for everything else (Delta logs, JSON lines,
queues), base64 cells decoded as UTF-8 and as EBCDIC. No project code: it must see what the
project's own erasure and leak scan might miss.

Text values (names, e-mails, card numbers, device ids) are looked for anywhere (short ones as
whole words).
Short numeric ids would match any number, so they are looked for where an id is written: a cell
of a column of that name, a JSON field of that name, or a Delta commit's predicate.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

BASE64 = re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}$")


@dataclass(frozen=True)
class Found:
    file: str
    where: str  # column, "statistics", "line N", "predicate"
    value: str


def _word(value: str) -> re.Pattern:
    """Long values anywhere; short ones as whole words."""
    if len(value) >= 8:
        return re.compile(re.escape(value))
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])")


def _decoded(cell: str) -> list[str]:
    """The cell, and when it looks like base64, its bytes as UTF-8 and as EBCDIC."""
    texts = [cell]
    if BASE64.match(cell):
        try:
            raw = base64.b64decode(cell, validate=True)
        except (binascii.Error, ValueError):
            return texts
        texts += [raw.decode("utf-8", "replace"), raw.decode("cp037")]
    return texts


class Search:
    def __init__(self, texts: set[str], ids: dict[str, set[str]]) -> None:
        """texts: values looked for anywhere; ids: column name -> numeric ids of that column."""
        self.texts = {v: _word(v) for v in texts if v}
        self.ids = ids
        self.found: list[Found] = []
        names = "|".join(re.escape(c) for c in ids)
        values = {v for vs in ids.values() for v in vs}
        self._field = re.compile(rf'"({names})"\s*:\s*"?\s*0*(\d+)\s*"?') if ids else None
        self._number = {v: re.compile(rf"(?<![0-9A-Za-z_.#-])0*{v}(?![0-9.])") for v in values}

    def _text(self, file: str, where: str, text: str) -> None:
        for value, pattern in self.texts.items():
            if value in text and pattern.search(text):
                self.found.append(Found(file, where, value))

    def _id_fields(self, file: str, where: str, text: str) -> None:
        if self._field is None:
            return
        for m in self._field.finditer(text):
            if m.group(2) in self.ids.get(m.group(1), ()):
                self.found.append(Found(file, where, f"{m.group(1)}={m.group(2)}"))

    def _predicate(self, file: str, text: str) -> None:
        for value, pattern in self._number.items():
            if pattern.search(text):
                self.found.append(Found(file, "predicate", value))

    def parquet(self, path: Path, label: str) -> None:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                stats = meta.row_group(g).column(c).statistics
                if stats is not None and stats.has_min_max:
                    for bound in (stats.min, stats.max):
                        self._text(label, "statistics", str(bound))
        table = pf.read()
        for name in table.column_names:
            column = name.split(".")[-1]
            for cell in table.column(name).to_pylist():
                if cell is None:
                    continue
                text = cell if isinstance(cell, str) else json.dumps(cell, default=str)
                if isinstance(cell, int | str) and str(cell).lstrip("0") in self.ids.get(
                    column, ()
                ):
                    self.found.append(Found(label, column, str(cell)))
                for decoded in _decoded(text) if isinstance(cell, str) else [text]:
                    self._text(label, column, decoded)
                    self._id_fields(label, column, decoded)

    def text(self, path: Path, label: str) -> None:
        content = path.read_bytes().decode("utf-8", "replace")
        for n, line in enumerate(content.splitlines(), 1):
            where = f"line {n}"
            self._text(label, where, line)
            self._id_fields(label, where, line)
            if '"commitInfo"' in line:
                params = json.loads(line)["commitInfo"].get("operationParameters", {})
                self._predicate(label, json.dumps(params))


def search(roots: list[Path], texts: set[str], ids: dict[str, set[str]], skip=()) -> list[Found]:
    """Every place under the roots (but the `skip` folders) holding one of the values."""
    found = Search(texts, ids)
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if any(part in skip for part in path.relative_to(root).parts):
                continue
            label = str(path.relative_to(root.parent))
            if path.suffix == ".parquet":
                found.parquet(path, label)
            else:
                found.text(path, label)
    return found.found
