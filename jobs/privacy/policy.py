"""conf/privacy.yaml -> a typed PrivacyPolicy: one action per raw column, checked before any write.

Fail closed: `check_covers` raises for a raw table or column the policy does not name, so the
gate never copies a column nobody decided about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.errors import ConfigError
from jobs.runtime.config import load_yaml

ACTIONS = ("keep", "drop", "generalize", "mask", "tokenize", "encrypt")
GENERALIZER_TYPES = {
    "age_band": ("width",),
    "band": ("width",),
    "year": (),
    "month": (),
    "years_start": ("years",),
    "prefix": ("length",),
    "grid": ("cell",),
}
_ACTION = re.compile(
    r"^(?P<verb>keep|drop|encrypt|tokenize|mask|generalize)"
    r"(?:\s+(?P<arg>[A-Za-z0-9_.]+))?(?:\s+as\s+(?P<alias>[A-Za-z_][A-Za-z0-9_]*))?$"
)


class PolicyError(ConfigError):
    """conf/privacy.yaml does not cover a raw column, or says something impossible."""


@dataclass(frozen=True)
class Action:
    verb: str
    arg: str = ""  # tokenize: kind; mask: characters kept; generalize: rule name
    output: str = ""  # the stage column written (drop/encrypt: none)


@dataclass(frozen=True)
class Kind:
    name: str
    prefix: str
    personal: bool = False


@dataclass(frozen=True)
class Generalizer:
    name: str
    type: str
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class KAnonymity:
    table: str
    k: int
    quasi_identifiers: tuple[str, ...]
    suppress: tuple[str, ...]


@dataclass(frozen=True)
class ConsentRule:
    """Columns of `table` that stage holds only for customers who consented: the row's `owner`
    column matches a row of `flag_table` (by the column tokenized with the owner's kind) whose
    `flag_column` is true."""

    table: str
    owner: str
    flag_table: str
    flag_column: str
    flag_owner: str  # the flag table's column matched with `owner`
    columns: tuple[str, ...]
    # stage's older versions (coordinates of a customer who has since withdrawn consent) are
    # vacuumed after this long
    history_hours: float = 168.0


@dataclass(frozen=True)
class TablePolicy:
    name: str
    columns: dict[str, tuple[Action, ...]]
    owner: str | None = None  # column whose token owns this table's encrypted values
    # a date column: a row reaches stage once the run date reaches it (a customer who joins
    # after the gated date is not one yet); the exact date itself stays on-prem
    not_before: str | None = None

    def tokenized(self) -> dict[str, str]:
        """column -> kind, for the columns this table tokenizes."""
        return {c: a.arg for c, acts in self.columns.items() for a in acts if a.verb == "tokenize"}

    def encrypted(self) -> list[str]:
        return [c for c, acts in self.columns.items() if any(a.verb == "encrypt" for a in acts)]


@dataclass(frozen=True)
class VaultSettings:
    store: str = "delta"
    postgres_url: str = ""
    postgres_prefix: str = "vault_"  # table names: <prefix>token_map, ...
    key_provider: str = "local"
    kms_key_id: str = ""
    # how long a job waits for the vault's lock that another job holds (gate, erasure, rotate:
    # alone; delivery and readers: together)
    lock_timeout_seconds: float = 3600.0


@dataclass(frozen=True)
class PrivacyPolicy:
    source: Path
    vault: VaultSettings
    kinds: dict[str, Kind]
    generalizers: dict[str, Generalizer]
    tables: dict[str, TablePolicy]
    lineage: dict[str, tuple[Action, ...]]
    k_anonymity: dict[str, KAnonymity]
    identifying_drops: frozenset[str] = frozenset()  # "table.column" the leak scan matches
    name_columns: frozenset[str] = frozenset()  # "table.column" holding people's names
    linked: dict[str, str] = field(default_factory=dict)  # kind -> SQL of (value, client_id)
    reachability: dict[str, str] = field(default_factory=dict)  # channel -> "table.column"
    lake_purge_after_hours: float = 12.0  # see jobs/privacy/purges.py
    consent: dict[str, ConsentRule] = field(default_factory=dict)  # table -> its rule

    def table(self, name: str) -> TablePolicy:
        if name not in self.tables:
            raise PolicyError(
                f"{self.source}: raw table {name} has no entry under `tables:`; every raw table "
                "needs one action per column before the gate copies anything (fail closed)"
            )
        return self.tables[name]

    def actions(self, table: str, column: str) -> tuple[Action, ...]:
        if column in self.lineage:
            return self.lineage[column]
        columns = self.table(table).columns
        if column not in columns:
            raise PolicyError(
                f"{self.source}: raw column {table}.{column} has no action (keep, drop, "
                "generalize, mask, tokenize or encrypt); the gate stops rather than guess"
            )
        return columns[column]

    def check_covers(self, table: str, raw_columns: list[str]) -> None:
        """Raise, naming table and column, for the first raw column without an action."""
        for column in raw_columns:
            self.actions(table, column)


def _parse_actions(where: str, text: Any, column: str, kinds: dict, rules: dict) -> tuple:
    if not isinstance(text, str) or not text.strip():
        raise PolicyError(f"{where}: {column}: expected an action such as `keep`, got {text!r}")
    actions = []
    for part in (p.strip() for p in text.split(",")):
        m = _ACTION.match(part)
        if not m:
            raise PolicyError(
                f"{where}: {column}: cannot read action '{part}'; expected one of keep | drop | "
                "encrypt | tokenize KIND | mask N [as NAME] | generalize RULE [as NAME]"
            )
        verb, arg, alias = m["verb"], m["arg"] or "", m["alias"]
        if verb in ("tokenize", "mask", "generalize") and not arg:
            raise PolicyError(f"{where}: {column}: `{verb}` needs an argument")
        if verb in ("keep", "drop", "encrypt") and (arg or alias):
            raise PolicyError(f"{where}: {column}: `{verb}` takes no argument")
        if verb == "tokenize" and arg not in kinds:
            raise PolicyError(
                f"{where}: {column}: unknown token kind {arg}; kinds: {sorted(kinds)}"
            )
        if verb == "generalize" and arg not in rules:
            raise PolicyError(
                f"{where}: {column}: unknown generalizer {arg}; generalizers: {sorted(rules)}"
            )
        if verb == "mask" and not arg.isdigit():
            raise PolicyError(f"{where}: {column}: `mask N` keeps N last characters; got {arg}")
        output = "" if verb in ("drop", "encrypt") else alias or column
        actions.append(Action(verb, arg, output))
    verbs = [a.verb for a in actions]
    if len(actions) > 1 and ({"drop", "encrypt", "keep"} & set(verbs)):
        raise PolicyError(f"{where}: {column}: keep, drop and encrypt stand alone, got {text!r}")
    outputs = [a.output for a in actions]
    if len(set(outputs)) != len(outputs):
        raise PolicyError(f"{where}: {column}: two actions write the same column; add `as NAME`")
    return tuple(actions)


def _mapping(where: str, raw: Any, what: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: `{what}` must be a mapping")
    return raw


def _seconds(where: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds < 0:
        raise PolicyError(f"{where}: vault.lock_timeout_seconds must be a number >= 0, got {value}")
    return seconds


def load_policy(conf_dir: Path) -> PrivacyPolicy:
    path = conf_dir / "privacy.yaml"
    raw = load_yaml(path)
    where = str(path)
    v = _mapping(where, raw.get("vault"), "vault")
    vault = VaultSettings(
        store=str(v.get("store", "delta")),
        postgres_url=str(v.get("postgres_url", "")),
        postgres_prefix=str(v.get("postgres_prefix", "vault_")),
        key_provider=str(v.get("key_provider", "local")),
        kms_key_id=str(v.get("kms_key_id", "")),
        lock_timeout_seconds=_seconds(where, v.get("lock_timeout_seconds", 3600.0)),
    )
    if vault.store not in ("delta", "postgres"):
        raise PolicyError(f"{where}: vault.store must be delta or postgres, got {vault.store}")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", vault.postgres_prefix):
        raise PolicyError(f"{where}: vault.postgres_prefix must be lower-case letters, digits, _")
    if vault.key_provider not in ("local", "kms"):
        raise PolicyError(f"{where}: vault.key_provider must be local or kms")
    kinds = {}
    for name, spec in _mapping(where, raw.get("kinds"), "kinds").items():
        spec = _mapping(where, spec, f"kinds.{name}")
        prefix = str(spec.get("prefix", ""))
        if not re.fullmatch(r"[a-z]{2,4}", prefix):
            raise PolicyError(f"{where}: kinds.{name}.prefix must be 2-4 lower-case letters")
        kinds[name] = Kind(name, prefix, bool(spec.get("personal", False)))
    if len({k.prefix for k in kinds.values()}) != len(kinds):
        raise PolicyError(f"{where}: two token kinds share a prefix")
    rules = {}
    for name, spec in _mapping(where, raw.get("generalizers"), "generalizers").items():
        spec = dict(_mapping(where, spec, f"generalizers.{name}"))
        kind = spec.pop("type", None)
        if kind not in GENERALIZER_TYPES:
            raise PolicyError(
                f"{where}: generalizers.{name}.type must be one of {sorted(GENERALIZER_TYPES)}"
            )
        missing = [p for p in GENERALIZER_TYPES[kind] if p not in spec]
        if missing or set(spec) - set(GENERALIZER_TYPES[kind]):
            raise PolicyError(
                f"{where}: generalizers.{name} ({kind}) takes {list(GENERALIZER_TYPES[kind])}"
            )
        if any(not isinstance(x, int | float) or x <= 0 for x in spec.values()):
            raise PolicyError(f"{where}: generalizers.{name}: parameters must be positive numbers")
        rules[name] = Generalizer(name, kind, {k: float(x) for k, x in spec.items()})
    lineage = {
        c: _parse_actions(f"{where}: lineage", a, c, kinds, rules)
        for c, a in _mapping(where, raw.get("lineage"), "lineage").items()
    }
    tables = {}
    for name, spec in _mapping(where, raw.get("tables"), "tables").items():
        spec = _mapping(where, spec, f"tables.{name}")
        at = f"{where}: tables.{name}"
        columns = {
            c: _parse_actions(at, a, c, kinds, rules)
            for c, a in _mapping(at, spec.get("columns"), "columns").items()
        }
        table = TablePolicy(name, columns, spec.get("owner"), spec.get("not_before"))
        if table.not_before is not None and table.not_before not in columns:
            raise PolicyError(f"{at}: not_before: {table.not_before} is not a column of {name}")
        if table.encrypted():
            owner_kind = table.tokenized().get(table.owner or "")
            if not owner_kind or not kinds[owner_kind].personal:
                raise PolicyError(
                    f"{at}: encrypted columns {table.encrypted()} need `owner:` naming a column "
                    "tokenized with a personal kind (its customer's data key encrypts them)"
                )
        tables[name] = table
    k_anon = {}
    for name, spec in _mapping(where, raw.get("k_anonymity"), "k_anonymity").items():
        spec = _mapping(where, spec, f"k_anonymity.{name}")
        qis = tuple(spec.get("quasi_identifiers", ()))
        suppress = tuple(spec.get("suppress", qis))
        if not qis or set(suppress) - set(qis) or int(spec.get("k", 0)) < 2:
            raise PolicyError(
                f"{where}: k_anonymity.{name} needs k >= 2, quasi_identifiers, and suppress "
                "listing only quasi-identifiers"
            )
        table = tables.get(name, TablePolicy(name, {}))
        outputs = {a.output for acts in table.columns.values() for a in acts if a.output}
        if set(qis) - outputs:
            raise PolicyError(
                f"{where}: k_anonymity.{name}: {sorted(set(qis) - outputs)} are not stage columns "
                f"of {name}"
            )
        k_anon[name] = KAnonymity(name, int(spec["k"]), qis, suppress)
    scan = _mapping(where, raw.get("leakscan"), "leakscan")
    drops = frozenset(str(x) for x in scan.get("identifying_drops", ()))
    for ref in drops:
        name, _, column = ref.partition(".")
        actions = tables.get(name, TablePolicy(name, {})).columns.get(column, ())
        if [a.verb for a in actions] != ["drop"]:
            raise PolicyError(f"{where}: leakscan.identifying_drops: {ref} is not a dropped column")
    names = frozenset(str(x) for x in scan.get("names", ()))
    erasure = _mapping(where, raw.get("erasure"), "erasure")
    linked = {str(k): str(q) for k, q in _mapping(where, erasure.get("linked"), "linked").items()}
    for kind in linked:
        if kind not in kinds or kind == "client":
            raise PolicyError(f"{where}: erasure.linked.{kind}: not a token kind (or is client)")
    purge_after = erasure.get("lake_purge_after_hours", 12.0)
    if isinstance(purge_after, bool) or not isinstance(purge_after, int | float) or purge_after < 0:
        raise PolicyError(
            f"{where}: erasure.lake_purge_after_hours must be a number >= 0, got {purge_after!r}"
        )
    reach = {
        str(k): str(v) for k, v in _mapping(where, raw.get("reachability"), "reachability").items()
    }
    for channel, ref in reach.items():
        name, _, column = ref.partition(".")
        if column not in tables.get(name, TablePolicy(name, {})).encrypted():
            raise PolicyError(f"{where}: reachability.{channel}: {ref} is not an encrypted column")
    consent = {
        name: _consent_rule(where, tables, name, spec)
        for name, spec in _mapping(where, raw.get("consent"), "consent").items()
    }
    return PrivacyPolicy(
        path, vault, kinds, rules, tables, lineage, k_anon, drops, names, linked, reach,
        float(purge_after), consent,
    )  # fmt: skip


def _consent_rule(where: str, tables: dict, name: str, spec: Any) -> ConsentRule:
    at = f"{where}: consent.{name}"
    spec = _mapping(where, spec, f"consent.{name}")
    table = tables.get(name)
    if table is None:
        raise PolicyError(f"{at}: no table {name} under `tables:`")
    owner = str(spec.get("owner", ""))
    kind = table.tokenized().get(owner)
    if not kind:
        raise PolicyError(f"{at}: owner {owner!r} is not a tokenized column of {name}")
    flag_table, _, flag_column = str(spec.get("given_by", "")).partition(".")
    flags = tables.get(flag_table)
    if flags is None or flag_column not in flags.columns:
        raise PolicyError(f"{at}: given_by must name a table.column under `tables:`")
    flag_owner = [c for c, k in flags.tokenized().items() if k == kind]
    if len(flag_owner) != 1:
        raise PolicyError(f"{at}: {flag_table} needs one column tokenized as {kind} (the owner's)")
    columns = tuple(str(c) for c in spec.get("columns", ()))
    if not columns or set(columns) - set(table.columns):
        raise PolicyError(f"{at}: columns must list columns of {name}")
    hours = spec.get("history_hours", 168.0)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
        raise PolicyError(f"{at}: history_hours must be a number >= 0, got {hours!r}")
    return ConsentRule(name, owner, flag_table, flag_column, flag_owner[0], columns, float(hours))
