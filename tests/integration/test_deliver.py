"""Stage `deliver` (on-prem): a verified handoff sent exactly once, contacts opened just in time
and audited, erased and unreachable customers recorded, notifications back to the lake."""

from __future__ import annotations

import json
import os
import stat
from datetime import date, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from pyspark.sql import functions as F

from jobs.delivery import handoff
from jobs.delivery.adapters import Outbox, SendError
from jobs.delivery.deliver import deliver
from jobs.delivery.settings import load
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault

DAY = date(2026, 3, 31)
RUN = "match-2026-03-31"
NAME = "crm_clients.first_name"
PRIME = '{"rate": {"unit": "percent", "value": 0.085}, "tenure": {"unit": "months", "value": 60}}'
STANDARD = (
    '{"rate": {"unit": "percent", "value": 0.105}, "tenure": {"unit": "months", "value": 48}}'
)
KIDS = '{"bonus": {"value": 1000}, "rate": {"unit": "percent", "value": 0.07}}'
CASHBACK = '{"cashback": {"unit": "percent", "value": 0.15}}'
REGION = "eu-central-1"


class Crash(BaseException):
    """The process dies here (not an error delivery could catch)."""


def _customers(lake) -> dict[str, str]:
    """A vault with five customers and a device; C5 is erased. Clear value -> token."""
    ctx = lake.context(DAY)
    vault = Vault.open(ctx, load_policy(ctx.config.conf_dir), job="test")
    values = [("client", f"C{i}") for i in range(1, 7)] + [("device", "DEV-CYRIL")]
    tokens = {
        r.value: r.token
        for r in vault.tokenize(
            lake.spark.createDataFrame(values, "kind string, value string")
        ).collect()
    }
    contacts = [
        (tokens["C1"], "crm_clients.email", "anna@example.org"),
        (tokens["C1"], NAME, "Anna"),
        (tokens["C2"], "crm_clients.phone", "+420601234567"),
        (tokens["C2"], NAME, "Boris"),
        (tokens["C3"], NAME, "Cyril"),
        (tokens["C4"], NAME, "Dana"),  # no e-mail on file
        (tokens["C5"], "crm_clients.email", "eve@example.org"),
        (tokens["C6"], "crm_clients.email", "not-an-address"),
    ]
    vault.store_contacts(
        lake.spark.createDataFrame(contacts, "owner string, field string, value string")
    )
    pings = [(tokens["C3"], tokens["DEV-CYRIL"], datetime(2026, 3, 30, 8))]
    lake.spark.createDataFrame(
        pings, "client_id string, device_id string, ts timestamp"
    ).write.format("delta").save(str(lake.root / "lake" / "stage" / "location_pings"))
    vault.shred({tokens["C5"]: "client"})
    vault.record_erasures({tokens["C5"]: "client"}, {}, "test", 0)
    vault.close()  # delivery, in this process or another, takes the lock itself
    _crm(lake, {f"C{i}": ("email", "sms", "push") for i in range(1, 7)})
    return tokens


def _crm(lake, customers: dict[str, tuple], opted_out: dict[str, list] | None = None) -> None:
    """raw/crm_clients (on-prem) with each customer's opted-in channels and topics opted out
    of: what delivery checks every row against again."""
    rows = [
        (c, "email" in on, "sms" in on, "push" in on, (opted_out or {}).get(c, []))
        for c, on in customers.items()
    ]
    schema = (
        "client_id string, opt_in_email boolean, opt_in_sms boolean, opt_in_push boolean, "
        "topics_opt_out array<string>"
    )
    lake.spark.createDataFrame(rows, schema).write.format("delta").mode("overwrite").save(
        str(lake.root / "onprem" / "raw" / "crm_clients")
    )


def _offer(token, campaign, variant, channel, parameters, ally=None):
    send = datetime(2026, 3, 31, 9)
    return (
        RUN,
        token,
        campaign,
        variant,
        channel,
        parameters,
        send,
        datetime(2026, 4, 7, 23),
        "loans",
        ally,
    )


def _hand_off(lake, tokens, with_bad_email=False) -> None:
    rows = [
        _offer(tokens["C1"], "car_loan", "prime", "email", PRIME),
        _offer(tokens["C2"], "car_loan", "standard", "sms", STANDARD),
        _offer(tokens["C3"], "coffee_nearby", "main", "push", CASHBACK, ally="ally-7"),
        _offer(tokens["C4"], "kids_savings", "main", "email", KIDS),
        _offer(tokens["C5"], "car_loan", "prime", "email", PRIME),
    ]
    if with_bad_email:
        rows.append(_offer(tokens["C6"], "car_loan", "prime", "email", PRIME))
    ctx = lake.context(DAY)
    handoff.export(ctx, lake.spark.createDataFrame(rows, handoff.SCHEMA), RUN)


