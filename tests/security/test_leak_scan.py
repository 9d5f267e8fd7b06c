"""The leak scan sees what it used to miss (numeric ids in id columns, personal data inside
longer text, file names carrying a person's id), and an independent reader (delta-rs, not the
project's Spark code) agrees that the gated lake holds no clear value."""

from __future__ import annotations

from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.privacy.commands import leakscan
from tests.lakes import copy_lake
from tests.security.leftovers import Search


def _clear_values(lake) -> tuple[set[str], dict[str, set[str]]]:
    crm = lake.table("raw/crm_clients").collect()
    texts = {r.email for r in crm} | {r.phone for r in crm}
    texts |= {r.card_number.strip() for r in lake.table("raw/payment_cards").collect()}
    texts |= {r.device_id for r in lake.table("raw/location_pings").select("device_id").collect()}
    texts |= {r._source_file for r in lake.table("raw/location_pings").select("_source_file")
              .distinct().collect()}  # fmt: skip
    accounts = {str(r.account_id) for r in lake.table("raw/accounts").collect()}
    return texts, {"client_id": {str(r.client_id) for r in crm}, "account_id": accounts}


def test_an_independent_reader_finds_no_clear_value_in_the_gated_lake(gated):
    lake, _ = gated
    texts, ids = _clear_values(lake)
    search = Search(texts, ids)
    tables = [
        p.parent.parent for p in (lake.root / "lake").rglob("_delta_log/00000000000000000000.json")
    ]
    assert len(tables) >= 14
    for path in tables:
        data = DeltaTable(str(path)).to_pyarrow_table()
        for name in data.column_names:
            for cell in data.column(name).to_pylist():
                if cell is None:
                    continue
                if str(cell) in ids.get(name, ()):
                    search.found.append((path.name, name, str(cell)))
                if isinstance(cell, str):
                    search._text(path.name, name, cell)
    assert search.found == [], search.found[:10]
    _, hits = leakscan(lake.config, lake.spark)
    assert hits == [], hits


def test_the_leak_scan_finds_ids_text_and_file_names_it_used_to_miss(gated, tmp_path):
    lake = copy_lake(gated[0], tmp_path)
    client = lake.table("raw/crm_clients").orderBy("client_id").first()
    card = lake.table("raw/payment_cards").first().card_number.strip()
    source = lake.table("raw/location_pings").first()._source_file
    planted = [
        (
            str(client.client_id),  # a clear id where a token belongs
            client.client_id,  # the same number as a count: chance, not a leak
            f"/account/settings?contact={client.email}&x=1",
            f"paid with {card} today",
            f"call +420{'7' * 9} now",
            source,
        )
    ]
    schema = "client_id string, visits long, page_path string, label string, note string, f string"
    lake.spark.createDataFrame(planted, schema).write.format("delta").save(
        str(lake.root / "lake/analytics/planted")
    )
    _, hits = leakscan(lake.config, lake.spark)
    found = {(h.column, h.found) for h in hits if h.table == "analytics/planted"}
    assert {
        ("client_id", "raw crm_clients.client_id"),
        ("page_path", "detector: e-mail in text"),
        ("label", "detector: card number in text"),
        ("note", "detector: phone number in text"),
        ("f", "raw location_pings._source_file"),
    } <= found, found
    assert {column for column, _ in found} == {"client_id", "page_path", "label", "note", "f"}
    assert {h.table for h in hits} == {"analytics/planted"}
    # stage keeps a token of each file, not its name (GeoLife's names carry the user id)
    names = {r._source_file for r in lake.table("raw/location_pings").collect()}
    stage = {r._source_file for r in lake.table("stage/location_pings").collect()}
    assert stage and not stage & names
    assert lake.table("stage/location_pings").where(F.col("_source_file") == source).count() == 0
