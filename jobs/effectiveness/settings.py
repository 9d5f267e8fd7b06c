"""conf/effectiveness.yaml: the purchase window, the conversion window, the confidence level."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.errors import OfferlakeError


class EffectivenessConfigError(OfferlakeError):
    """conf/effectiveness.yaml does not parse or holds a wrong value."""


class EffectivenessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_minutes: float = Field(default=15, gt=0, le=24 * 60)
    conversion_days: int = Field(default=7, ge=1, le=365)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)

    @classmethod
    def load(cls, conf_dir: Path) -> EffectivenessSettings:
        path = conf_dir / "effectiveness.yaml"
        try:
            body = yaml.safe_load(path.read_text()) if path.is_file() else {}
            return cls(**(body or {}))
        except yaml.YAMLError as e:
            raise EffectivenessConfigError(f"{path}: {e}") from None
        except ValidationError as e:
            where = "; ".join(
                f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
            )
            raise EffectivenessConfigError(f"{path}: {where}") from None
