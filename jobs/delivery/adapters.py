"""Channel adapters: how a rendered message leaves the bank.

- `outbox` (default): one JSON line per message in `onprem/delivery/outbox/<run>.jsonl`, for
  the bank's own sender. Idempotent: a message id already in the file is not written again,
  so a crash between writing and recording a message cannot duplicate it.
- `sns`: SMS to a phone number; push to a platform endpoint made for the device (SNS returns
  the same endpoint for the same device token).
- `ses`: a plain-text e-mail.

An adapter raises SendError with a reason that names the error, never the contact or the
text: the reason is stored in the ledger and flows to the lake.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from jobs.delivery import lines
from jobs.errors import OfferlakeError

# provider error codes worth another attempt (throttling, transient server faults)
RETRYABLE = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "KMSThrottlingException",
}


class SendError(OfferlakeError):
    """A message was not sent. `reason` names the error only (no contact, no text)."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # hash of (run, token, campaign, channel): no PII
    channel: str
    address: str = field(repr=False)  # the clear contact: never logged
    subject: str = field(repr=False)
    body: str = field(repr=False)
    send_at: datetime | None = None


def purge_outbox(folder: Path, hours: float, now: float | None = None) -> list[Path]:
    """Delete the outbox files last written more than `hours` ago; the files deleted."""
    if not folder.is_dir():
        return []
    cutoff = (now if now is not None else time.time()) - hours * 3600
    gone = [p for p in sorted(folder.glob("*.jsonl")) if p.stat().st_mtime < cutoff]
    for path in gone:
        path.unlink()
    return gone


class Outbox:
    name = "outbox"

    def __init__(self, folder: Path, run_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{run_id}.jsonl"
        self._seen = set()
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    self._seen.add(json.loads(line)["message_id"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: its message is written again
        self._file = None

    def send(self, message: Outgoing) -> str:
        if message.message_id not in self._seen:
            if self._file is None:
                self._file = lines.open_append(self.path)
            record = {
                "message_id": message.message_id,
                "channel": message.channel,
                "to": message.address,
                "subject": message.subject,
                "body": message.body,
                "send_at": message.send_at.isoformat() if message.send_at else None,
            }
            lines.write_line(self._file, json.dumps(record, ensure_ascii=False))
            self._seen.add(message.message_id)
        return f"outbox:{message.message_id}"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _aws_call(call, **kwargs) -> dict:
    try:
        return call(**kwargs)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "ClientError")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        raise SendError(f"{code} (HTTP {status})", code in RETRYABLE or status >= 500) from None
    except BotoCoreError as e:
        raise SendError(type(e).__name__, True) from None


class Sns:
    name = "sns"

    def __init__(self, client, platform_application_arn: str) -> None:
        self.client = client
        self.platform_application_arn = platform_application_arn

    def send(self, message: Outgoing) -> str:
        if message.channel == "sms":
            sent = _aws_call(self.client.publish, PhoneNumber=message.address, Message=message.body)
        else:
            if not self.platform_application_arn:
                raise SendError("no SNS platform application configured for push", False)
            endpoint = _aws_call(
                self.client.create_platform_endpoint,
                PlatformApplicationArn=self.platform_application_arn,
                Token=message.address,
            )
            sent = _aws_call(
                self.client.publish, TargetArn=endpoint["EndpointArn"], Message=message.body
            )
        return f"sns:{sent['MessageId']}"

    def close(self) -> None:
        pass


class Ses:
    name = "ses"

    def __init__(self, client, sender: str) -> None:
        self.client = client
        self.sender = sender

    def send(self, message: Outgoing) -> str:
        sent = _aws_call(
            self.client.send_email,
            Source=self.sender,
            Destination={"ToAddresses": [message.address]},
            Message={
                "Subject": {"Data": message.subject or message.body[:60]},
                "Body": {"Text": {"Data": message.body}},
            },
        )
        return f"ses:{sent['MessageId']}"

    def close(self) -> None:
        pass
