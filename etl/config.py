"""Typed pipeline configuration (pydantic), read from pipelines/<dataset>.yaml.

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

from etl.normalize.sequences import SequencePolicy
from etl.normalize.text import TextPolicy
from etl.paths import pipelines_dir
from etl.qa.templates import BIOMEDGPT_UNIPROT_TEMPLATES, UNIPROT_ANSWERS, QATemplate, check_template_fields
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


class ReleaseSettings(Strict):
    license: str = "cc-by-4.0"
    rows_per_shard: int = Field(500_000, ge=1)
    pretty_name: str | None = None


class UniProtSelection(Strict):
    reviewed_only: bool = Field(False, description="keep Swiss-Prot entries only (UniProtQA used Swiss-Prot)")


class UniProtQAConfig(Strict):
    dataset: str = "uniprotqa"
    spark: SparkSettings = SparkSettings()
    selection: UniProtSelection = UniProtSelection()
    sequence: SequencePolicy = SequencePolicy()
    text: TextPolicy = TextPolicy()
    templates: list[QATemplate] = Field(default_factory=lambda: list(BIOMEDGPT_UNIPROT_TEMPLATES))
    split: SplitPolicy = SplitPolicy()
    quality: QualitySettings = QualitySettings()
    release: ReleaseSettings = ReleaseSettings(pretty_name="UniProtQA (rebuilt by lifeqa)")

    def model_post_init(self, _context) -> None:
        check_template_fields(self.templates, UNIPROT_ANSWERS)


class ConfigError(ValueError):
    pass


def load_config(model: type[BaseModel], path: Path | None, default_name: str) -> BaseModel:
    """Read `path` (or pipelines/<default_name>.yaml) into `model`, with a readable error."""
    path = path or pipelines_dir() / f"{default_name}.yaml"
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"config file {path} is invalid:\n{exc}") from None


def config_hash(config: BaseModel) -> str:
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
