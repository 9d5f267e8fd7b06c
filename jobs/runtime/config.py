"""Loads conf/lake.yaml into a typed LakeConfig, once, with errors that name file and key."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from jobs.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONF_DIR = REPO_ROOT / "conf"


def conf_dir() -> Path:
    """The conf/ folder: OFFERLAKE_CONF if set, else the repository's own."""
    return Path(os.environ.get("OFFERLAKE_CONF", DEFAULT_CONF_DIR))


def load_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; a missing file or a non-mapping is a ConfigError naming the file."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


Settings = TypeVar("Settings", bound=BaseModel)


def load_settings(path: Path, model: type[Settings]) -> Settings:
    """A YAML file validated by a pydantic model; errors name the file and the first entry."""
    data = load_yaml(path)
    try:
        return model(**data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


def expand_env(text: str, where: str) -> str:
    """`${NAME}` -> the environment variable NAME, unset a ConfigError naming `where`;
    `${NAME:-default}` -> NAME, or the default where NAME is unset or empty.

    >>> expand_env("${OFFERLAKE_UNSET_FOR_DOCTEST:-6g}", "lake.yaml")
    '6g'
    """

    def env(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if default is not None:
            return value or default
        if value is None:
            raise ConfigError(f"{where}: needs ${name}, which is not set")
        return value

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", env, text)


def _absolute(root: str) -> str:
    if "://" in root:
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())


def _days(path: Path, value) -> int:
    if value is None:
        return 30
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{path}: retention.landing_days must be a whole number of days >= 1")
    return value


MIB = 1 << 20


@dataclass(frozen=True)
class GzipLimits:
    """How far a landed .gz may inflate (conf/lake.yaml `ingest`)."""

    max_inflated_bytes: int = 8192 * MIB
    max_ratio: float = 200.0  # inflated / compressed size, checked once past `ratio_after`
    ratio_after: int = 64 * MIB  # small files may inflate a lot (blank padding): not a bomb


def _gzip(path: Path, ingest: dict) -> dict:
    out = {}
    for key, kind in (("gzip_max_inflated_mb", int), ("gzip_max_ratio", float)):
        if key in ingest:
            value = ingest[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{path}: ingest.{key} must be a number > 0, got {value!r}")
            out[key] = kind(value)
    return out


CLOCKS = ("wall", "run_date")


def _clock(path: Path, environment: str, value) -> str:
    if value not in CLOCKS:
        raise ConfigError(
            f"{path}: environments.{environment}.clock must be one of {CLOCKS}, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class LakeConfig:
    """Everything about where the lake is and how Spark runs, for one environment."""

    environment: str
    lake_root: str
    onprem_root: str
    spark_master: str
    app_name: str = "offerlake"
    spark_conf: dict[str, str] = field(default_factory=dict)
    s3_endpoint: str | None = None
    conf_dir: Path = DEFAULT_CONF_DIR
    landing_retention_days: int = 30  # ingested deliveries older than this are deleted
    # what "now" is for jobs that act on time (delivery: due and expired messages): `wall`, the
    # real clock; `run_date`, the end of the run's date (a bank whose days are replayed: the
    # demo, tests, a backfill rehearsal)
    clock: str = "wall"
    # how far a landed .gz may inflate before it is quarantined whole (conf/lake.yaml `ingest`)
    gzip_max_inflated_mb: int = 8192
    gzip_max_ratio: float = 200.0

    @property
    def gzip_limits(self) -> GzipLimits:
        return GzipLimits(self.gzip_max_inflated_mb * MIB, self.gzip_max_ratio)

    @classmethod
    def load(
        cls,
        conf: Path | None = None,
        lake: str | None = None,
        environment: str | None = None,
    ) -> LakeConfig:
        """Load conf/lake.yaml; `lake` (or OFFERLAKE_LAKE) overrides the lake root, and the on-prem
        root too only where the environment has none of its own.

        >>> LakeConfig.load(lake="/tmp/lake").lake_root
        '/tmp/lake'
        """
        conf = conf or conf_dir()
        path = conf / "lake.yaml"
        data = load_yaml(path)
        environments = data.get("environments")
        if not isinstance(environments, dict) or not environments:
            raise ConfigError(f"{path}: key 'environments' must map names to settings")
        name = environment or os.environ.get("OFFERLAKE_ENV") or data.get("default_environment")
        if name not in environments:
            raise ConfigError(
                f"{path}: environment '{name}' is not one of {sorted(environments)}"
                " (set OFFERLAKE_ENV or default_environment)"
            )
        env = environments[name] or {}
        lake_root = lake or os.environ.get("OFFERLAKE_LAKE") or env.get("lake_root")
        if not lake_root:
            raise ConfigError(f"{path}: environments.{name}.lake_root is required")
        # on-prem zones stay where the environment puts them, whatever --lake says: raw, the
        # vault, its key file and the outbox never follow the lake into a bucket; an environment
        # without `onprem_root` keeps both sides in one local folder (a laptop, the demo, tests)
        onprem_root = str(env.get("onprem_root") or lake_root)
        if "://" in onprem_root:
            raise ConfigError(
                f"{path}: environments.{name}: the on-prem root must be a local folder, not "
                f"{onprem_root} (on-prem zones never leave the bank; set onprem_root)"
            )
        spark = data.get("spark") or {}
        spark_conf = spark.get("conf") or {}
        if not isinstance(spark_conf, dict):
            raise ConfigError(f"{path}: spark.conf must be a mapping of Spark settings")
        return cls(
            environment=name,
            lake_root=_absolute(str(lake_root)),
            onprem_root=_absolute(onprem_root),
            spark_master=str(env.get("spark_master", "local[*]")),
            app_name=str(spark.get("app_name", "offerlake")),
            spark_conf={
                str(k): expand_env(str(v), f"{path}: spark.conf.{k}") for k, v in spark_conf.items()
            },
            s3_endpoint=env.get("s3_endpoint"),
            conf_dir=conf,
            landing_retention_days=_days(path, (data.get("retention") or {}).get("landing_days")),
            clock=_clock(path, name, env.get("clock", "wall")),
            **_gzip(path, data.get("ingest") or {}),
        )