@pytest.fixture
def handed_off(lake):
    tokens = _customers(lake)
    _hand_off(lake, tokens)
    return lake, tokens


def _settings(lake):
    return load(lake.config.conf_dir / "delivery.yaml")


def _outbox(lake) -> list[dict]:
    path = lake.root / "onprem" / "delivery" / "outbox" / f"{RUN}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _statuses(lake) -> dict[str, str]:
    return {r.client_id: r.status for r in lake.table("analytics/notifications").collect()}


def _audit(lake):
    rows = lake.spark.read.format("delta").load(str(lake.root / "onprem" / "vault" / "audit"))
    return rows.where(F.col("job") == "deliver").collect()


def test_deliver_opens_only_what_it_sends_and_records_every_offer(handed_off):
    lake, tokens = handed_off
    result = lake.run("deliver", DAY)[f"delivery/{RUN}"]
    assert (result.rows_read, result.rows_written, result.rows_withheld) == (5, 3, 2)
    assert set(result.notes) == {"sent: 3", "erased: 1", "unreachable: 1"}

    sent = {m["to"]: m for m in _outbox(lake)}
    assert set(sent) == {"anna@example.org", "+420601234567", "DEV-CYRIL"}
    anna = sent["anna@example.org"]
    assert anna["subject"] == "Anna, a car loan at 8.5% is waiting for you"
    assert "Dear Anna," in anna["body"] and "8.5% over 60 months" in anna["body"]
    assert "until 07 April 2026" in anna["body"]
    assert sent["+420601234567"]["body"].startswith("Boris: car loan at 10.5% over 48 months")
    assert (
        sent["DEV-CYRIL"]["body"]
        == "Cyril, 15% cashback on your coffee here today. Just pay with your card."
    )
    outbox = lake.root / "onprem" / "delivery" / "outbox" / f"{RUN}.jsonl"
    assert stat.S_IMODE(os.stat(outbox).st_mode) == 0o600

    assert _statuses(lake) == {
        tokens["C1"]: "sent",
        tokens["C2"]: "sent",
        tokens["C3"]: "sent",
        tokens["C4"]: "unreachable",
        tokens["C5"]: "erased",
    }
    notifications = lake.table("analytics/notifications")
    assert notifications.where(F.col("client_id") == tokens["C3"]).first().ally_id == "ally-7"
    assert notifications.first().sent_at == datetime(2026, 3, 31, 9)
    flat = " ".join(str(v) for r in notifications.collect() for v in r)
    for clear in ("anna@", "+420", "DEV-CYRIL", "Anna", "Boris", "eve@"):
        assert clear not in flat

    audit = {(r.action, r.token, r.detail) for r in _audit(lake)}
    assert audit == {
        ("decrypt", tokens["C1"], "crm_clients.email"),
        ("decrypt", tokens["C1"], NAME),
        ("decrypt", tokens["C2"], "crm_clients.phone"),
        ("decrypt", tokens["C2"], NAME),
        ("decrypt", tokens["C3"], NAME),
        ("decrypt", tokens["C4"], "crm_clients.email"),
        ("decrypt", tokens["C4"], NAME),
        ("detokenize", tokens["DEV-CYRIL"], "device"),
    }, "every opening is audited, nothing of the erased customer is opened"
    assert all(r.purpose.startswith(f"deliver {RUN} ") for r in _audit(lake))
    assert not any("@" in str(v) for r in _audit(lake) for v in r), "no clear value audited"

    again = lake.run("deliver", DAY)[f"delivery/{RUN}"]
    # only the unreachable customer is looked up again (a contact may have arrived since)
    assert (again.rows_read, again.rows_written, again.notes) == (1, 0, ("unreachable: 1",))
    assert len(_outbox(lake)) == 3, "a re-run sends nothing twice"
    assert len(_audit(lake)) == 10, "and opens nothing of the customers already handled"
    assert lake.table("analytics/notifications").count() == 5


class CrashingOutbox(Outbox):
    """Dies before its (n+1)th message, or right after writing it (before delivery records it)."""

    def __init__(self, folder, run_id, n, after_write):
        super().__init__(folder, run_id)
        self.n, self.after_write, self.sent = n, after_write, 0

    def send(self, message):
        if self.sent == self.n and not self.after_write:
            raise Crash()
        provider_id = super().send(message)
        self.sent += 1
        if self.sent == self.n and self.after_write:
            raise Crash()
        return provider_id


