"""The privacy policy file and the column actions, on tiny DataFrames."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from chispa import assert_column_equality
from pyspark.sql import functions as F
from pyspark.sql.types import DateType

from jobs.privacy import scrub
from jobs.privacy import spark_crypto as sc
from jobs.privacy.keys import LocalKeyFile, VaultKeyError, open_sealed, seal
from jobs.privacy.policy import Generalizer, KAnonymity, PolicyError, load_policy
from jobs.runtime.config import DEFAULT_CONF_DIR


def policy_with(tmp_path, old: str, new: str):
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    text = (conf / "privacy.yaml").read_text()
    assert old in text
    (conf / "privacy.yaml").write_text(text.replace(old, new, 1))
    return load_policy(conf)


def test_the_shipped_policy_loads():
    policy = load_policy(DEFAULT_CONF_DIR)
    card = policy.actions("payment_cards", "card_number")
    assert [(a.verb, a.arg, a.output) for a in card] == [
        ("tokenize", "card", "card_number"),
        ("mask", "4", "card_number_masked"),
    ]
    assert policy.actions("crm_clients", "_row_hash")[0].verb == "drop"


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("email: encrypt", "email: hide", "cannot read action 'hide'"),
        ("client_id: tokenize client", "client_id: tokenize person", "unknown token kind person"),
        ("zip: generalize zip3 as zip3", "zip: generalize zip9", "unknown generalizer zip9"),
        ("account: mask 2", "account: mask two", "mask N"),
        ("  crm_clients:\n    owner: client_id\n", "  crm_clients:\n", "need `owner:`"),
        ("given_by: crm_clients.opt_in_location", "given_by: crm.opt_in", "given_by must name"),
        ("columns: [lat, lon, altitude_ft]", "columns: [lat, height]", "columns must list"),
        ("[age_band, state, country, zip3]", "[age_band, state, country, zip3, ssn]", "['ssn']"),
        ("gender: keep\n      email", "gender: keep, drop\n      email", "stand alone"),
    ],
)
def test_policy_mistakes_name_the_file_and_the_column(tmp_path, old, new, message):
    with pytest.raises(PolicyError, match="privacy.yaml") as error:
        policy_with(tmp_path, old, new)
    assert message in str(error.value)


def test_a_raw_table_or_column_missing_from_the_policy_is_named():
    policy = load_policy(DEFAULT_CONF_DIR)
    with pytest.raises(PolicyError, match=r"raw column crm_clients\.nickname has no action"):
        policy.check_covers("crm_clients", ["client_id", "nickname"])
    with pytest.raises(PolicyError, match="raw table loyalty_points has no entry"):
        policy.check_covers("loyalty_points", ["points"])


def test_generalizers(spark):
    as_of = date(2026, 3, 31)
    df = spark.createDataFrame(
        [
            (
                23,
                date(2002, 4, 1),
                "11000",
                50.0871,
                478800,
                "20-25",
                "20-30",
                2002,
                "110",
                50.075,
                "250000-500000",
            )
        ],
        "age int, dob date, zip string, lat double, income int, "
        "e_age string, e_dob string, e_year int, e_zip string, e_lat double, e_income string",
    )
    five = Generalizer("a", "age_band", {"width": 5.0})
    ten = Generalizer("a", "age_band", {"width": 10.0})
    out = df.select(
        scrub.generalize(F.col("age"), df.schema["age"].dataType, five, as_of).alias("age"),
        scrub.generalize(F.col("dob"), df.schema["dob"].dataType, ten, as_of).alias("dob"),
        scrub.generalize(
            F.col("dob"), df.schema["dob"].dataType, Generalizer("y", "year"), as_of
        ).alias("year"),
        scrub.generalize(
            F.col("zip"),
            df.schema["zip"].dataType,
            Generalizer("z", "prefix", {"length": 3.0}),
            as_of,
        ).alias("zip"),
        F.round(
            scrub.generalize(
                F.col("lat"),
                df.schema["lat"].dataType,
                Generalizer("g", "grid", {"cell": 0.05}),
                as_of,
            ),
            6,
        ).alias("lat"),
        scrub.generalize(
            F.col("income"),
            df.schema["income"].dataType,
            Generalizer("i", "band", {"width": 250000.0}),
            as_of,
        ).alias("income"),
        "e_age",
        "e_dob",
        "e_year",
        "e_zip",
        "e_lat",
        "e_income",
    )
    for column in ("age", "dob", "year", "zip", "lat", "income"):
        assert_column_equality(out, column, f"e_{column}")


def test_mask_keeps_the_last_characters(spark):
    df = spark.createDataFrame(
        [("4111111111111234", "************1234"), ("12", "**"), (None, None), ("", "")],
        "v string, expected string",
    )
    assert_column_equality(
        df.select(scrub.mask(F.col("v"), 4).alias("m"), "expected"), "m", "expected"
    )


def test_k_anonymity_suppresses_quasi_identifiers_of_small_groups(spark):
    rows = [("20-30", "M", "110")] * 5 + [("30-40", "F", "120")] * 3 + [("30-40", "F", "130")] * 2
    df = spark.createDataFrame(rows, "age string, gender string, zip string")
    rule = KAnonymity("t", 5, ("age", "gender", "zip"), ("zip", "age", "gender"))
    out = scrub.enforce_k(df, rule)
    assert scrub.smallest_group(df, rule) == 2
    assert scrub.smallest_group(out, rule) == 5
    assert sorted(tuple(r) for r in out.distinct().collect()) == [
        ("20-30", "M", "110"),
        ("30-40", "F", "*"),
    ]


def test_k_holds_when_suppressing_one_column_at_a_time_leaves_a_small_group(spark):
    """After the ordered pass the 4 rows of 30-40 still share a group of 4 (< k) through `sex`,
    which `suppress` does not list: they lose every quasi-identifier. A date is suppressed to
    null, keeping its type; a quasi-identifier the table lacks is skipped."""
    d1, d2 = date(2015, 1, 1), date(2020, 1, 1)
    rows = [("20-30", "110", d1, "M")] * 5 + [("30-40", "120", d1, "F")] * 3
    rows += [("30-40", "130", d2, "F")]
    df = spark.createDataFrame(rows, "age string, zip string, since date, sex string")
    rule = KAnonymity("t", 5, ("age", "zip", "since", "sex", "absent"), ("zip", "since", "age"))
    out = scrub.enforce_k(df, rule)
    assert out.schema == df.schema
    assert sorted(tuple(r) for r in out.distinct().collect()) == sorted(
        [("20-30", "110", d1, "M"), ("*", "*", None, "*")], key=str
    )
    # the fully suppressed rows match anyone: k is that of the groups that say something
    assert scrub.smallest_group(out, rule) == 5
    assert scrub.smallest_group(out.where("age = '*'"), rule) == 4  # unless they are all there is


def test_years_start_generalizes_a_date_to_its_period_and_keeps_a_date(spark):
    df = spark.createDataFrame(
        [(date(2017, 4, 3), date(2015, 1, 1)), (date(2020, 1, 1), date(2020, 1, 1)), (None, None)],
        "d date, expected date",
    )
    rule = Generalizer("years5", "years_start", {"years": 5.0})
    out = df.select(
        scrub.generalize(F.col("d"), DateType(), rule, date(2026, 1, 1)).alias("g"), "expected"
    )
    assert_column_equality(out, "g", "expected")


def test_spark_hmac_equals_python_hmac(spark):
    key = bytes(range(32))
    values = ["", "1", "alice@example.cz", "Žluťoučký kůň"]
    df = sc.with_keys(
        spark.createDataFrame([(v,) for v in values], "v string"), sc.key_row(spark, k=key)
    )
    got = [r.h for r in df.select(sc.hmac_hex(F.col("v"), "k").alias("h")).collect()]
    assert got == [sc.hmac_hex_py(v, key) for v in values]


def test_spark_aes_gcm_opens_with_cryptography_and_rejects_a_changed_byte(spark):
    key = bytes(range(32))
    df = spark.createDataFrame([("+420724876938", bytearray(key))], "v string, k binary")
    sealed = bytes(
        df.select(sc.aes_gcm(F.col("v"), F.col("k"), F.lit("owner|phone")).alias("c")).first().c
    )
    assert open_sealed(key, sealed, b"owner|phone", "phone") == b"+420724876938"
    with pytest.raises(VaultKeyError, match="authentication failed"):
        open_sealed(key, sealed, b"other|phone", "phone")
    broken = bytearray(sealed)
    broken[20] ^= 0xFF
    with pytest.raises(VaultKeyError, match="authentication failed"):
        open_sealed(key, bytes(broken), b"owner|phone", "phone")
    assert open_sealed(key, seal(key, b"x", b"a"), b"a", "x") == b"x"


def test_local_key_file_is_created_owner_only_and_never_silently_remade(tmp_path):
    path = tmp_path / "keys" / "vault.key"
    with pytest.raises(VaultKeyError, match="missing"):
        LocalKeyFile(path, create=False)
    first = LocalKeyFile(path, create=True)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    wrapped = first.wrap(b"k" * 32, b"kek:1")
    assert LocalKeyFile(path, create=True).unwrap(wrapped, b"kek:1") == b"k" * 32
    path.chmod(0o644)
    with pytest.raises(VaultKeyError, match="mode 644"):
        LocalKeyFile(path, create=False)
    assert str(first._key) not in repr(first)


def test_detectors_find_emails_phones_luhn_cards_and_ibans(spark):
    from jobs.privacy.leakscan import detector

    cases = [
        ("vaclav.benes1@email.cz", "e-mail"),
        ("+420724876938", "phone number"),
        ("724 876 938", "phone number"),
        ("4111111111111111", "card number (Luhn)"),
        ("4111111111111112", None),  # fails Luhn, and 16 digits is no phone
        ("4111 1111 1111 1111", "card number (Luhn)"),
        ("-4282466774399734331", None),  # a TabFormer merchant id: signed, 19 digits
        ("5817218446178736265", None),  # Luhn-valid, but no issuer writes 19 digits after 58
        ("CZ6508000000192000145399", "IBAN"),
        ("CZ6508000000192000145398", None),  # wrong check digits
        ("cl_qrstabcdefqrstabcdefqrst", None),
        ("2026-03-31", None),
        ("1000000-1250000", None),  # an income band
        ("12345-6789", None),  # a ZIP+4
        ("12.50", None),
    ]
    df = spark.createDataFrame(cases, "v string, expected string")
    got = [r.d for r in df.select(detector(F.col("v")).alias("d")).collect()]
    assert got == [c[1] for c in cases]
