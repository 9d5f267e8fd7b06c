"""Each kind of bad input lands in quarantine with its rule and reason, and nothing is lost."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from jobs.generate.mainframe import packed, signed_zoned, text, zoned

CLIENT = {
    "client_id": 1,
    "name": {"first": "Jana", "last": "Novakova"},
    "date_of_birth": "1980-05-17",
    "gender": "F",
    "email": "jana@example.cz",
    "phone": "+420600100200",
    "address": {"street": "Na Porici 1", "city": "Praha", "district": "Praha 1", "zip": "11000"},
    "client_created_date": "2019-01-02",
    "preferences": {"channels": {"email": True}, "preferred_days": ["mon"]},
}


def client(**changes) -> str:
    record = {**CLIENT, "email": f"client{changes.get('client_id', 1)}@example.cz", **changes}
    return json.dumps({k: v for k, v in record.items() if v is not None})


def crm_lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def assert_reconciled(result, written: int, quarantined: int) -> None:
    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (
        written + quarantined,
        written,
        quarantined,
    )


def test_malformed_json_line_is_quarantined_with_its_text(lake):
    lake.land("crm", "crm_clients.jsonl", crm_lines(client(), '{"client_id": 2, "name": '))
    result = lake.ingest("crm")["crm_clients"]
    assert_reconciled(result, 1, 1)
    row = lake.table("quarantine/crm_clients").collect()[0]
    assert (row.record, row.rule, row.original) == (
        "line 2",
        "malformed_json",
        '{"client_id": 2, "name": ',
    )
    assert row._source_file == "crm/2026-03-31/crm_clients.jsonl"
    assert row._ingest_run == lake.table("raw/crm_clients").first()._ingest_run


def test_missing_required_field_is_quarantined(lake):
    lake.land(
        "crm", "crm_clients.jsonl", crm_lines(client(), client(client_id=2, date_of_birth=None))
    )
    assert_reconciled(lake.ingest("crm")["crm_clients"], 1, 1)
    assert lake.quarantined("crm_clients")["line 2"] == (
        "missing_required_field",
        "date_of_birth is missing",
    )


def test_wrong_type_is_quarantined(lake):
    lake.land("crm", "crm_clients.jsonl", crm_lines(client(client_id="abc"), client(client_id=2)))
    assert_reconciled(lake.ingest("crm")["crm_clients"], 1, 1)
    rule, reason = lake.quarantined("crm_clients")["line 1"]
    assert rule == "wrong_type" and "client_id 'abc'" in reason


def test_unparseable_date_is_quarantined(lake):
    lake.land("crm", "crm_clients.jsonl", crm_lines(client(date_of_birth="1980-02-31")))
    assert_reconciled(lake.ingest("crm")["crm_clients"], 0, 1)
    rule, reason = lake.quarantined("crm_clients")["line 1"]
    assert rule == "unparseable_date" and "1980-02-31" in reason


def test_duplicate_key_in_a_file_keeps_the_first_and_quarantines_the_rest(lake):
    first, again = client(client_id=7), client(client_id=7, gender="M")
    lake.land("crm", "crm_clients.jsonl", crm_lines(first, client(client_id=8), again))
    assert_reconciled(lake.ingest("crm")["crm_clients"], 2, 1)
    rule, reason = lake.quarantined("crm_clients")["line 3"]
    assert rule == "duplicate_key" and "line 1" in reason
    kept = lake.table("raw/crm_clients").filter("client_id = 7").collect()
    assert [r.gender for r in kept] == ["F"]


def test_unknown_json_field_is_quarantined_as_schema_drift(lake):
    lake.land("crm", "crm_clients.jsonl", crm_lines(client(loyalty_tier="gold")))
    assert_reconciled(lake.ingest("crm")["crm_clients"], 0, 1)
    assert lake.quarantined("crm_clients")["line 1"] == (
        "unknown_column",
        "unknown field(s) loyalty_tier",
    )


def test_unknown_column_fails_the_feed_when_configured_to(lake, tmp_path):
    import shutil

    from jobs.runtime.config import conf_dir

    conf = tmp_path / "conf"
    shutil.copytree(conf_dir(), conf)
    crm = conf / "sources" / "crm.yaml"
    crm.write_text(
        crm.read_text().replace("on_unknown_column: quarantine", "on_unknown_column: fail")
    )
    lake.conf_dir = conf
    lake.land("crm", "crm_clients.jsonl", crm_lines(client(), client(client_id=2, vip=True)))
    result = lake.ingest("crm")["crm"]
    assert "crm/2026-03-31/crm_clients.jsonl line 2" in result.error
    assert "unknown field(s) vip" in result.error


def test_new_csv_column_quarantines_the_file_rows(lake):
    lake.land("web", "visitor_map.csv", "fullVisitorId,client_id,segment\n123,1,x\n456,2,y\n")
    result = lake.ingest("web")["web_visitors"]
    assert_reconciled(result, 0, 2)
    rule, reason = lake.quarantined("web_visitors")["line 2"]
    assert rule == "unknown_column" and "['segment']" in reason


def test_negative_and_absurd_card_amounts_are_quarantined(lake):
    from jobs.generate.card_transactions import HEADER

    rows = [
        "0,0,2026,3,1,09:15,$12.50,Chip Transaction,123,Praha,PR,11000.0,5411,,No",
        "0,0,2026,3,1,09:16,$-250000.00,Chip Transaction,123,Praha,PR,11000.0,5411,,No",
        "0,0,2026,3,1,09:17,$5000000.00,Chip Transaction,123,Praha,PR,11000.0,5411,,No",
    ]
    lake.land(
        "card_transactions", "card_transaction.v1.csv", ",".join(HEADER) + "\n" + "\n".join(rows)
    )
    assert_reconciled(lake.ingest("card_transactions")["card_transactions"], 1, 2)
    found = lake.quarantined("card_transactions")
    assert found["line 3"][0] == "out_of_range" and "-250000.00" in found["line 3"][1]
    assert found["line 4"][0] == "out_of_range"


def test_bad_time_of_day_cannot_build_a_timestamp(lake):
    from jobs.generate.card_transactions import HEADER

    row = "0,0,2026,2,30,09:15,$12.50,Chip Transaction,123,Praha,PR,11000.0,5411,,No"
    lake.land("card_transactions", "card_transaction.v1.csv", ",".join(HEADER) + "\n" + row)
    assert_reconciled(lake.ingest("card_transactions")["card_transactions"], 0, 1)
    assert lake.quarantined("card_transactions")["line 2"][0] == "underivable_field"


def test_coordinates_out_of_range_are_quarantined(lake):
    pings = (
        '"device_id","client_id","ts","lat","lon","accuracy"\n'
        '"d1",1,"2026-03-30T10:00:00Z",50.08,14.43,10\n'
        '"d1",1,"2026-03-30T10:05:00Z",400.17,14.43,10\n'
        '"d1",1,"2026-03-30T10:10:00Z",50.08,-190,10\n'
    )
    lake.land("location_pings", "pings.csv", pings)
    assert_reconciled(lake.ingest("location_pings")["location_pings"], 1, 2)
    found = lake.quarantined("location_pings")
    assert found["line 3"] == ("out_of_range", "lat 400.17 is outside [-90, 90]")
    assert found["line 4"] == ("out_of_range", "lon -190 is outside [-180, 180]")


def _feature(ally: str, geometry: dict) -> dict:
    props = {"ally_id": ally, "name": ally, "category": "coffee", "mcc": 5814, "radius_m": 80}
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_invalid_geojson_geometry_is_quarantined_and_odd_polygons_flagged(lake):
    bowtie = [[[14.0, 50.0], [14.1, 50.1], [14.1, 50.0], [14.0, 50.1], [14.0, 50.0]]]
    features = [
        _feature("A1", {"type": "Point", "coordinates": [14.43, 50.08]}),
        _feature("A2", {"type": "Polygon", "coordinates": [[[14.0, 50.0], [14.1, 50.1]]]}),
        _feature("A3", {"type": "Pointy", "coordinates": [14.43, 50.08]}),
        _feature("A4", {"type": "Point", "coordinates": [14.43, 95.0]}),
        _feature("A5", {"type": "Polygon", "coordinates": bowtie}),
    ]
    doc = json.dumps({"type": "FeatureCollection", "features": features})
    lake.land("allies", "allies.geojson", doc)
    assert_reconciled(lake.ingest("allies")["allies"], 2, 3)
    found = lake.quarantined("allies")
    assert {found[f"feature {n}"][0] for n in (2, 3, 4)} == {"invalid_geometry"}
    assert "not closed" in found["feature 2"][1] and "'Pointy'" in found["feature 3"][1]
    rows = {r.ally_id: r for r in lake.table("raw/allies").collect()}
    assert rows["A1"].geometry_wkt == "POINT (14.43 50.08)" and rows["A1"].radius_m == 80
    assert rows["A5"].geometry_is_valid is False


def test_empty_file_is_recorded_in_quarantine(lake):
    lake.land("offer_responses", "responses.jsonl", "")
    result = lake.ingest("offer_responses")["offer_responses"]
    assert_reconciled(result, 0, 1)
    assert lake.quarantined("offer_responses")["file"] == ("empty_file", "the file is empty")


def test_truncated_gzip_lines_go_to_quarantine(lake):
    import gzip

    sessions = [
        json.dumps({"fullVisitorId": str(n), "visitId": n, "visitStartTime": n, "date": "20260330"})
        for n in range(1, 401)
    ]
    whole = gzip.compress(("\n".join(sessions) + "\n").encode(), mtime=0)
    lake.land("web", "ga_sessions_20260330.json.gz", whole[: len(whole) // 2])
    result = lake.ingest("web")["web_sessions"]
    assert result.rows_written == 0 and result.rows_quarantined == result.rows_read > 10
    found = lake.quarantined("web_sessions")
    assert {rule for rule, _ in found.values()} == {"truncated_gzip"}
    assert "truncated" in found["line 1"][1]


def test_a_decompression_bomb_is_quarantined_whole_and_the_other_files_land(lake):
    """96 MiB of zeros in about 100 KB of gzip: past conf/lake.yaml's ratio (200 times, once
    past 64 MiB) it is one whole-file quarantine row, never inflated into memory or read by
    Spark, while the delivery's good file lands."""
    import gzip
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(packer.compress(bytes(1 << 20)) for _ in range(96)) + packer.flush()
    lake.land("web", "ga_sessions_20260330.json.gz", bomb)
    good = json.dumps({"fullVisitorId": "7", "visitId": 7, "visitStartTime": 7, "date": "20260330"})
    lake.land("web", "ga_sessions_20260331.json.gz", gzip.compress(good.encode(), mtime=0))
    result = lake.ingest("web")["web_sessions"]
    assert result.rows_written == 1 and result.rows_quarantined == 1
    found = lake.quarantined("web_sessions")
    assert list(found) == ["file"]
    rule, reason = found["file"]
    assert rule == "decompression_bomb" and "times" in reason
    rows = lake.table("quarantine/web_sessions").collect()
    assert rows[0]._source_file.endswith("ga_sessions_20260330.json.gz") and rows[0].original == ""


