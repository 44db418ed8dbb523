"""Split assignment and pipeline configuration."""

from __future__ import annotations

import pytest

from etl.config import ConfigError, config_hash, load_config
from etl.datasets.uniprotqa import UniProtQAConfig
from etl.split import SplitPolicy, split_by_key_hash


def test_split_is_a_pure_function_of_the_key():
    policy = SplitPolicy()
    keys = [f"key-{i}" for i in range(5000)]
    first = [split_by_key_hash(k, policy) for k in keys]
    assert first == [split_by_key_hash(k, policy) for k in reversed(keys)][::-1]
    counts = {s: first.count(s) for s in ("train", "validation", "test")}
    assert abs(counts["train"] / 5000 - 0.8) < 0.03
    assert abs(counts["test"] / 5000 - 0.1) < 0.02


def test_salt_draws_another_split():
    keys = [f"key-{i}" for i in range(200)]
    assert ([split_by_key_hash(k, SplitPolicy()) for k in keys]
            != [split_by_key_hash(k, SplitPolicy(salt="other")) for k in keys])


def test_ratios_must_partition():
    with pytest.raises(ValueError):
        SplitPolicy(ratios={"train": 0.9, "validation": 0.2, "test": 0.1})
    with pytest.raises(ValueError):
        SplitPolicy(ratios={"train": 1.0})


def test_shipped_config_is_the_default_with_the_biomedgpt_questions():
    config = load_config(UniProtQAConfig, None, "uniprotqa")
    assert config_hash(config) == config_hash(UniProtQAConfig())
    assert [t.question for t in config.templates] == [
        "What is the function of this protein?",
        "What are the official names of this protein?",
        "What is the protein family that this protein belongs to?",
        "What are the subcellular locations of this protein?",
    ]


def test_config_typos_are_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sequence:\n  ambiguos: keep\n")
    with pytest.raises(ConfigError, match="ambiguos"):
        load_config(UniProtQAConfig, path, "uniprotqa")
    path.write_text("templates:\n  - field: structure\n    question: What is it?\n")
    with pytest.raises(ConfigError, match="structure"):
        load_config(UniProtQAConfig, path, "uniprotqa")
