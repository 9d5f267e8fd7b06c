"""Delivery's parts without Spark: retries with backoff, rendering, the outbox, its settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from jobs.delivery.adapters import Outbox, Outgoing, SendError, _aws_call
from jobs.delivery.deliver import send_with_retries
from jobs.delivery.render import Renderer, RenderError
from jobs.delivery.settings import DeliveryConfigError, Retry, load

CONF = Path(__file__).resolve().parents[2] / "conf"
MESSAGE = Outgoing("m1", "sms", "+420601234567", "", "hello")


class Flaky:
    def __init__(self, failures: list[SendError]):
        self.failures = failures
        self.calls = 0

    def send(self, message):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok:1"


def test_a_retryable_failure_is_retried_with_exponential_backoff():
    waits = []
    adapter = Flaky([SendError("Throttling (HTTP 400)", True)] * 2)
    retry = Retry(attempts=4, backoff_seconds=0.5, max_backoff_seconds=8)
    assert send_with_retries(adapter, MESSAGE, retry, waits.append) == ("ok:1", 3)
    assert waits == [0.5, 1.0]


def test_after_the_limit_or_on_a_permanent_error_the_send_fails_with_its_reason():
    waits = []
    always = Flaky([SendError("ServiceUnavailable (HTTP 503)", True)] * 10)
    with pytest.raises(SendError) as failed:
        send_with_retries(always, MESSAGE, Retry(attempts=4, max_backoff_seconds=1), waits.append)
    assert (failed.value.attempts, always.calls, waits) == (4, 4, [0.5, 1.0, 1.0])
    permanent = Flaky([SendError("InvalidParameter (HTTP 400)", False)])
    with pytest.raises(SendError) as once:
        send_with_retries(permanent, MESSAGE, Retry(), waits.append)
    assert (once.value.attempts, permanent.calls) == (1, 1)


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


def test_delivery_settings_name_the_file_and_entry(tmp_path):
    assert load(CONF / "delivery.yaml").contacts["email"] == "crm_clients.email"
    bad = tmp_path / "delivery.yaml"
    text = (CONF / "delivery.yaml").read_text().replace("email: outbox", "email: pigeon")
    bad.write_text(text)
    with pytest.raises(
        DeliveryConfigError, match=r"delivery.yaml: adapters.email: Input should be"
    ):
        load(bad)
