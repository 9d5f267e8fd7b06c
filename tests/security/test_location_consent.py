"""Consent governs location: stage holds a ping's coordinates only when its customer opted in to
location in the CRM (conf/privacy.yaml `consent:`), geofencing calls the others `no_consent`, and
the model finds no home or work area for them. And k-anonymity holds over every
quasi-identifier of stage/crm_clients, measured here without the project's code."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from delta.tables import DeltaTable
from deltalake import DeltaTable as RsTable
from pyspark.sql import functions as F

from jobs.geofence.pings import screen
from jobs.geofence.settings import GeofenceSettings
from jobs.model.catalog import load_catalog
from jobs.model.run import customer_360
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from jobs.runtime.config import DEFAULT_CONF_DIR
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Side
from tests.lakes import SMALL_BANK, Lake, copy_lake

D = SMALL_BANK.delivery_date
ORPHAN_DEVICE = "device-of-nobody"
LOCATION_AREAS = ("home_area_90d", "work_area_90d")


def _read(lake: Lake, ref: str) -> pd.DataFrame:
    """A table's current version read by delta-rs (not Spark, not the project's reader)."""
    zone = "onprem" if ref.split("/")[0] in ("raw", "quarantine") else "lake"
    return RsTable(str(lake.root / zone / ref)).to_pandas()


def _withdraw_and_add_orphan(lake: Lake) -> int:
    """A customer who sends pings opts out of location in the CRM; a device that belongs to no
    customer sends one ping. The customer's client_id."""
    pings = lake.table("raw/location_pings")
    quitter = pings.agg(F.min("client_id")).first()[0]
    crm = DeltaTable.forPath(lake.spark, str(lake.root / "onprem/raw/crm_clients"))
    assert crm.toDF().where(F.col("client_id") == quitter).first().opt_in_location
    crm.update(F.col("client_id") == quitter, {"opt_in_location": F.lit(False)})
    first = pings.orderBy("client_id", "ts").first().asDict()
    first |= {"device_id": ORPHAN_DEVICE, "client_id": None}
    orphan = lake.spark.createDataFrame([first], pings.schema)
    orphan.write.format("delta").mode("append").save(str(lake.root / "onprem/raw/location_pings"))
    return quitter


def _token(lake: Lake, value: str, kind: str) -> str:
    ctx = RunContext(lake.config, Side.ONPREM, D, _spark=lake.spark)
    with Vault.open(ctx, load_policy(lake.config.conf_dir), "test") as vault:
        return vault.token_of(value, kind)


def _location_model(lake: Lake) -> pd.DataFrame:
    """The model's location metrics and home/work areas for every customer (the catalog's
    location families and the derived metrics built on them, computed as `model` does)."""
    catalog = load_catalog(lake.config.conf_dir)
    families = [f for f in catalog.families if f.source == "location_pings"]
    metrics = [m for m in catalog.metrics if m.family in families]
    names = {m.name for m in metrics}
    derived = [m for m in catalog.derived if m.name in (*LOCATION_AREAS, "commutes_90d")]
    assert all(any(n in m.expression for n in names) for m in derived)
    subset = replace(catalog, families=families, metrics=metrics, derived=derived)
    ctx = RunContext(lake.config, Side.LAKE, D, _spark=lake.spark)
    return customer_360(ctx, subset).select("client_id", *LOCATION_AREAS).toPandas()


def _no_history(tmp_path: Path) -> Path:
    """conf/ whose consent rule keeps no stage history (the shipped one keeps 168 hours)."""
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    text = (conf / "privacy.yaml").read_text()
    assert "    history_hours: 168\n" in text
    (conf / "privacy.yaml").write_text(
        text.replace("    history_hours: 168\n", "    history_hours: 0\n")
    )
    return conf


def _parquet_pairs(folder: Path) -> set[tuple]:
    """(lat, lon) of every row of every Parquet file under folder: every version, not only the
    current one."""
    pairs = set()
    for file in folder.rglob("*.parquet"):
        table = pq.read_table(file, columns=["lat", "lon"]).to_pydict()
        pairs |= set(zip(table["lat"], table["lon"], strict=True))
    return pairs


