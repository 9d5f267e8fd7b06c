"""The generated EBCDIC mainframe files decode with their COBOL copybooks through Cobrix."""

from decimal import Decimal

import pytest

from jobs.generate.bank import BankSpec, generate_bank
from jobs.generate.population import build_population
from jobs.runtime.config import conf_dir

SPEC = BankSpec(customers=120, days=45, seed=11)


@pytest.fixture(scope="module")
def mainframe(tmp_path_factory):
    out = tmp_path_factory.mktemp("bank")
    generate_bank(SPEC, out, workers=1, progress=False)
    return out / "onprem" / "landing" / "mainframe" / SPEC.delivery_date.isoformat()


def read_cobol(spark, copybook: str, path):
    return (
        spark.read.format("cobol")
        .option("copybook", str(conf_dir() / "copybooks" / copybook))
        .option("schema_retention_policy", "collapse_root")
        .load(str(path))
    )


def test_cards_decode_to_the_generated_values(spark, mainframe):
    pop = build_population(SPEC.customers, SPEC.days, SPEC.seed, SPEC.start)
    rows = read_cobol(spark, "cards.cpy", mainframe / "CARDS.DAT").orderBy("CARD_ID").collect()
    assert len(rows) == len(pop.card_id)
    for i, row in enumerate(rows):
        assert row.CARD_ID == pop.card_id[i]
        assert row.DISP_ID == pop.card_disp[i]
        assert row.CARD_NUMBER == pop.card_number[i]
        assert row.CARD_TYPE == pop.card_type[i]
        assert row.CARD_INDEX == pop.card_index[i]
        assert row.CREDIT_LIMIT == Decimal(int(pop.card_limit[i]))
        assert str(row.ISSUED_DATE) == str(pop.card_issued[i]).replace("-", "")


def test_accounts_decode_packed_and_signed_fields(spark, mainframe):
    pop = build_population(SPEC.customers, SPEC.days, SPEC.seed, SPEC.start)
    rows = (
        read_cobol(spark, "accounts.cpy", mainframe / "ACCOUNTS.DAT")
        .orderBy("ACCOUNT_ID")
        .collect()
    )
    assert [r.ACCOUNT_ID for r in rows] == pop.client_id.tolist()
    assert all(r.OPENING_BALANCE >= Decimal("500") for r in rows)
    assert all(r.OVERDRAFT_LIMIT < 0 for r in rows)  # negative, from the overpunched sign
    assert {r.FREQUENCY for r in rows} <= {
        "POPLATEK MESICNE",
        "POPLATEK TYDNE",
        "POPLATEK PO OBRATU",
    }


def test_dispositions_link_cards_accounts_and_clients(spark, mainframe):
    disp = read_cobol(spark, "dispositions.cpy", mainframe / "DISPOSITIONS.DAT")
    cards = read_cobol(spark, "cards.cpy", mainframe / "CARDS.DAT")
    accounts = read_cobol(spark, "accounts.cpy", mainframe / "ACCOUNTS.DAT")
    assert cards.join(disp, "DISP_ID", "left_anti").count() == 0
    assert disp.join(accounts, "ACCOUNT_ID", "left_anti").count() == 0
    owners = disp.filter("DISP_TYPE = 'OWNER'")
    assert owners.count() == SPEC.customers
    assert owners.filter("CLIENT_ID != ACCOUNT_ID").count() == 0
