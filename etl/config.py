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

from etl.normalize.descriptions import DescriptionPolicy
from etl.normalize.molecules import MoleculePolicy
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
    not_counted_reasons: list[str] = Field(
        default_factory=list,
        description="reject reasons that are expected by design and left out of max_reject_fraction "
                    "(still written to rejects and counted in the manifest)")


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


# What a PubChemQA split may group by: a gold column, or the InChIKey's first block
# (the connectivity: stereoisomers and isotopologues share it, so they share a split).
PUBCHEM_SPLIT_KEYS = ("inchikey_connectivity", "inchikey", "smiles", "cid")


class PubChemQAConfig(Strict):
    dataset: str = "pubchemqa"
    spark: SparkSettings = SparkSettings()
    molecules: MoleculePolicy = MoleculePolicy()
    descriptions: DescriptionPolicy = DescriptionPolicy()
    question: str = Field("Please describe this molecule.", min_length=1,
                          description="the one question every description answers")
    split: SplitPolicy = SplitPolicy(group_by="inchikey_connectivity")
    # A structure file (SDF, the bulk CID-SMILES) holds far more compounds than have a description:
    # those structures are rejected as no_description_for_cid by design, not as a sign of bad input.
    quality: QualitySettings = QualitySettings(not_counted_reasons=["no_description_for_cid"])
    # PubChem is public domain; each depositor's text keeps its own licence (listed in the card).
    release: ReleaseSettings = ReleaseSettings(license="other", pretty_name="PubChemQA (rebuilt by lifeqa)")

    def model_post_init(self, _context) -> None:
        if self.split.group_by not in PUBCHEM_SPLIT_KEYS:
            raise ValueError(f"split.group_by must be one of {PUBCHEM_SPLIT_KEYS}, got {self.split.group_by!r}")


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
