"""conf/delivery.yaml: adapter per channel, contact field per channel, retry policy, AWS
settings. Validated with pydantic; errors name the file and the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.errors import OfferlakeError

Channel = Literal["email", "sms", "push"]
DEVICE = "device"  # contacts: push sends to the customer's newest device


class DeliveryConfigError(OfferlakeError):
    """conf/delivery.yaml does not parse or holds a wrong value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Retry(_Strict):
    """A transient failure is tried again on a later run, after a wait that doubles from
    `backoff_seconds` up to `max_backoff_seconds`, until `attempts` in all (then `failed`).
    This is the only retry layer: the AWS clients make one attempt per send."""

    attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=300, ge=0)
    max_backoff_seconds: float = Field(default=21600, ge=0)

    def wait_after(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return min(self.backoff_seconds * 2 ** max(attempts - 1, 0), self.max_backoff_seconds)


class Lease(_Strict):
    """One `deliver` per handoff at a time: the lease lasts `ttl_seconds`, renewed while the
    holder works; another process waits up to `wait_seconds`, then exits without sending."""

    ttl_seconds: float = Field(default=300, gt=0)
    wait_seconds: float = Field(default=900, ge=0)


class Ses(_Strict):
    region: str = "eu-central-1"
    sender: str = Field(min_length=3)


class Sns(_Strict):
    region: str = "eu-central-1"
    platform_application_arn: str = ""


class DeliverySettings(_Strict):
    source: str = "conf/delivery.yaml"
    adapters: dict[Channel, Literal["outbox", "sns", "ses"]]
    contacts: dict[Channel, str]
    first_name: str
    first_name_fallback: str = "valued customer"  # when the vault holds no first name
    retry: Retry = Retry()
    lease: Lease = Lease()
    # a run for D delivers what is due from the handoffs of D and the days before: a message
    # may be due later than its day (quiet hours, a preferred weekday)
    lookback_days: int = Field(default=7, ge=0, le=60)
    # the Airflow DAG `deliver_due` also sends what has come due, every hour
    hourly: bool = True
    # an outbox file (clear contacts and texts) is deleted this long after its last write: the
    # bank's sender has taken its messages by then
    outbox_retention_hours: float = Field(default=72, gt=0)
    ses: Ses
    sns: Sns = Sns()

    def field_of(self, channel: str) -> str:
        return self.contacts[channel]  # type: ignore[index]


def load(path: Path) -> DeliverySettings:
    try:
        body = yaml.safe_load(path.read_text()) or {}
        settings = DeliverySettings(source=str(path), **body)
    except (OSError, yaml.YAMLError) as e:
        raise DeliveryConfigError(f"{path}: {e}") from None
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise DeliveryConfigError(f"{path}: {where}") from None
    for channel in ("email", "sms", "push"):
        if channel not in settings.adapters or channel not in settings.contacts:
            raise DeliveryConfigError(f"{path}: channel {channel} needs an adapter and a contact")
    return settings