def test_only_customers_with_location_consent_have_coordinates_in_stage(gated, tmp_path):
    lake = copy_lake(gated[0], tmp_path)
    lake.conf_dir = _no_history(tmp_path)
    quitter = _withdraw_and_add_orphan(lake)
    exact = {
        (r.lat, r.lon) for r in lake.table("raw/location_pings").collect() if r.client_id == quitter
    }
    assert exact <= _parquet_pairs(lake.root / "lake/stage/location_pings")  # before the gate
    results = lake.run("privacy", D)
    # the stage table's files, older versions included, no longer hold them
    assert not exact & _parquet_pairs(lake.root / "lake/stage/location_pings")

    raw = _read(lake, "raw/location_pings")
    crm = _read(lake, "raw/crm_clients")
    consenting = set(crm.loc[crm.opt_in_location.fillna(False).astype(bool), "client_id"])
    stage = _read(lake, "stage/location_pings")
    assert len(stage) == len(raw)
    governed = [c for c in ("lat", "lon", "altitude_ft") if c in stage.columns]  # GeoLife's
    located = stage[governed].notna().any(axis=1)
    # exactly the pings of consenting customers keep coordinates, as exact as raw
    assert located.sum() == raw.client_id.isin(consenting).sum() > 0
    quitter_token = _token(lake, str(quitter), "client")
    theirs = stage[stage.client_id == quitter_token]
    assert len(theirs) == (raw.client_id == quitter).sum() > 0
    assert not located[stage.client_id == quitter_token].any()
    orphan = stage[stage.device_id == _token(lake, ORPHAN_DEVICE, "device")]
    assert len(orphan) == 1 and orphan.lat.isna().all() and orphan.lon.isna().all()
    without = len(raw) - raw.client_id.isin(consenting).sum()
    note = f"{without} rows without consent: lat, lon, altitude_ft left out"
    assert note in results["stage/location_pings"].notes

    # geofencing: the customer's pings are screened out as no_consent
    pings = lake.table("stage/location_pings")
    customers = lake.table("stage/crm_clients")
    reasons = screen(pings, customers, GeofenceSettings()).where(
        F.col("client_id") == quitter_token
    )
    assert {r.reason for r in reasons.select("reason").distinct().collect()} == {"no_consent"}

    # the model: home and work areas only for customers who consented and sent pings
    areas = _location_model(lake).set_index("client_id")
    assert areas.loc[quitter_token, list(LOCATION_AREAS)].isna().all()
    with_area = set(areas.index[areas.home_area_90d.notna()])
    senders = {_token(lake, str(int(c)), "client") for c in raw.client_id.dropna().unique()} - {
        quitter_token
    }
    assert with_area and with_area <= senders


def test_k_anonymity_holds_over_every_quasi_identifier_and_the_run_reports_it(gated):
    lake, results = gated
    policy = load_policy(lake.config.conf_dir)
    rule = policy.k_anonymity["crm_clients"]
    stage = _read(lake, "stage/crm_clients")
    qis = [q for q in rule.quasi_identifiers if q in stage.columns]
    assert {"district", "client_created_date", "zip3", "age_band", "occupation"} <= set(qis)
    # the join date reaches stage as its year only, and the exact day is nowhere in stage
    dates = pd.to_datetime(stage.client_created_date.dropna())
    assert len(dates) and ((dates.dt.month == 1) & (dates.dt.day == 1)).all()
    raw = _read(lake, "raw/crm_clients")
    assert raw.client_created_date.nunique() > stage.client_created_date.nunique()
    # every group of equal quasi-identifiers holds k rows at least, unless every one of its
    # quasi-identifiers is suppressed (such a row matches anyone)
    text = stage[qis].astype(str)  # a suppressed date is null: "*" as text is
    text["client_created_date"] = text["client_created_date"].replace({"NaT": "*", "None": "*"})
    sizes = text.groupby(qis, dropna=False).size()
    saying = sizes[[any(v != "*" for v in key) for key in sizes.index]]
    assert saying.min() >= rule.k
    note = next(n for n in results["stage/crm_clients"].notes if n.startswith("k-anonymity"))
    assert f"k = {saying.min()} (policy: {rule.k})" in note
    assert all(q in note for q in qis)
