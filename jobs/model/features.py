"""`offerlake features list|describe`: the catalog as campaign authors read it."""

from __future__ import annotations

import re

from rich.table import Table

from jobs.model.catalog import Catalog, Metric


def listing(catalog: Catalog, grep: str | None = None) -> Table:
    pattern = re.compile(grep, re.IGNORECASE) if grep else None
    rows = [
        m
        for m in catalog.metrics + catalog.derived
        if pattern is None or pattern.search(m.name) or pattern.search(m.description)
    ]
    table = Table(title=f"{len(rows)} of {len(catalog.metrics) + len(catalog.derived)} metrics")
    for column in ("name", "type", "source", "description"):
        table.add_column(column, overflow="fold")
    for m in rows:
        table.add_row(m.name, m.type, m.family.source if m.family else "derived", m.description)
    return table


def describe(catalog: Catalog, name: str) -> Table:
    m: Metric = catalog.metric(name)
    table = Table(title=m.name, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("description", m.description),
        ("type", m.type),
        ("defined in", f"conf/features/{m.file}"),
    ]
    if m.family is None:
        rows.append(("expression", m.expression))
    else:
        f = m.family
        source = catalog.sources[f.source]
        ally = f"; ally_id: {source.ally} = stage/allies.merchant_name" if source.ally else ""
        rows += [
            ("source", f"stage/{f.source} (customer by {source.customer} via {source.via}){ally}"),
            ("filter", f.filter),
            ("value", f.value or "(rows)"),
            (
                "aggregation",
                m.agg + (f" >= {f.threshold:g} per month" if f.threshold is not None else ""),
            ),
            ("window", f"{m.window.name} (event time {source.time or '-'})"),
        ]
        if f.by:
            condition = dict(f.labels)[m.label]
            rows.append((f"{f.by} = {m.label}", condition))
        rows.append(
            ("family", f"{f.name} ({len([x for x in catalog.metrics if x.family is f])} metrics)")
        )
    for field, value in rows:
        table.add_row(field, str(value))
    return table