def test_file_in_another_encoding_fails_only_its_feed(lake):
    lake.land("crm", "crm_clients.jsonl", client().encode("utf-16"))
    lake.land(
        "offer_responses",
        "responses.jsonl",
        '{"client_id":1,"offer_id":"O","event":"opened","ts":"2026-03-30T10:00:00Z"}\n',
    )
    results = lake.ingest("crm", "offer_responses")
    assert "crm/2026-03-31/crm_clients.jsonl" in results["crm"].error
    assert results["offer_responses"].rows_written == 1


def test_file_that_is_not_the_format_fails_its_feed_naming_the_file(lake):
    lake.land("crm", "crm_clients.jsonl", "client_id,name\n1,Jana\n")
    error = lake.ingest("crm")["crm"].error
    assert "crm/2026-03-31/crm_clients.jsonl" in error and "not a JSON object" in error


# -- mainframe -------------------------------------------------------------------------------


def account_record(account_id: int, balance_packed: bytes | None = None) -> bytes:
    record = (
        zoned(account_id, 10)
        + zoned(12, 5)
        + text("POPLATEK MESICNE", 20)
        + zoned(20200131, 8)
        + (balance_packed if balance_packed is not None else packed(Decimal("12345.67"), 11, 2))
        + signed_zoned(Decimal("-15000.00"), 7, 2)
        + text("A", 1)
        + text("", 4)
    )
    assert len(record) == 64
    return record


