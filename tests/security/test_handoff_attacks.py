"""A forged or changed handoff: anyone who can write lake/handoff/ can queue rows or change a
file. Delivery verifies the handoff against its manifest and re-checks every row on-prem
against the campaign files and the CRM, so a forged row is refused and a changed file stops the
handoff whole; nothing is opened or sent for them."""

from __future__ import annotations

import pytest

from jobs.delivery import handoff
from jobs.delivery.manifest import HandoffError
from tests.integration.test_deliver import (  # the delivery tests' bank of five customers
    CASHBACK,
    DAY,
    KIDS,
    PRIME,
    RUN,
    _audit,
    _audit_exists,
    _crm,
    _customers,
    _hand_off,
    _offer,
    _outbox,
)


def test_a_forged_handoff_row_is_refused_on_prem_and_nothing_is_opened_for_it(lake):
    """Anyone who can write lake/handoff/ can queue rows. Delivery checks each against the
    campaign files and the bank's own CRM: an unknown campaign, a variant on a channel it does
    not use, parameters changed, a channel the customer did not opt in to, a topic they opted
    out of, a token with no customer on-prem are each `refused` with the reason; the one honest
    row is sent, and only its contacts are opened."""
    tokens = _customers(lake)
    _crm(lake, {"C1": ("email",), "C2": ("sms",), "C4": ("email", "sms")},
         opted_out={"C4": ["investments"]})  # fmt: skip
    richer = PRIME.replace("0.085", "0.001")
    rows = [
        _offer(tokens["C1"], "car_loan", "prime", "email", PRIME),  # honest
        _offer(tokens["C1"], "free_money", "main", "sms", "{}"),
        _offer(tokens["C1"], "coffee_nearby", "main", "email", CASHBACK),  # push only
        _offer(tokens["C2"], "car_loan", "standard", "sms", richer.replace("60", "48")),
        _offer(tokens["C2"], "kids_savings", "main", "email", KIDS),  # C2: sms only
        _offer(tokens["C4"], "kids_savings", "main", "sms", KIDS),  # opted out of the topic
        _offer(tokens["C3"], "car_loan", "prime", "push", PRIME),  # C3: no CRM record
        _offer("clforgedtokenforgedtokenab", "car_loan", "prime", "email", PRIME),
    ]
    handoff.export(lake.context(DAY), lake.spark.createDataFrame(rows, handoff.SCHEMA), RUN)
    result = lake.run("deliver", DAY)[f"delivery/{RUN}"]
    assert set(result.notes) == {"sent: 1", "refused: 7"}, result.notes
    assert [m["to"] for m in _outbox(lake)] == ["anna@example.org"]
    ledger = lake.spark.read.format("delta").load(str(lake.root / "onprem/delivery/ledger"))
    reasons = {(r.client_id, r.campaign, r.channel): (r.status, r.reason) for r in ledger.collect()}
    refused = {k: why for k, (status, why) in reasons.items() if status == "refused"}
    c1, c2, c4, c3 = tokens["C1"], tokens["C2"], tokens["C4"], tokens["C3"]
    assert refused == {
        (c1, "free_money", "sms"): "campaign free_money has no variant main on channel sms in "
        "the checked campaign files",
        (c1, "coffee_nearby", "email"): "campaign coffee_nearby has no variant main on channel "
        "email in the checked campaign files",
        (c2, "car_loan", "sms"): "parameters differ from the campaign file's",
        (c2, "kids_savings", "email"): "no opt-in for email",
        (c4, "kids_savings", "sms"): "opted out of topic investments",
        (c3, "car_loan", "push"): "no customer record on-prem",
        ("clforgedtokenforgedtokenab", "car_loan", "email"): "no customer record on-prem",
    }
    opened = {r.token for r in _audit(lake)}
    assert opened == {c1}, "contacts opened only for the row that was sent"


def test_a_changed_handoff_is_refused_whole_and_nothing_is_sent(lake):
    _hand_off(lake, _customers(lake))
    folder = lake.root / "lake" / "handoff" / RUN
    part = next(folder.glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:-1] + b"\x00")
    with pytest.raises(HandoffError, match=f"changed file {part.name}"):
        lake.run("deliver", DAY)
    assert _outbox(lake) == []
    assert not (lake.root / "onprem" / "delivery" / "ledger").exists()
    assert _audit_exists(lake) is False
