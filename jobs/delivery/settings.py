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
    attempts: int = Field(default=4, ge=1, le=20)
    backoff_seconds: float = Field(default=0.5, ge=0)
    max_backoff_seconds: float = Field(default=8, ge=0)


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