def test_truncated_fixed_width_record_is_quarantined_with_its_bytes(lake):
    data = account_record(1) + account_record(2) + account_record(3)[:30]
    lake.land("mainframe", "ACCOUNTS.DAT", data)
    assert_reconciled(lake.ingest("mainframe")["accounts"], 2, 1)
    row = lake.table("quarantine/accounts").collect()[0]
    assert (row.record, row.rule, row.original_encoding) == (
        "record 3",
        "truncated_record",
        "base64",
    )
    assert base64.b64decode(row.original) == account_record(3)[:30]


def test_invalid_packed_decimal_is_quarantined_with_its_bytes(lake):
    bad = b"\x00\x00\x00\xff\x37\x54\x1c"  # 0xFF is no digit pair in COMP-3
    lake.land("mainframe", "ACCOUNTS.DAT", account_record(1) + account_record(2, bad))
    assert_reconciled(lake.ingest("mainframe")["accounts"], 1, 1)
    row = lake.table("quarantine/accounts").collect()[0]
    assert (row.record, row.rule) == ("record 2", "invalid_mainframe_number")
    assert "OPENING_BALANCE" in row.reason
    assert base64.b64decode(row.original) == account_record(2, bad)
    good = lake.table("raw/accounts").first()
    assert str(good.opening_balance) == "12345.67" and str(good.overdraft_limit) == "-15000.00"


