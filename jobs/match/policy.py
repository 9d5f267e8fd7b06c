"""conf/contact_policy.yaml: how often, on which channels and when customers may be contacted."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobs.errors import ConfigError
from jobs.runtime.config import load_yaml

Channel = str


class ContactPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    topics: list[str] = []
    max_offers_per_customer_per_run: int = Field(default=2, ge=1)
    max_offers_per_customer_per_week: int = Field(default=4, ge=1)
    channel_caps_per_week: dict[Channel, int] = {}
    decline_cooldown_days: int = Field(default=30, ge=0)
    expires_after_days: int = Field(default=7, ge=1)
    send_time: time = time(9, 0)
    time_zones: dict[str, str] = {}
    default_time_zone: str = "UTC"

    @field_validator("channel_caps_per_week")
    @classmethod
    def _channels(cls, caps: dict[str, int]) -> dict[str, int]:
        for channel, cap in caps.items():
            if channel not in ("push", "email", "sms") or cap < 0:
                raise ValueError(f"{channel}: {cap} (channels push, email, sms; caps >= 0)")
        return caps

    @field_validator("time_zones", "default_time_zone")
    @classmethod
    def _zones(cls, value):
        zones = value.values() if isinstance(value, dict) else [value]
        known = available_timezones()
        for zone in zones:
            if zone not in known:
                raise ValueError(f"unknown time zone {zone!r} (IANA names, e.g. Europe/Prague)")
            ZoneInfo(zone)
        return value

    @classmethod
    def load(cls, conf_dir: Path) -> ContactPolicy:
        path = conf_dir / "contact_policy.yaml"
        if not path.is_file():
            return cls()
        try:
            return cls.model_validate(load_yaml(path))
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise ConfigError(f"{path}: {problems}") from None
