"""conf/serving.yaml: when to serve profiles, where (DynamoDB), what, and for how long.
Validated with pydantic; errors name the file and the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jobs.runtime.config import load_settings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DynamoDB(_Strict):
    table: str = Field(min_length=3)
    region: str = "eu-central-1"
    endpoint: str | None = None


class ServingSettings(_Strict):
    serve: Literal["s3", "always", "never"] = "s3"
    dynamodb: DynamoDB
    ttl_days: int = Field(default=35, ge=1)
    metrics: list[str] = Field(min_length=1)
    segments: list[str] = []

    def serves(self, lake_root: str) -> bool:
        if self.serve == "s3":
            return lake_root.startswith(("s3a://", "s3://"))
        return self.serve == "always"


def load(conf_dir: Path) -> ServingSettings:
    return load_settings(Path(conf_dir) / "serving.yaml", ServingSettings)
