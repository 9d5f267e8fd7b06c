"""The feature catalog: `conf/features/*.yaml` -> a flat list of metrics, checked before a run.

A file holds `families:` (and may hold `sources:`, see `sources.yaml`). A family is a metric
template that expands over its `by` labels, `window`s and `agg`s:

    - name: card_spend_{mcc_group}_{window}_{agg}
      description: "{agg} of card spend at {mcc_group} merchants, {window}"
      source: card_transactions
      filter: amount > 0               # Spark SQL boolean over the source's columns
      value: amount                    # what is aggregated (not needed by count)
      by: mcc_group                    # a dimension from `dimensions:`: label -> condition
      window: [last_30d, last_90d, all]
      agg: [sum, count]
      type: double

A family with one window, one agg and no `by` is a single metric; `derived:` metrics are SQL
expressions over other metrics and the customer's CRM attributes. Every mistake names the file
and the metric.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jobs.errors import OfferlakeError
from jobs.model import expressions
from jobs.model.windows import Window, parse_window

AGGS = (
    "sum",
    "count",
    "avg",
    "min",
    "max",
    "stddev",
    "count_distinct",
    "share",  # this label's sum / the sum over all labels of the family, same window
    "months_where",  # calendar months in the window whose monthly sum meets `threshold`
    "mode",  # the most frequent numeric value (ties: the greater value)
)
TYPES = ("long", "double", "boolean", "string")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CatalogError(OfferlakeError):
    """The feature catalog is wrong: unknown column, bad expression, duplicate name..."""


@dataclass(frozen=True)
class Source:
    """How a stage table reaches the customer: its id column, the key map, its time column."""

    table: str
    customer: str  # column holding the token
    via: str  # "client" (already a client token) or a key map: account, card_user, visitor
    time: str | None  # event time column; None for tables without history
    ally: str | None = None  # column matching stage/allies.merchant_name: adds `ally_id`


@dataclass(frozen=True)
class Family:
    index: int
    file: str
    name: str  # template
    description: str
    source: str
    filter: str
    value: str | None
    by: str | None  # dimension name
    labels: tuple[tuple[str, str], ...]  # (label, condition) of the dimension
    windows: tuple[Window, ...]
    aggs: tuple[str, ...]
    type: str
    threshold: float | None = None  # months_where


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    family: Family | None  # None for a derived metric
    label: str | None = None
    window: Window | None = None
    agg: str | None = None
    expression: str | None = None  # derived metrics
    type: str = "double"
    file: str = ""  # the YAML file that defines it


@dataclass
class Catalog:
    sources: dict[str, Source]
    families: list[Family]
    metrics: list[Metric]
    derived: list[Metric] = field(default_factory=list)

    def metric(self, name: str) -> Metric:
        for m in self.metrics + self.derived:
            if m.name == name:
                return m
        raise CatalogError(f"no metric named {name} in the feature catalog")

    def of_source(self, table: str) -> list[Family]:
        return [f for f in self.families if f.source == table]

    def derived_levels(self) -> list[list[Metric]]:
        """The derived metrics in as few rounds as their order allows: a metric joins the round
        after the latest earlier derived metric its expression names (so one projection per
        round, not one per metric). A name inside a quoted string only costs an extra round."""
        levels: dict[str, int] = {}
        rounds: list[list[Metric]] = []
        for m in self.derived:
            used = [n for n in levels if re.search(rf"(?<![\w.]){n}(?!\w)", m.expression or "")]
            level = max((levels[n] + 1 for n in used), default=0)
            levels[m.name] = level
            rounds += [[] for _ in range(level + 1 - len(rounds))]
            rounds[level].append(m)
        return rounds


def _fill(template: str, **values: str) -> str:
    text = template
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _expand(family: Family) -> list[Metric]:
    out = []
    labels = family.labels or ((None, None),)
    for (label, _), window, agg in itertools.product(labels, family.windows, family.aggs):
        values = {"window": window.name, "agg": agg}
        if family.by:
            values[family.by] = label
        metric_type = "long" if agg in ("count", "count_distinct", "months_where") else family.type
        out.append(
            Metric(
                name=_fill(family.name, **values),
                description=_fill(family.description, **values),
                family=family,
                label=label,
                window=window,
                agg=agg,
                type=metric_type,
                file=family.file,
            )
        )
    return out


def load_catalog(conf_dir: Path) -> Catalog:
    folder = Path(conf_dir) / "features"
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise CatalogError(f"{folder}: no feature catalog files (*.yaml)")
    docs = {f: yaml.safe_load(f.read_text()) or {} for f in files}
    sources: dict[str, Source] = {}
    dimensions: dict[str, tuple[tuple[str, str], ...]] = {}
    for doc in docs.values():
        for table, spec in (doc.get("sources") or {}).items():
            via, time, ally = spec.get("via", "client"), spec.get("time"), spec.get("ally")
            sources[table] = Source(table, spec["customer"], via, time, ally)
        for dim, labels in (doc.get("dimensions") or {}).items():
            dimensions[dim] = tuple((str(k), str(v)) for k, v in labels.items())
            for label, condition in dimensions[dim]:
                _checked(f"dimension {dim}", f"label {label}", condition)
    families: list[Family] = []
    derived: list[Metric] = []
    for path, doc in docs.items():
        for spec in doc.get("families") or []:
            families.append(_family(path, spec, len(families), sources, dimensions))
        for spec in doc.get("derived") or []:
            where = f"{path.name}: derived metric {spec.get('name')}"
            if not spec.get("name") or not spec.get("expression"):
                raise CatalogError(f"{where}: needs a name and an expression")
            _checked(where, "expression", str(spec["expression"]))
            if spec.get("type", "double") not in TYPES:
                raise CatalogError(f"{where}: unknown type {spec['type']!r}; one of {TYPES}")
            derived.append(
                Metric(
                    name=spec["name"],
                    description=spec.get("description", ""),
                    family=None,
                    expression=spec["expression"],
                    type=spec.get("type", "double"),
                    file=path.name,
                )
            )
    metrics = [m for f in families for m in _expand(f)]
    seen: dict[str, str] = {}
    for m in metrics + derived:
        where = m.file
        if not NAME.match(m.name):
            raise CatalogError(f"{where}: metric name {m.name!r} is not lower_snake_case")
        if m.name in seen:
            raise CatalogError(
                f"{where}: metric {m.name} is defined twice (also in {seen[m.name]})"
            )
        seen[m.name] = where
    return Catalog(sources, families, metrics, derived)


def _checked(where: str, what: str, expression: str) -> None:
    """A SQL snippet that Spark will splice into the model's SELECT: names, literals and
    allowed functions only (jobs/model/expressions.py)."""
    try:
        expressions.check(expression)
    except expressions.ExpressionRefused as refused:
        raise CatalogError(f"{where}: {what} `{expression}`: {refused}") from None


def _family(path: Path, spec: dict, index: int, sources: dict, dimensions: dict) -> Family:
    where = f"{path.name}: metric {spec.get('name', '?')}"
    for key in ("name", "description", "source", "agg"):
        if not spec.get(key):
            raise CatalogError(f"{where}: `{key}` is missing")
    if spec["source"] not in sources:
        raise CatalogError(f"{where}: unknown source table {spec['source']} (see `sources:`)")
    aggs = tuple(str(a) for a in _list(spec["agg"]))
    for agg in aggs:
        if agg not in AGGS:
            raise CatalogError(f"{where}: unknown agg {agg!r}; one of {', '.join(AGGS)}")
    if any(a != "count" for a in aggs) and spec.get("value") is None:
        raise CatalogError(
            f"{where}: `value` is needed by {', '.join(a for a in aggs if a != 'count')}"
        )
    if "months_where" in aggs and spec.get("threshold") is None:
        raise CatalogError(f"{where}: months_where needs a `threshold`")
    for per_value in ("count_distinct", "mode"):
        if {"months_where", per_value} <= set(aggs):
            raise CatalogError(
                f"{where}: months_where and {per_value} cannot share a family; split it in two"
            )
    by = spec.get("by")
    if by is not None and by not in dimensions:
        raise CatalogError(f"{where}: unknown dimension {by!r} in `by`")
    if "share" in aggs and by is None:
        raise CatalogError(f"{where}: share needs `by` (a share of what?)")
    try:
        windows = tuple(parse_window(w) for w in _list(spec.get("window", "all")))
    except ValueError as e:
        raise CatalogError(f"{where}: {e}") from None
    if sources[spec["source"]].time is None and any(w.name != "all" for w in windows):
        raise CatalogError(f"{where}: source {spec['source']} has no time column: window all only")
    placeholders = set(re.findall(r"{(\w+)}", spec["name"]))
    needed = {"window"} if len(windows) > 1 else set()
    needed |= {"agg"} if len(aggs) > 1 else set()
    needed |= {by} if by else set()
    if not needed <= placeholders:
        missing = ", ".join("{" + n + "}" for n in sorted(needed - placeholders))
        raise CatalogError(f"{where}: the name needs {missing} to tell its metrics apart")
    for what in ("filter", "value"):
        if spec.get(what) is not None:
            _checked(where, what, str(spec[what]))
    kind = spec.get("type", "double")
    if kind not in TYPES:
        raise CatalogError(f"{where}: unknown type {kind!r}; one of {', '.join(TYPES)}")
    return Family(
        index=index,
        file=path.name,
        name=spec["name"],
        description=spec["description"],
        source=spec["source"],
        filter=str(spec.get("filter", "true")),
        value=None if spec.get("value") is None else str(spec["value"]),
        by=by,
        labels=dimensions.get(by, ()) if by else (),
        windows=windows,
        aggs=aggs,
        type=kind,
        threshold=spec.get("threshold"),
    )