def test_ascii_text_in_the_mainframe_feed_fails_it_clearly(lake):
    lake.land("mainframe", "ACCOUNTS.DAT", b"0000000001 00012 POPLATEK MESICNE 20200131\n" * 4)
    error = lake.ingest("mainframe")["mainframe"].error
    assert "mainframe/2026-03-31/ACCOUNTS.DAT" in error and "not EBCDIC" in error


@pytest.mark.parametrize("amount", [-5.0, 50_000_000.0])
def test_negative_or_absurd_account_movement_is_quarantined(lake, amount):
    import sqlite3

    from jobs.generate.account_transactions import SQLITE_DDL

    path = lake.land("transactions", "transactions.sqlite", b"")
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute(SQLITE_DDL)
        db.executemany(
            "INSERT INTO transactions (trans_id, account_id, date, type, amount, balance) "
            "VALUES (?, 1, '2026-03-01', 'PRIJEM', ?, 100)",
            [(1, 100.0), (2, amount)],
        )
    assert_reconciled(lake.ingest("transactions")["transactions"], 1, 1)
    rule, reason = lake.quarantined("transactions")["trans_id 2"]
    assert rule == "out_of_range" and reason.startswith("amount ")


def test_delivery_failing_its_expectation_suite_is_rejected_whole(lake):
    from jobs.generate.card_transactions import HEADER

    in_cents = [
        f"0,0,2026,3,1,09:{m:02d},${amount}.00,Chip Transaction,123,Praha,PR,11000.0,5411,,No"
        for m, amount in enumerate([12550, 89900, 4300, 990000])
    ]
    lake.land(
        "card_transactions",
        "card_transaction.v1.csv",
        ",".join(HEADER) + "\n" + "\n".join(in_cents),
    )
    error = lake.ingest("card_transactions")["card_transactions"].error
    assert "card_transactions/2026-03-31/card_transaction.v1.csv" in error
    assert "ExpectColumnMeanToBeBetween" in error or "expect_column_mean_to_be_between" in error
    from delta.tables import DeltaTable

    raw = lake.root / "onprem/raw/card_transactions"
    assert not DeltaTable.isDeltaTable(lake.spark, str(raw))
