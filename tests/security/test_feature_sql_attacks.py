"""SQL in the feature catalog's YAML: metric values, filters and derived expressions are
spliced into the model's SELECT, so each is parsed and only column and metric names, literals
and allowed functions pass (a subquery could pull an on-prem table into customer_360)."""

import pytest

from jobs.model.catalog import CatalogError, load_catalog
from tests.unit.test_feature_catalog import catalog_dir, family

RAW = "delta.`/lake/onprem/raw/crm_clients`"


@pytest.mark.parametrize(
    ("where", "expression", "reason"),
    [
        ("derived", f"(select max(email) from {RAW})", "only names, literals and functions"),
        ("derived", f"tenure_days + (select count(*) from {RAW})", "only names, literals"),
        ("derived", "reflect('java.lang.System', 'getenv', 'HOME')", "reflect is not allowed"),
        ("derived", "input_file_name()", "input_file_name is not allowed"),
        ("derived", "c.tenure_days", "a column is named without a table"),
        ("filter", f"user in (select user from {RAW})", "only names, literals and functions"),
        ("filter", f"exists (select 1 from {RAW})", "only names, literals and functions"),
        ("value", "java_method('java.lang.System', 'getenv', 'HOME')", "java_method is not"),
        ("value", "amount) FROM x; --", "not an expression"),
    ],
)
def test_an_expression_with_more_than_names_and_allowed_functions_is_refused(
    tmp_path, where, expression, reason
):
    """The catalog's SQL is spliced into the model's SELECT: a subquery there would read any
    table Spark can (on-prem raw included) into customer_360."""
    if where == "derived":
        folder = catalog_dir(tmp_path, derived=[{"name": "x", "expression": expression}])
    else:
        folder = catalog_dir(tmp_path, family(**{where: expression}))
    with pytest.raises(CatalogError, match=reason) as refused:
        load_catalog(folder)
    assert str(refused.value).startswith("spend.yaml: ")


def test_a_derived_type_is_one_of_the_catalogs(tmp_path):
    evil = {"name": "x", "expression": "1", "type": "double) AS x, (select 1"}
    with pytest.raises(CatalogError, match="unknown type"):
        load_catalog(catalog_dir(tmp_path, derived=[evil]))
