"""A release directory's manifest.json, read in one place: what says that a directory is no release."""

from __future__ import annotations

import json
from pathlib import Path


class NotAReleaseError(ValueError):
    """The directory holds no lifeqa release (no manifest.json, or one naming no known dataset);
    the commands exit 2 on it."""


def read_manifest(release: str | Path) -> dict:
    path = Path(release) / "manifest.json"
    if not path.is_file():
        raise NotAReleaseError(f"{release} is not a release directory (no manifest.json)")
    return json.loads(path.read_text())


def release_dataset(release: str | Path, manifest: dict):
    """The registered `Dataset` the manifest names."""
    from etl.datasets import datasets

    dataset = datasets().get(manifest.get("dataset"))
    if dataset is None:
        raise NotAReleaseError(f"{release}: unknown dataset {manifest.get('dataset')!r} in manifest.json; "
                               f"one of: {', '.join(datasets())}")
    return dataset
