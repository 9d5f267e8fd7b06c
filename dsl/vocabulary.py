"""What a campaign may name, read from conf/ alone (no Spark, so DAG parsing stays fast).

- customer_360 columns: the feature catalog's metrics and derived metrics, and the CRM
  attributes the privacy gate lets into stage (conf/sources/crm.yaml x conf/privacy.yaml);
- segments: `segment` (rule segment, "life stage / value tier"), `value_tier`,
  `cluster_label`, `clv` (jobs/model/segments.py);
- geofence categories (conf/geofence.yaml `categories`, conf/allies.yaml), topics
  (conf/contact_policy.yaml), templates (conf/templates/<campaign>/<variant>.<channel>.j2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dsl import templates
from jobs.geofence.allies import AlliesConfig
from jobs.geofence.settings import GeofenceSettings
from jobs.ingest.sources import load_feed
from jobs.match.policy import ContactPolicy
from jobs.model.catalog import load_catalog
from jobs.privacy.policy import load_policy

NUMBER, STRING, BOOLEAN, DATE, LIST = "number", "string", "boolean", "date", "list"
CHANNELS = ("push", "email", "sms")
EVENTS = ("opened", "clicked", "accepted", "declined")
# segments table column -> (name in the language, type)
SEGMENT_COLUMNS = {
    "rule_segment": ("segment", STRING),
    "value_tier": ("value_tier", STRING),
    "cluster_label": ("cluster_label", STRING),
    "clv": ("clv", NUMBER),
}


def kind_of(spark_type: str) -> str:
    """Spark / catalog type name -> the language's type."""
    t = spark_type.lower()
    if t.startswith(("array", "map", "struct")):
        return LIST
    if t in ("boolean", "bool"):
        return BOOLEAN
    if t in ("date", "timestamp"):
        return DATE
    if t == "string":
        return STRING
    return NUMBER  # long, int, double, decimal(p,s), ...


@dataclass(frozen=True)
class Vocabulary:
    columns: dict[str, str]  # name -> type
    descriptions: dict[str, str]
    categories: frozenset[str]
    topics: frozenset[str]
    # "campaign/variant.channel" -> the variables its template uses, or its syntax error
    templates: dict[str, frozenset[str] | str]

    @classmethod
    def load(cls, conf_dir: Path) -> Vocabulary:
        catalog = load_catalog(conf_dir)
        columns = crm_attributes(conf_dir)
        descriptions = {n: "CRM attribute" for n in columns}
        for m in catalog.metrics + catalog.derived:
            columns[m.name] = kind_of(m.type)
            descriptions[m.name] = m.description
        for name, kind in SEGMENT_COLUMNS.values():
            columns[name] = kind
            descriptions[name] = "segments"
        allies = AlliesConfig.load(conf_dir)
        categories = set(GeofenceSettings.load(conf_dir).categories)
        categories |= set(allies.category_offers) | {a.category for a in allies.allies}
        topics = ContactPolicy.load(conf_dir).topics
        return cls(
            columns,
            descriptions,
            frozenset(categories),
            frozenset(topics),
            templates.scan(conf_dir / "templates"),
        )


def crm_attributes(conf_dir: Path) -> dict[str, str]:
    """name -> type of the CRM columns stage/crm_clients keeps (customer_360's attributes)."""
    feed = load_feed(conf_dir / "sources" / "crm.yaml")
    table = next(t for t in feed.tables if t.name == "crm_clients")
    types = {f.name: f.type for f in table.fields if f.keep} | dict.fromkeys(table.derive, "string")
    policy = load_policy(conf_dir)
    out = {}
    for column, spark_type in types.items():
        for action in policy.actions("crm_clients", column):
            if action.verb == "keep":
                out[action.output or column] = kind_of(spark_type)
            elif action.verb == "generalize":
                out[action.output] = STRING
    return out
