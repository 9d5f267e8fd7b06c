"""The allies the geofence stage and `simulate-route` fence: the allies feed plus conf/allies.yaml.

conf/allies.yaml holds
- `allies`: stores the bank signs up directly (a point with `radius_m`, or a polygon as WKT, and
  their offer). One declared here replaces the feed's ally with the same `ally_id`.
- `category_offers`: the offer at any ally of a category whose own record carries none, e.g.
  OpenStreetMap POIs, which name a store but no offer. A record with an offer of its own (even
  an expired one) keeps it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.errors import OfferlakeError
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext

COLUMNS = (
    "ally_id string, name string, category string, mcc int, radius_m double, offer_id string, "
    "discount_pct double, offer_valid_from date, offer_valid_to date, geometry_wkt string"
)
TYPES = dict(c.split() for c in COLUMNS.split(", "))
OFFER_COLUMNS = ("offer_id", "discount_pct", "offer_valid_from", "offer_valid_to")


class AlliesConfigError(OfferlakeError):
    """conf/allies.yaml does not parse or holds a wrong value."""


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_id: str = Field(min_length=1)
    discount_pct: float | None = Field(default=None, ge=0, le=100)
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _window(self) -> Offer:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        return self


class Ally(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ally_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    category: str = Field(min_length=1)
    mcc: int | None = Field(default=None, ge=0, le=9999)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_m: float | None = Field(default=None, gt=0, le=5000)
    wkt: str | None = None
    offer: Offer | None = None

    @model_validator(mode="after")
    def _shape(self) -> Ally:
        point = self.lat is not None and self.lon is not None and self.radius_m is not None
        if point == (self.wkt is not None):
            raise ValueError("give either lat, lon and radius_m (a point store) or wkt (a polygon)")
        return self

    def row(self) -> tuple:
        wkt = self.wkt or f"POINT ({self.lon} {self.lat})"
        o = self.offer
        offer = (o.offer_id, o.discount_pct, o.valid_from, o.valid_to) if o else (None,) * 4
        return (self.ally_id, self.name, self.category, self.mcc, self.radius_m, *offer, wkt)


class AlliesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allies: list[Ally] = []
    category_offers: dict[str, Offer] = {}

    @model_validator(mode="after")
    def _unique(self) -> AlliesConfig:
        seen: set[str] = set()
        for ally in self.allies:
            if ally.ally_id in seen:
                raise ValueError(f"ally_id {ally.ally_id!r} is declared twice")
            seen.add(ally.ally_id)
        return self

    @classmethod
    def load(cls, conf_dir: Path) -> AlliesConfig:
        path = conf_dir / "allies.yaml"
        if not path.is_file():
            return cls()
        try:
            return cls.model_validate(yaml.safe_load(path.read_text()) or {})
        except yaml.YAMLError as e:
            raise AlliesConfigError(f"{path}: not YAML: {e}") from None
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
                for err in e.errors()
            )
            raise AlliesConfigError(f"{path}: {problems}") from None


def allies(spark: SparkSession, feed: DataFrame | None, conf_dir: Path) -> DataFrame:
    """The feed's allies (stage/allies, or None) with conf/allies.yaml applied, as COLUMNS."""
    conf = AlliesConfig.load(conf_dir)
    declared = spark.createDataFrame([a.row() for a in conf.allies], COLUMNS)
    if feed is not None:
        kept = feed.join(declared.select("ally_id"), "ally_id", "left_anti")
        declared = kept.select(*TYPES).unionByName(declared)
    if not conf.category_offers:
        return declared
    offers = spark.createDataFrame(
        [
            (category, o.offer_id, o.discount_pct, o.valid_from, o.valid_to)
            for category, o in conf.category_offers.items()
        ],
        "category string, " + ", ".join(f"_{c} {TYPES[c]}" for c in OFFER_COLUMNS),
    )
    joined = declared.join(F.broadcast(offers), "category", "left")
    own = F.col("offer_id").isNotNull()
    return joined.select(
        *[
            F.when(own, F.col(c)).otherwise(F.col(f"_{c}")).alias(c) if c in OFFER_COLUMNS else c
            for c in TYPES
        ]
    )


def of_lake(ctx: RunContext) -> DataFrame:
    """stage/allies (when the feed has delivered) with conf/allies.yaml applied."""
    present = delta_io.is_delta(ctx.spark, ctx.path("stage/allies"))
    return allies(ctx.spark, ctx.read("stage/allies") if present else None, ctx.config.conf_dir)
