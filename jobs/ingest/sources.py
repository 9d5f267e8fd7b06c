"""conf/sources/<feed>.yaml as typed objects: per format, the tables a feed fills and their fields.

feed: crm
format: jsonl                      # which entry of `formats` this bank uses
formats:
  jsonl:
    crm_clients:
      reader: jsonl                # jsonl | csv | cobol | jdbc | geojson | plt
      files: "crm_clients*.jsonl"
      keys: [client_id]
      fields:
        client_id: {type: long, required: true, min: 1}
        first_name: {from: name.first, required: true}
      derive:                      # Spark SQL over the typed fields
        birth_year: "year(date_of_birth)"
        ts: {expr: "to_timestamp(...)", required: true}   # null -> quarantined
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import ConfigError
from jobs.runtime.config import load_yaml

READERS = ("jsonl", "csv", "cobol", "jdbc", "geojson", "plt")
SCALAR_TYPES = ("string", "int", "long", "double", "boolean", "date", "timestamp")
SPECIAL_TYPES = ("money", "yes_no", "array")  # "$1,234.50", "Yes"/"No", JSON array of strings
DECIMAL = re.compile(r"decimal\(\d+,\d+\)")
DRIFT_POLICIES = ("quarantine", "fail")


@dataclass(frozen=True)
class FieldSpec:
    """One typed column: where it comes from in the record, its type and its row-level rules."""

    name: str
    source: str  # path in the JSON record ("name.first"), CSV column or copybook field
    type: str = "string"
    format: str | None = None  # date/timestamp pattern, e.g. "yyMMdd"
    required: bool = False
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    pattern: str | None = None
    keep: bool = True  # False: only an input to `derive`, not a column of the table


@dataclass(frozen=True)
class TableSpec:
    """One raw table filled by a feed: reader, files, fields, keys and write layout."""

    feed: str
    name: str
    reader: str
    files: str = "*"
    fields: tuple[FieldSpec, ...] = ()
    derive: dict[str, str] = field(default_factory=dict)
    derive_required: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    on_unknown_column: str = "quarantine"
    expectations: tuple[dict[str, Any], ...] = ()
    source_file: Path | None = None

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields if f.keep] + list(self.derive)


@dataclass(frozen=True)
class FeedSpec:
    name: str
    format: str
    tables: tuple[TableSpec, ...]
    path: Path


def _field(path: Path, table: str, name: str, raw: Any) -> FieldSpec:
    where = f"{path}: {table}.fields.{name}"
    raw = raw or {}
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{type: long, required: true}}")
    unknown = set(raw) - {
        "from",
        "type",
        "format",
        "required",
        "min",
        "max",
        "values",
        "pattern",
        "keep",
    }
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    kind = str(raw.get("type", "string"))
    if kind not in SCALAR_TYPES + SPECIAL_TYPES and not DECIMAL.fullmatch(kind):
        raise ConfigError(
            f"{where}: type '{kind}' is not one of {list(SCALAR_TYPES + SPECIAL_TYPES)} "
            "or decimal(p,s)"
        )
    return FieldSpec(
        name=name,
        source=str(raw.get("from", name)),
        type=kind,
        format=raw.get("format"),
        required=bool(raw.get("required", False)),
        min=raw.get("min"),
        max=raw.get("max"),
        values=tuple(str(v) for v in raw.get("values", ())),
        pattern=raw.get("pattern"),
        keep=bool(raw.get("keep", True)),
    )


def _table(path: Path, feed: str, name: str, raw: Any) -> TableSpec:
    where = f"{path}: {name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with reader, files, fields")
    reader = raw.get("reader")
    if reader not in READERS:
        raise ConfigError(f"{where}: reader '{reader}' is not one of {list(READERS)}")
    fields = tuple(_field(path, name, k, v) for k, v in (raw.get("fields") or {}).items())
    derive, derive_required = {}, []
    for column, rule in (raw.get("derive") or {}).items():
        if isinstance(rule, dict):  # {expr: "...", required: true}
            derive[str(column)] = str(rule.get("expr", ""))
            if rule.get("required"):
                derive_required.append(str(column))
        else:
            derive[str(column)] = str(rule)
    columns = [f.name for f in fields if f.keep] + list(derive)
    for key in list(raw.get("keys", [])) + list(raw.get("partition_by", [])):
        if key not in columns:
            raise ConfigError(f"{where}: key or partition column '{key}' is not a column")
    drift = raw.get("on_unknown_column", "quarantine")
    if drift not in DRIFT_POLICIES:
        raise ConfigError(f"{where}: on_unknown_column must be one of {list(DRIFT_POLICIES)}")
    return TableSpec(
        feed=feed,
        name=name,
        reader=reader,
        files=str(raw.get("files", "*")),
        fields=fields,
        derive=derive,
        derive_required=tuple(derive_required),
        keys=tuple(raw.get("keys", ())),
        partition_by=tuple(raw.get("partition_by", ())),
        options=dict(raw.get("options") or {}),
        on_unknown_column=drift,
        expectations=tuple(raw.get("expectations") or ()),
        source_file=path,
    )


def load_feed(path: Path, format: str | None = None) -> FeedSpec:
    """One conf/sources/<feed>.yaml, with `format` (if given) overriding the file's choice."""
    data = load_yaml(path)
    feed = data.get("feed", path.stem)
    formats = data.get("formats")
    if not isinstance(formats, dict) or not formats:
        raise ConfigError(f"{path}: key 'formats' must map format names to their tables")
    chosen = format or data.get("format")
    if chosen not in formats:
        raise ConfigError(f"{path}: format '{chosen}' is not one of {sorted(formats)}")
    tables = formats[chosen]
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: formats.{chosen} must map table names to table specs")
    return FeedSpec(
        name=feed,
        format=chosen,
        tables=tuple(_table(path, feed, n, t) for n, t in tables.items()),
        path=path,
    )


def load_sources(conf_dir: Path, formats: dict[str, str] | None = None) -> list[FeedSpec]:
    """Every feed in conf/sources/, in file-name order; `formats` picks a layout per feed."""
    formats = formats or {}
    folder = conf_dir / "sources"
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no sources folder (one YAML file per feed expected)")
    feeds = [load_feed(p, formats.get(p.stem)) for p in sorted(folder.glob("*.yaml"))]
    unknown = set(formats) - {f.name for f in feeds}
    if unknown:
        raise ConfigError(f"{folder}: no source config for feed(s) {sorted(unknown)}")
    return feeds


def ingest_schedule(conf_dir: Path) -> str:
    """When the daily ingest runs: conf/lake.yaml `schedule.ingest`, a cron expression (UTC)."""
    return str((load_yaml(conf_dir / "lake.yaml").get("schedule") or {}).get("ingest", "@daily"))


def feed_names(conf_dir: Path) -> list[str]:
    """The feeds configured in conf/sources/ (file names only: nothing parsed)."""
    return sorted(p.stem for p in (conf_dir / "sources").glob("*.yaml"))