@pytest.mark.parametrize("after_write", [False, True], ids=["before-send", "after-send"])
def test_a_crash_mid_batch_then_a_rerun_sends_everything_exactly_once(handed_off, after_write):
    lake, tokens = handed_off
    ctx = lake.context(DAY)
    crashing = CrashingOutbox(
        lake.root / "onprem" / "delivery" / "outbox", RUN, n=2, after_write=after_write
    )
    with pytest.raises(Crash):
        deliver(ctx, _settings(lake), {c: crashing for c in ("email", "sms", "push")})
    journal = lake.root / "onprem" / "delivery" / "journal" / f"{RUN}.jsonl"
    assert journal.exists(), "the outcomes before the crash are on disk"
    assert len(_outbox(lake)) == 2

    result = lake.run("deliver", DAY)[f"delivery/{RUN}"]
    assert any("recovered from an interrupted run" in n for n in result.notes)
    ids = [m["message_id"] for m in _outbox(lake)]
    assert len(ids) == len(set(ids)) == 3, "each message once, none missed"
    assert sorted(_statuses(lake).values()) == ["erased", "sent", "sent", "sent", "unreachable"]
    assert not journal.exists()


class Outage:
    """A provider that is down for the first `down` sends (a transient error), then up."""

    def __init__(self, down: int):
        self.down, self.calls, self.sent = down, 0, []

    def send(self, message):
        self.calls += 1
        if self.calls <= self.down:
            raise SendError("ServiceUnavailable (HTTP 503)", True)
        self.sent.append(message.message_id)
        return f"up:{message.message_id}"

    def close(self):
        pass


def test_an_outage_is_retried_on_later_runs_after_a_wait(handed_off):
    """A 503 is `retrying` (not failed) with a next attempt time; a run before that time waits,
    a later run sends. Each run makes one attempt per message."""
    lake, tokens = handed_off
    settings = _settings(lake)
    down = Outage(down=10)
    first = deliver(lake.context(DAY), settings, {c: down for c in ("email", "sms", "push")})[-1]
    assert down.calls == 3
    assert set(first.notes) == {"unreachable: 1", "erased: 1", "retrying: 3"}
    ledger = lake.spark.read.format("delta").load(str(lake.root / "onprem/delivery/ledger"))
    retrying = ledger.where("status = 'retrying'").collect()
    assert {r.attempts for r in retrying} == {1}
    assert {r.next_attempt_at for r in retrying} == {datetime(2026, 4, 1, 0, 4, 59)}  # +5 min
    assert "attempt 1 of 5" in retrying[0].reason

    up = Outage(down=0)
    early = deliver(lake.context(DAY), settings, {c: up for c in ("email", "sms", "push")})[-1]
    assert up.calls == 0 and "waiting to retry: 3" in early.notes
    later = lake.context(date(2026, 4, 1))  # the run of the next day handles D's handoff too
    done = {r.table: r for r in deliver(later, settings, {c: up for c in ("email", "sms", "push")})}
    assert done[f"delivery/{RUN}"].rows_written == 3 and up.calls == 3
    assert sorted(_statuses(lake).values()) == ["erased", "sent", "sent", "sent", "unreachable"]
    sent = lake.table("analytics/notifications").where("status = 'sent'").collect()
    assert {r.attempts for r in sent} == {2}


def test_messages_go_out_when_due_never_after_expiry_and_a_bad_row_fails_alone(lake):
    """With the clock at the end of D: a message for D + 1 waits for D + 1's run, an offer that
    expired on D is `expired`, rows with an unknown channel or broken parameters are `invalid`
    with the reason, and the good rows are sent."""
    tokens = _customers(lake)
    later, gone = datetime(2026, 4, 1, 9), datetime(2026, 3, 31, 12)
    rows = [
        _offer(tokens["C1"], "car_loan", "prime", "email", PRIME),
        (RUN, tokens["C2"], "car_loan", "standard", "sms", STANDARD, later, later
         + timedelta(days=7), "loans", None),
        (RUN, tokens["C3"], "coffee_nearby", "main", "push", CASHBACK, gone - timedelta(hours=2),
         gone, "retail", "ally-7"),
        (RUN, tokens["C4"], "kids_savings", "main", "fax", KIDS, gone, later, "kids", None),
        (RUN, tokens["C1"], "kids_savings", "main", "email", "{not json", gone, later, "kids",
         None),
    ]  # fmt: skip
    handoff.export(lake.context(DAY), lake.spark.createDataFrame(rows, handoff.SCHEMA), RUN)
    result = lake.run("deliver", DAY)[f"delivery/{RUN}"]
    assert set(result.notes) == {"sent: 1", "expired: 1", "invalid: 2", "not due yet: 1"}
    assert [m["to"] for m in _outbox(lake)] == ["anna@example.org"]
    ledger = lake.spark.read.format("delta").load(str(lake.root / "onprem/delivery/ledger"))
    reasons = {(r.campaign, r.channel): (r.status, r.reason) for r in ledger.collect()}
    assert reasons[("coffee_nearby", "push")] == ("expired", "expired at 2026-03-31 12:00")
    assert reasons[("kids_savings", "fax")] == ("invalid", "unknown channel")
    assert reasons[("kids_savings", "email")] == ("invalid", "parameters are not a JSON object")
    assert ("car_loan", "sms") not in reasons, "not due: not handled at all yet"

    results = {r.table: r for r in lake.run("deliver", date(2026, 4, 1)).values()}
    assert results[f"delivery/{RUN}"].notes == ("sent: 1",)
    assert sorted(m["to"] for m in _outbox(lake)) == ["+420601234567", "anna@example.org"]


