"""Delivery's parts without Spark: retry waits, rendering, the outbox, its settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from jobs.delivery.adapters import Outbox, Outgoing, SendError, _aws_call, purge_outbox
from jobs.delivery.render import Renderer, RenderError
from jobs.delivery.settings import DeliveryConfigError, Retry, load

CONF = Path(__file__).resolve().parents[2] / "conf"
MESSAGE = Outgoing("m1", "sms", "+420601234567", "", "hello")


def test_a_transient_failure_waits_longer_each_time_up_to_the_limit_then_fails():
    """One retry layer, across runs: each failed attempt sets the next run's earliest time."""
    from datetime import datetime, timedelta

    from jobs.delivery.deliver import ONE_ATTEMPT, _after_failure
    from jobs.delivery.settings import DeliverySettings

    retry = Retry(attempts=4, backoff_seconds=300, max_backoff_seconds=900)
    assert [retry.wait_after(n) for n in (1, 2, 3, 4)] == [300, 600, 900, 900]
    settings = DeliverySettings(
        adapters={}, contacts={}, first_name="f", ses={"sender": "a@b.c"}, retry=retry
    )
    now = datetime(2026, 3, 31, 9)
    outage = SendError("ServiceUnavailable (HTTP 503)", True)
    first = _after_failure(outage, 1, settings, now)
    assert (first["status"], first["next_attempt_at"]) == ("retrying", now + timedelta(seconds=300))
    assert first["reason"].startswith("ServiceUnavailable (HTTP 503); attempt 1 of 4")
    last = _after_failure(outage, 4, settings, now)
    assert (last["status"], last["reason"]) == (
        "failed", "ServiceUnavailable (HTTP 503) (after 4 attempts)",
    )  # fmt: skip
    permanent = _after_failure(SendError("InvalidParameter (HTTP 400)", False), 1, settings, now)
    assert (permanent["status"], permanent["attempts"]) == ("failed", 1)
    assert ONE_ATTEMPT.retries == {"total_max_attempts": 1}, "botocore does not retry as well"


def test_aws_errors_name_the_code_never_the_contact():
    def refuse(**kwargs):
        raise ClientError(
            {
                "Error": {"Code": "InvalidParameter", "Message": f"bad number {kwargs['To']}"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "Publish",
        )

    with pytest.raises(SendError) as e:
        _aws_call(refuse, To="+420601234567")
    assert (e.value.reason, e.value.retryable) == ("InvalidParameter (HTTP 400)", False)
    assert "+420" not in str(e.value) and e.value.__cause__ is None


def test_templates_render_parameters_for_people_in_the_sandbox(tmp_path):
    renderer = Renderer(CONF / "templates")
    params = '{"rate": {"unit": "percent", "value": 0.07}, "bonus": {"value": 1000}}'
    text = renderer.render("kids_savings", "main", "sms", params, {"first_name": "Dana"})
    assert "Dana" in text.body and "7%" in text.body and "1,000" in text.body
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "main.sms.j2").write_text("{{ first_name.__class__.__mro__ }}")
    with pytest.raises(RenderError, match=r"conf/templates/x/main.sms.j2: SecurityError"):
        Renderer(tmp_path).render("x", "main", "sms", "{}", {"first_name": "Dana"})
    (tmp_path / "x" / "main.push.j2").write_text("{{ nope }}")
    with pytest.raises(RenderError, match="'nope' is undefined"):
        Renderer(tmp_path).render("x", "main", "push", "{}", {"first_name": "Dana"})


def test_the_outbox_writes_a_message_once_even_when_asked_twice(tmp_path):
    outbox = Outbox(tmp_path, "run-1")
    outbox.send(MESSAGE)
    outbox.close()
    (tmp_path / "run-1.jsonl").open("a").write('{"message_id": "m2", "to"')  # torn by a crash
    again = Outbox(tmp_path, "run-1")
    assert again.send(MESSAGE) == "outbox:m1"
    again.send(Outgoing("m2", "sms", "+420601234568", "", "hi"))
    again.close()
    lines = (tmp_path / "run-1.jsonl").read_text().splitlines()
    ids = [json.loads(line)["message_id"] for line in lines if line.endswith("}")]
    assert ids == ["m1", "m2"]
    assert "+420" not in repr(MESSAGE)


def test_outbox_files_past_their_retention_are_deleted_and_recent_ones_kept(tmp_path):
    import os
    import time

    for run in ("old", "new"):
        outbox = Outbox(tmp_path, run)
        outbox.send(MESSAGE)
        outbox.close()
    now = time.time()
    os.utime(tmp_path / "old.jsonl", (now - 73 * 3600, now - 73 * 3600))
    assert purge_outbox(tmp_path, 72, now) == [tmp_path / "old.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.jsonl"]
    assert load(CONF / "delivery.yaml").outbox_retention_hours == 72


def test_delivery_settings_name_the_file_and_entry(tmp_path):
    assert load(CONF / "delivery.yaml").contacts["email"] == "crm_clients.email"
    bad = tmp_path / "delivery.yaml"
    text = (CONF / "delivery.yaml").read_text().replace("email: outbox", "email: pigeon")
    bad.write_text(text)
    with pytest.raises(
        DeliveryConfigError, match=r"delivery.yaml: adapters.email: Input should be"
    ):
        load(bad)
