"""Typed pipeline configuration (pydantic), read from pipelines/<dataset>.yaml: the settings every
dataset shares; each dataset's own sections live in its module (etl/datasets/).

Unknown keys are errors (a typo must not silently fall back to a default), and
the config's hash, recorded in every manifest, is taken over its canonical JSON
with defaults filled in, so two files meaning the same thing hash the same.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from etl.paths import pipelines_dir
from etl.split import SplitPolicy


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SparkSettings(Strict):
    master: str = Field("local[*]", description="Spark master URL: local[*], spark://host:7077, yarn, k8s://...")
    shuffle_partitions: int = Field(8, ge=1)
    conf: dict[str, str] = Field(default_factory=dict, description="extra spark.* settings")


class QualitySettings(Strict):
    max_reject_fraction: float = Field(
        0.5, ge=0, le=1, description="fail the build when rejected/input records exceeds this")
    not_counted_reasons: list[str] = Field(
        default_factory=list,
        description="reject reasons that are expected by design and left out of max_reject_fraction "
                    "(still written to rejects and counted in the manifest)")


class ReleaseSettings(Strict):
    license: str = "cc-by-4.0"
    rows_per_shard: int = Field(500_000, ge=1)
    pretty_name: str | None = None
    allow_empty: bool = Field(False, description="write a release even when no record survives the build "
                                                 "(by default such a build fails and writes nothing)")


class DatasetConfig(Strict):
    """What every dataset's config holds; a dataset's module subclasses it with its own
    sections and defaults (etl/datasets/<name>.py)."""

    dataset: str
    spark: SparkSettings = SparkSettings()
    split: SplitPolicy = SplitPolicy()
    quality: QualitySettings = QualitySettings()
    release: ReleaseSettings = ReleaseSettings()


class ConfigError(ValueError):
    pass


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` laid over it, section by section."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def load_config(model: type[BaseModel], path: Path | None, default_name: str,
                overrides: dict | None = None) -> BaseModel:
    """Read `path` (or pipelines/<default_name>.yaml) into `model`, with `overrides` (a command
    line's) laid over it, with a readable error."""
    path = path or pipelines_dir() / f"{default_name}.yaml"
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    try:
        return model.model_validate(merged(data, overrides or {}))
    except ValidationError as exc:
        raise ConfigError(f"config file {path} is invalid:\n{exc}") from None


def canonical(value):
    """Plain JSON values with sets sorted: a set's iteration order changes between processes
    (string hashing is salted), and the config hash must not."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def config_document(config: BaseModel) -> dict:
    """The config with defaults filled in, as it goes into a manifest."""
    return canonical(config.model_dump(mode="python"))


def config_hash(config: BaseModel) -> str:
    return hashlib.sha256(json.dumps(config_document(config), sort_keys=True, separators=(",", ":")).encode()).hexdigest()