def _audit_exists(lake) -> bool:
    path = lake.root / "onprem" / "vault" / "audit"
    return path.exists() and bool(_audit(lake))


def test_sns_and_ses_send_through_boto3(lake):
    tokens = _customers(lake)
    _hand_off(lake, tokens, with_bad_email=True)
    with mock_aws():
        ses = boto3.client("ses", region_name=REGION)
        settings = _settings(lake)
        ses.verify_email_identity(EmailAddress=settings.ses.sender)
        app = boto3.client("sns", region_name=REGION).create_platform_application(
            Name="offerlake", Platform="GCM", Attributes={"PlatformCredential": "x"}
        )["PlatformApplicationArn"]
        settings = settings.model_copy(
            update={
                "adapters": {"email": "ses", "sms": "sns", "push": "sns"},
                "sns": settings.sns.model_copy(update={"platform_application_arn": app}),
            }
        )
        result = deliver(lake.context(DAY), settings)[-1]
        mails = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        sns = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
        assert [m.destinations["ToAddresses"] for m in mails] == [["anna@example.org"]]
        assert mails[0].subject == "Anna, a car loan at 8.5% is waiting for you"
        assert [p for p, _ in sns.sms_messages.values()] == ["+420601234567"]
        endpoint = next(iter(sns.platform_endpoints.values()))
        assert endpoint.token == "DEV-CYRIL"
        assert list(endpoint.messages.values())[0].startswith("Cyril, 15% cashback")
    assert set(result.notes) == {"sent: 3", "failed: 1", "erased: 1", "unreachable: 1"}
    failed = lake.table("analytics/notifications").where("status = 'failed'").collect()
    assert [(r.client_id, r.attempts) for r in failed] == [(tokens["C6"], 1)]
    assert failed[0].reason.startswith("InvalidParameterValue"), "not retried: it cannot succeed"
    assert "not-an-address" not in failed[0].reason
    sent = lake.table("analytics/notifications").where("status = 'sent'").collect()
    ledger = lake.spark.read.format("delta").load(str(lake.root / "onprem" / "delivery" / "ledger"))
    ids = {r.provider_id.split(":")[0] for r in ledger.where("status = 'sent'").collect()}
    assert len(sent) == 3 and ids == {"ses", "sns"}


def test_two_deliveries_started_together_send_each_message_once(handed_off):
    """The README's exactly-once promise with two `offerlake run deliver` processes at once:
    one holds the handoff's lease and sends; the other waits for it and finds all handled."""
    import subprocess
    import sys

    lake, _ = handed_off
    command = [sys.executable, "-m", "jobs.cli", "--lake", str(lake.root), "run", "deliver",
               "--date", DAY.isoformat()]  # fmt: skip
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    ids = [m["message_id"] for m in _outbox(lake)]
    assert len(ids) == len(set(ids)) == 3, "each message once"
    ledger = lake.spark.read.format("delta").load(str(lake.root / "onprem/delivery/ledger"))
    assert ledger.count() == 5 and ledger.where("status = 'sent'").count() == 3
    assert sum("sent: 3" in out for out in outputs) == 1, outputs


def test_a_lapsed_lease_is_taken_over_and_a_live_one_is_left_alone(handed_off):
    from jobs.runtime.lease import Lease

    lake, _ = handed_off
    leases = lake.root / "onprem" / "delivery" / "leases"
    settings = _settings(lake)
    settings = settings.model_copy(
        update={"lease": settings.lease.model_copy(update={"wait_seconds": 0})}
    )
    holder = Lease(leases, RUN, ttl_seconds=60)
    assert holder.acquire() is None  # another delivery, alive and renewing
    try:
        (busy,) = deliver(lake.context(DAY), settings)[-1:]
        assert busy.rows_written == 0 and "holds its lease" in busy.notes[0]
        assert _outbox(lake) == []
    finally:
        holder.release()
    # a holder that died: its lease ran out and nobody renews it
    dead = {"host": "elsewhere", "pid": 1, "id": "dead", "until": "2026-01-01T00:00:00+00:00"}
    leases.mkdir(parents=True, exist_ok=True)
    (leases / f"{RUN}.lease").write_text(json.dumps(dead))
    (done,) = deliver(lake.context(DAY), settings)[-1:]
    assert done.rows_written == 3 and len(_outbox(lake)) == 3
    assert not (leases / f"{RUN}.lease").exists(), "released when done"
