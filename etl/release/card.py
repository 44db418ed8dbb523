"""The dataset card (README.md) of a release: YAML front matter the Hub and `datasets` read, then prose."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import yaml

from etl.split import SPLITS


@dataclass
class CardInfo:
    pretty_name: str
    license: str
    summary: str
    attribution: str
    tags: list[str] = field(default_factory=list)
    licenses_detail: list[str] = field(default_factory=list)

    @classmethod
    def for_config(cls, config, summary: str, attribution: str, tags: list[str]) -> CardInfo:
        """A dataset's card text, named and licensed as its config's `release` section says."""
        return cls(pretty_name=config.release.pretty_name or config.dataset, license=config.release.license,
                   summary=summary, attribution=attribution, tags=tags)


def files_digest(manifest: dict, prefix: str) -> str:
    """One sha256 over the manifest's checksums of the files under `prefix`."""
    listed = sorted((path, sha) for path, sha in manifest["files"].items() if path.startswith(prefix))
    return hashlib.sha256(json.dumps(listed).encode()).hexdigest()


def front_matter(info: CardInfo, manifest: dict) -> dict:
    # `datasets` caches a local dataset under its directory name and config; the config's
    # description carries the content checksum, so a release rebuilt in place (or another
    # release in a directory of the same name) never loads stale rows from that cache.
    identity = f"{manifest['dataset']} {manifest['version']}"
    return {
        "pretty_name": info.pretty_name,
        "license": info.license,
        "language": ["en"],
        "task_categories": ["question-answering", "text-generation"],
        "tags": info.tags,
        "configs": [
            {
                "config_name": "default",
                "default": True,
                "description": f"{identity}, content sha256 {manifest['content_sha256']}",
                "data_files": [{"split": split, "path": f"data/{split}-*.parquet"} for split in SPLITS],
            },
            {
                "config_name": "rejects",
                "description": f"{identity} rejects, sha256 {files_digest(manifest, 'rejects/')}",
                "data_files": [{"split": "rejects", "path": "rejects/rejects-*.parquet"}],
            },
        ],
    }


def render_card(info: CardInfo, manifest: dict) -> str:
    counts = manifest["counts"]
    rows = "\n".join(f"| {split} | {counts['rows_by_split'].get(split, 0)} |" for split in SPLITS)
    rejected = "\n".join(f"| {reason} | {n} |" for reason, n in sorted(counts["rejected_by_reason"].items())) or "| (none) | 0 |"
    licenses = "\n".join(f"- {line}" for line in info.licenses_detail)
    return f"""---
{yaml.safe_dump(front_matter(info, manifest), sort_keys=False, width=1000).strip()}
---

# {info.pretty_name}

{info.summary}

Version **{manifest['version']}**, built by lifeqa {manifest['lifeqa_version']} on {manifest['created']}
from {len(manifest['inputs'])} input file(s); config sha256 `{manifest['config_sha256'][:16]}…`;
content sha256 `{manifest['content_sha256'][:16]}…`. `manifest.json` names every input by checksum.

## Splits

| split | rows |
| --- | --- |
{rows}

Splits are assigned from a hash of each record's grouping key, so records that share the key
share a split, and every rebuild or later version puts a key in the same split.

## Accounting

{counts['records_in']} input records: {counts['records_released']} in the release,
{counts['records_rejected']} rejected (config `rejects`, with the stage and a reason code).

| reason | records |
| --- | --- |
{rejected}

## Source and licence

{info.attribution}
{licenses}

## Loading

```python
import datasets
ds = datasets.load_dataset("path/to/this/directory")          # train / validation / test
rejects = datasets.load_dataset("path/to/this/directory", "rejects")
```
"""
