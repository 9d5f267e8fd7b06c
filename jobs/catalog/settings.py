"""conf/catalog.yaml: when to register in Glue and where, Trino's catalog and schemas.
Validated with pydantic; errors name the file and the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jobs.runtime.config import load_settings

Zone = Literal["stage", "analytics"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Glue(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    when: Literal["s3", "always", "never"] = Field(default="s3", alias="register")
    region: str = "eu-central-1"
    databases: dict[Zone, str]


class Trino(_Strict):
    catalog: str = "delta"
    schemas: dict[Zone, str]


class CatalogSettings(_Strict):
    glue: Glue
    trino: Trino

    def registers_in_glue(self, lake_root: str) -> bool:
        if self.glue.when == "s3":
            return lake_root.startswith(("s3a://", "s3://"))
        return self.glue.when == "always"


def load(conf_dir: Path) -> CatalogSettings:
    return load_settings(Path(conf_dir) / "catalog.yaml", CatalogSettings)
