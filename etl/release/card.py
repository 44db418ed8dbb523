"""The dataset card (README.md) of a release: YAML front matter the Hub and `datasets` read, then prose."""

from __future__ import annotations

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
                "description": f"{identity} rejects, content sha256 {manifest['rejects_sha256']}",
                "data_files": [{"split": "rejects", "path": "rejects/rejects-*.parquet"}],
            },
        ],
    }


SPLIT_TEXT = {
    "homology": ("Proteins are partitioned so that no protein in one split has a protein in another at or "
                 "above {min_identity:.0%} identity over {min_coverage:.0%} coverage of both (an MMseqs2 search); "
                 "identical sequences and isoforms share a split."),
    "scaffold": ("Molecules that share a Bemis-Murcko scaffold share a split (a salted hash of the scaffold); "
                 "an acyclic molecule is grouped by its `{group_by}` instead."),
    "hash": ("Splits are assigned from a salted hash of each record's `{group_by}`, so records that share "
             "it share a split, and every rebuild or later version puts a key in the same split."),
}


def leakage_table(report: dict) -> str:
    """The report as a Markdown table: the release's split beside the hash split."""
    ours, hashed = report["release_split"], report["hash_split"]
    lines = [f"| figure | this release ({report['strategy']} split) | hash split of the same entities |",
             "| --- | --- | --- |",
             f"| evaluation entities with a training neighbour at {report['threshold']} | "
             f"{ours['above_threshold']} of {ours['evaluation_entities']} ({ours['above_threshold_share']:.1%}) | "
             f"{hashed['above_threshold']} of {hashed['evaluation_entities']} ({hashed['above_threshold_share']:.1%}) |",
             f"| median nearest similarity | {ours['nearest']['median']} | {hashed['nearest']['median']} |"]
    for question in sorted(set(ours["copy_rate"]) | set(hashed["copy_rate"])):
        a, b = ours["copy_rate"].get(question), hashed["copy_rate"].get(question)
        lines.append(f"| copy rate: {question} | {a['rate']:.1%} of {a['rows']} rows | "
                     f"{b['rate']:.1%} of {b['rows']} rows |" if a and b else f"| copy rate: {question} | - | - |")
    return "\n".join(lines)


def split_text(manifest: dict) -> str:
    policy = manifest["config"]["split"]
    text = SPLIT_TEXT[policy.get("strategy", "hash")].format(**policy)
    leakage = manifest.get("leakage")
    if not leakage:
        return text
    return f"""{text}

### Leakage

Nearest training entity of each validation/test entity ({leakage['measure']}), and the copy rate:
the share of evaluation QA rows whose answer equals the answer its nearest training entity has for
the same question. The hash column is the same entities split by a plain salted hash, measured in
the same run (`lifeqa leakage DIR` prints it again).

{leakage_table(leakage)}"""


def quality_section(manifest: dict) -> str:
    """The validation's summary (etl/quality/) as a table and the link to its Data Docs; a release
    built before lifeqa validated releases has none."""
    quality = manifest.get("quality")
    if not quality:
        return "Not validated when built; `lifeqa validate DIR` validates it now."
    rows = "\n".join(f"| {s['suite']} | {s['table']} | {s['expectations']} | "
                     f"{', '.join(s['failed_errors']) or 'none'} | {', '.join(s['failed_warnings']) or 'none'} |"
                     for s in quality["suites"])
    return f"""Every expectation of error severity passed before this release was written (Great Expectations
{quality['great_expectations_version']}; `lifeqa validate DIR` runs the suites again). Data Docs:
[{quality['data_docs']}]({quality['data_docs']}); results: `{quality['results']}`.

| suite | table | expectations | failed (error) | failed (warn) |
| --- | --- | --- | --- | --- |
{rows}"""


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

{split_text(manifest)}

## Accounting

{counts['records_in']} input records: {counts['records_released']} in the release,
{counts['records_rejected']} rejected (config `rejects`, with the stage and a reason code).

| reason | records |
| --- | --- |
{rejected}

## Quality

{quality_section(manifest)}

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
