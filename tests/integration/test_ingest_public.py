"""The readers on real public data: Berka, TabFormer, CardDemo, GA 360, GeoLife, OpenStreetMap."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jobs.ingest.public import ingest_public
from tests.lakes import DELIVERY, Lake


def ingest(lake: Lake, **sources) -> dict:
    results = ingest_public(lake.config, sources, DELIVERY, spark=lake.spark)
    for r in results:
        assert not r.error, (r.feed, r.error)
        assert r.reconciled, r
    return {r.table: r for r in results}


@pytest.fixture(scope="module")
def module_lake(tmp_path_factory, spark):
    def make(name: str) -> Lake:
        return Lake(tmp_path_factory.mktemp(name) / "lake", spark)

    return make


# -- Berka ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def berka(module_lake, shared_datasets):
    lake = module_lake("berka")
    return lake, ingest(lake, berka=shared_datasets / "berka")


def test_berka_files_load_whole_and_the_cut_record_is_quarantined(berka):
    lake, results = berka
    assert results["accounts"].rows_written == 4500
    assert results["crm_clients"].rows_written == results["dispositions"].rows_written == 5369
    assert results["cards"].rows_written == 892 and results["loans"].rows_written == 682
    assert results["orders"].rows_written == 6471 and results["districts"].rows_written == 77
    trans = results["transactions"]
    assert (trans.rows_written, trans.rows_quarantined) == (49102, 1)
    [(record, (rule, reason))] = lake.quarantined("transactions").items()
    assert record == "line 49104" and rule == "truncated_record" and "quoted field" in reason
    assert lake.table("quarantine/transactions").first().original.endswith('"PRIJE')


def test_berka_birth_number_gives_gender_and_birth_date(berka):
    lake, _ = berka
    clients = {r.client_id: r for r in lake.table("raw/crm_clients").collect()}
    assert (clients[1].gender, clients[1].date_of_birth) == ("F", dt.date(1970, 12, 13))
    assert (clients[2].gender, clients[2].date_of_birth) == ("M", dt.date(1945, 2, 4))
    assert clients[1].district_id == 18


def test_berka_dates_and_amounts_are_typed(berka):
    lake, _ = berka
    row = lake.table("raw/transactions").filter("trans_id = 695247").first()
    assert (row.date, row.type, row.operation) == (dt.date(1993, 1, 1), "PRIJEM", "VKLAD")
    assert row.amount == Decimal("700.00") and row.k_symbol is None
    card = lake.table("raw/cards").filter("card_id = 1005").first()
    assert card.issued == dt.date(1993, 11, 7)
    district = lake.table("raw/districts").filter("district_id = 69").first()
    assert district.unemployment_95 is None  # '?' in the source


# -- TabFormer -----------------------------------------------------------------------------


def test_tabformer_transactions_users_and_cards(module_lake, shared_datasets):
    lake = module_lake("tabformer")
    results = ingest(lake, tabformer=shared_datasets / "tabformer")
    assert results["card_transactions"].rows_written == 19963
    assert results["card_users"].rows_written == 2000
    assert results["payment_cards"].rows_written == 6146
    txns = lake.table("raw/card_transactions")
    first = txns.orderBy("ts").first()
    assert (first.user, first.card, first.ts) == (0, 0, dt.datetime(2002, 9, 1, 6, 21))
    assert (first.amount, first.zip, first.mcc, first.is_fraud) == (
        Decimal("134.09"),
        "91750",
        5300,
        False,
    )
    assert txns.filter("amount < 0").count() > 0  # refunds, e.g. $-12.30
    errors = txns.filter("size(errors) > 1").first().errors
    assert all(e and e == e.strip() for e in errors)
    user0 = lake.table("raw/card_users").filter("user = 0").first()
    assert user0.yearly_income > 0 and user0.birth_year > 1900


# -- CardDemo ------------------------------------------------------------------------------

CARDDEMO = {  # raw table -> (copybook, EBCDIC file, ASCII twin)
    "carddemo_accounts": ("CVACT01Y", "ACCTDATA", "acctdata"),
    "carddemo_cards": ("CVACT02Y", "CARDDATA", "carddata"),
    "carddemo_card_xref": ("CVACT03Y", "CARDXREF", "cardxref"),
    "carddemo_customers": ("CVCUS01Y", "CUSTDATA", "custdata"),
    "carddemo_daily_transactions": ("CVTRA06Y", "DALYTRAN", "dailytran"),
}
# The stored EBCDIC and ASCII copies disagree here in the upstream repository itself.
UPSTREAM_DIFFERENCES = {("carddemo_accounts", 49, "ACCT_ADDR_ZIP")}


def _cobol(spark, copybook, path, ascii_text=False):
    reader = (
        spark.read.format("cobol")
        .option("copybook", str(copybook))
        .option("schema_retention_policy", "collapse_root")
        .option("generate_record_id", "true")
    )
    if ascii_text:
        reader = reader.option("encoding", "ascii").option("record_format", "D")
    return reader.load(str(path))


def test_carddemo_every_ebcdic_field_equals_its_ascii_twin(module_lake, shared_datasets, spark):
    lake = module_lake("carddemo")
    root = shared_datasets / "carddemo"
    results = ingest(lake, carddemo=root)
    for table, (copybook, ebcdic, ascii_name) in CARDDEMO.items():
        cpy = root / "cpy" / f"{copybook}.cpy"
        decoded = _cobol(spark, cpy, root / f"data/EBCDIC/AWS.M2.CARDDEMO.{ebcdic}.PS").collect()
        twin = _cobol(spark, cpy, root / f"data/ASCII/{ascii_name}.txt", ascii_text=True).collect()
        assert len(decoded) == len(twin) == results[table].rows_written > 0, table
        for left, right in zip(decoded, twin, strict=True):
            for name in left.__fields__:
                if name.startswith(("File_Id", "Record_")):
                    continue
                if (table, left.Record_Id + 1, name) in UPSTREAM_DIFFERENCES:
                    continue
                assert left[name] == right[name], (table, left.Record_Id + 1, name)
    account = lake.table("raw/carddemo_accounts").filter("account_id = 1").first()
    assert account.current_balance == Decimal("194.00")  # 00000001940{ in the ASCII twin
    assert account.credit_limit == Decimal("2020.00") and account.open_date == dt.date(2014, 11, 20)
    amounts = lake.table("raw/carddemo_daily_transactions").filter("amount < 0").count()
    assert amounts > 0  # negative overpunched amounts (returns) decode with their sign


# -- GA 360 --------------------------------------------------------------------------------


def test_ga_sessions_explode_hits_and_drop_placeholder_text(module_lake, shared_datasets):
    lake = module_lake("ga")
    results = ingest(lake, ga=shared_datasets / "ga_sessions")
    assert results["web_sessions"].rows_written == 1830
    sessions = lake.table("raw/web_sessions")
    assert sessions.filter("city = 'not available in demo dataset'").count() == 0
    assert sessions.filter("city IS NULL").count() > 0
    total_hits = sessions.agg({"hits": "sum"}).first()[0]
    assert results["web_hits"].rows_written == total_hits
    first = sessions.filter("visit_id = 1470046245").first()
    assert first.visit_start_at == dt.datetime(2016, 8, 1, 10, 10, 45)
    assert (first.hits, first.pageviews, first.browser) == (24, 17, "Firefox")


# -- GeoLife -------------------------------------------------------------------------------


def test_geolife_tracks_become_pings_and_the_impossible_latitude_is_quarantined(
    module_lake, shared_datasets
):
    lake = module_lake("geolife")
    results = ingest(lake, geolife=shared_datasets / "geolife")
    pings = results["location_pings"]
    assert pings.rows_written > 200_000
    found = lake.quarantined("location_pings")
    cut = f"location_pings/{DELIVERY}/020_20110911000506.plt"
    bad = (
        lake.table("quarantine/location_pings")
        .filter(f"_source_file = '{cut}' AND rule = 'out_of_range'")
        .collect()
    )
    assert [r.record for r in bad] == ["line 6782"]
    assert bad[0].original.startswith("400.16666")
    assert {rule for rule, _ in found.values()} <= {"out_of_range", "duplicate_key"}
    first = lake.table("raw/location_pings").filter(
        "device_id = 'geolife-020' AND trajectory = '20110911000506'"
    )
    assert first.orderBy("ts").first().ts == dt.datetime(2011, 9, 11, 0, 5, 6)


# -- OpenStreetMap -------------------------------------------------------------------------


def test_osm_pois_in_three_layouts_become_allies(module_lake, shared_datasets):
    lake = module_lake("osm")
    results = ingest(lake, osm=shared_datasets / "osm_pois")
    allies = {r.ally_id: r for r in lake.table("raw/allies").collect()}
    assert results["allies"].rows_written == len(allies) > 500
    milan = allies["osm-node/266972542"]  # overpass-turbo layout
    assert (milan.name, milan.category, milan.mcc) == ("Banco di Desio", "bank", 6011)
    patras = allies["osm-node/354449389"]  # Overpass raw layout (@id)
    assert (patras.name, patras.category) == ("Lidl", "supermarket")
    vizag = allies["osm-n1815853642"]  # QuickOSM layout (full_id)
    assert vizag.category == "bank" and vizag.geometry_wkt.startswith("POINT (83.")
    rules = dict(results["allies"].rules)
    assert rules["duplicate_key"] > 0  # Patras supermarkets appear in both of its files
    assert rules["underivable_field"] >= 9  # district boundaries are not stores
