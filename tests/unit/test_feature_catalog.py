"""The feature catalog: the shipped one is big and documented; a wrong one names file and metric."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs.model.catalog import CatalogError, load_catalog
from jobs.model.windows import parse_window

CONF = Path(__file__).resolve().parents[2] / "conf"

SOURCES = {
    "sources": {"card_transactions": {"customer": "user", "via": "card_user", "time": "ts"}},
    "dimensions": {"mcc_group": {"fuel": "mcc = 5541", "other": "true"}},
}


def catalog_dir(tmp_path: Path, *families: dict, derived: list | None = None) -> Path:
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "sources.yaml").write_text(yaml.safe_dump(SOURCES))
    doc = {"families": list(families), "derived": derived or []}
    (folder / "spend.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def family(**overrides) -> dict:
    spec = {
        "name": "spend_{mcc_group}_{window}_{agg}",
        "description": "{agg} of spend at {mcc_group}, {window}",
        "source": "card_transactions",
        "value": "amount",
        "by": "mcc_group",
        "window": ["last_30d", "all"],
        "agg": ["sum", "count"],
    }
    return {**spec, **overrides}


def test_the_shipped_catalog_has_a_thousand_documented_metrics():
    catalog = load_catalog(CONF)
    metrics = catalog.metrics + catalog.derived
    assert len(metrics) >= 1000
    assert len({m.name for m in metrics}) == len(metrics)
    undocumented = [m.name for m in metrics if len(m.description) < 10 or "{" in m.description]
    assert undocumented == []


def test_the_shipped_catalog_covers_the_seed_behaviours():
    names = {m.name for m in load_catalog(CONF).metrics + load_catalog(CONF).derived}
    for needed in (
        "tenure_years",
        "life_stage",
        "deposits_50k_first_2w_every_month_6m",
        "balance_never_below_300k_6m",
        "fuel_spend_two_wheeler_90d",
        "card_spend_fuel_two_wheeler_last_90d_sum",
        "card_fraud_last_90d",
        "offer_accept_rate_365d",
    ):
        assert needed in names


def test_a_family_expands_over_labels_windows_and_aggs(tmp_path):
    catalog = load_catalog(catalog_dir(tmp_path, family()))
    names = sorted(m.name for m in catalog.metrics)
    assert names == sorted(
        f"spend_{g}_{w}_{a}"
        for g in ("fuel", "other")
        for w in ("last_30d", "all")
        for a in ("sum", "count")
    )
    metric = catalog.metric("spend_fuel_last_30d_count")
    assert metric.description == "count of spend at fuel, last_30d"
    assert metric.type == "long"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"agg": ["sum", "median"]}, "unknown agg 'median'"),
        ({"by": "merchant_kind"}, "unknown dimension 'merchant_kind'"),
        ({"window": ["last_2w"]}, "unknown window 'last_2w'"),
        ({"window": ["last_1m_first_40d"]}, "the first days of a month are 1 to 31"),
        ({"source": "stock_trades"}, "unknown source table stock_trades"),
        ({"name": "spend_{mcc_group}_{agg}"}, "the name needs {window}"),
        ({"value": None}, "`value` is needed by sum"),
        ({"agg": "months_where"}, "months_where needs a `threshold`"),
        (
            {"agg": ["months_where", "count_distinct"], "threshold": 1},
            "months_where and count_distinct cannot share a family",
        ),
        (
            {"agg": ["months_where", "mode"], "threshold": 1},
            "months_where and mode cannot share a family",
        ),
        ({"type": "decimal"}, "unknown type 'decimal'"),
        ({"name": "Spend_{mcc_group}_{window}_{agg}"}, "is not lower_snake_case"),
    ],
)
def test_a_wrong_family_is_an_error_naming_file_and_metric(tmp_path, overrides, reason):
    with pytest.raises(CatalogError) as error:
        load_catalog(catalog_dir(tmp_path, family(**overrides)))
    assert "spend.yaml" in str(error.value)
    assert reason in str(error.value)


def test_a_duplicate_metric_name_is_an_error(tmp_path):
    twin = family(name="spend_{mcc_group}_{window}_{agg}", description="again: {agg} {window}")
    with pytest.raises(
        CatalogError, match="spend.yaml: metric spend_fuel_last_30d_sum is defined twice"
    ):
        load_catalog(catalog_dir(tmp_path, family(), twin))


def test_a_derived_metric_needs_an_expression(tmp_path):
    with pytest.raises(CatalogError, match="spend.yaml: derived metric ratio: needs"):
        load_catalog(catalog_dir(tmp_path, family(), derived=[{"name": "ratio"}]))


def test_derived_metrics_are_computed_in_rounds_after_the_metrics_they_name(tmp_path):
    derived = [
        {"name": "spend", "expression": "spend_fuel_all_sum + spend_other_all_sum"},
        {"name": "spending", "expression": "spend_fuel_all_count > 0"},
        {"name": "spend_k", "expression": "spend / 1000"},  # names spend, not spending
        {"name": "label", "expression": "concat('spend_k', spend_k_x)"},  # a quoted name too
        {"name": "flag", "expression": "spending"},
    ]
    catalog = load_catalog(catalog_dir(tmp_path, family(), derived=derived))
    rounds = [[m.name for m in level] for level in catalog.derived_levels()]
    assert rounds == [["spend", "spending"], ["spend_k", "flag"], ["label"]]


@pytest.mark.parametrize(
    ("text", "kind", "n", "first"),
    [
        ("all", "all", 0, None),
        ("last_90d", "days", 90, None),
        ("last_6m", "months", 6, None),
        ("last_6m_first_14d", "months", 6, 14),
        ("this_month", "this_month", 0, None),
    ],
)
def test_windows_parse(text, kind, n, first):
    window = parse_window(text)
    assert (window.kind, window.n, window.first_days) == (kind, n, first)
