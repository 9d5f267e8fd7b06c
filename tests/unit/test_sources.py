"""conf/sources/*.yaml load into typed specs; a wrong key or value is an error naming the file."""

from __future__ import annotations

import pytest

from jobs.errors import ConfigError
from jobs.ingest.checks import suite
from jobs.ingest.sources import load_feed, load_sources
from jobs.runtime.config import conf_dir as repo_conf
from jobs.runtime.config import load_yaml


def test_every_shipped_feed_loads_in_every_format():
    for path in sorted((repo_conf() / "sources").glob("*.yaml")):
        for fmt in load_yaml(path)["formats"]:
            feed = load_feed(path, fmt)
            for table in feed.tables:
                assert table.keys, (path.name, fmt, table.name)
                suite(table)  # expectation names and arguments are valid


def test_the_generated_bank_formats_are_the_defaults():
    feeds = {f.name: f.format for f in load_sources(repo_conf())}
    assert feeds["crm"] == "jsonl" and feeds["mainframe"] == "ebcdic"
    assert feeds["transactions"] == "jdbc" and feeds["card_transactions"] == "tabformer"


def write(tmp_path, table: str) -> object:
    path = tmp_path / "feed.yaml"
    path.write_text("feed: feed\nformat: f\nformats:\n  f:\n" + table)
    return path


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("    t: {reader: xml}\n", "reader 'xml' is not one of"),
        ("    t: {reader: csv, fields: {a: {type: money2}}}\n", "type 'money2' is not one of"),
        ("    t: {reader: csv, fields: {a: {typ: long}}}\n", "unknown key(s) ['typ']"),
        ("    t: {reader: csv, keys: [b], fields: {a: {}}}\n", "'b' is not a column"),
        ("    t: {reader: csv, on_unknown_column: ignore}\n", "on_unknown_column must be"),
    ],
)
def test_bad_source_config_names_file_and_table(tmp_path, table, message):
    path = write(tmp_path, table)
    with pytest.raises(ConfigError) as error:
        load_feed(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_unknown_format_is_an_error(tmp_path):
    path = write(tmp_path, "    t: {reader: csv}\n")
    with pytest.raises(ConfigError, match="format 'berka' is not one of"):
        load_feed(path, "berka")


def test_unknown_expectation_is_an_error(tmp_path):
    path = write(tmp_path, "    t: {reader: csv, expectations: [{ExpectMagic: {}}]}\n")
    with pytest.raises(ConfigError, match="unknown expectation ExpectMagic"):
        suite(load_feed(path).tables[0])
