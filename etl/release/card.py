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


CITATIONS = {
    "uniprot": """@article{uniprot2025,
  title   = {{UniProt}: the Universal Protein Knowledgebase in 2025},
  author  = {{The UniProt Consortium}},
  journal = {Nucleic Acids Research},
  volume  = {53},
  number  = {D1},
  pages   = {D609--D617},
  year    = {2025},
  doi     = {10.1093/nar/gkae1010}
}""",
    "pubchem": """@article{pubchem2025,
  title   = {{PubChem} 2025 update},
  author  = {Kim, Sunghwan and Chen, Jie and Cheng, Tiejun and Gindulyte, Asta and He, Jia and He, Siqian and
             Li, Qingliang and Shoemaker, Benjamin A. and Thiessen, Paul A. and Yu, Bo and Zaslavsky, Leonid and
             Zhang, Jian and Bolton, Evan E.},
  journal = {Nucleic Acids Research},
  volume  = {53},
  number  = {D1},
  pages   = {D1516--D1525},
  year    = {2025},
  doi     = {10.1093/nar/gkae1059}
}""",
    "biomedgpt": """@article{luo2023biomedgpt,
  title   = {{BioMedGPT}: Open Multimodal Generative Pre-trained Transformer for BioMedicine},
  author  = {Luo, Yizhen and Zhang, Jiahuan and Fan, Siqi and Yang, Kai and Wu, Yushuai and Qiao, Mu and
             Nie, Zaiqing},
  journal = {arXiv preprint arXiv:2308.09442},
  year    = {2023}
}""",
}
# Which source database an entity kind's rows come from: the card cites it beside BioMedGPT.
SOURCE_CITATION = {"protein": "uniprot", "molecule": "pubchem"}


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def in_split_order(rows: list[dict]) -> list[dict]:
    """Rows train, validation, test (the statistics come sorted by name; a stable sort keeps the rest)."""
    return sorted(rows, key=lambda row: SPLITS.index(row["split"]))


def statistics_section(statistics: dict) -> str:
    """Entities and QA rows per split, per field and per source, as the build counted them."""
    field, source = statistics["field_column"], statistics["source_column"]
    entity = statistics["entity"]["id_column"]
    per_split = markdown_table(["split", f"entities ({entity})", "QA rows"],
                               [[r["split"], r["entities"], r["rows"]] for r in in_split_order(statistics["splits"])])
    per_field = markdown_table(["split", field, "entities", "QA rows"],
                               [[r["split"], r[field], r["entities"], r["rows"]] for r in in_split_order(statistics["fields"])])
    per_source = markdown_table(["split", source, "entities", "QA rows"],
                                [[r["split"], r[source] or "unknown", r["entities"], r["rows"]]
                                 for r in in_split_order(statistics["sources"])])
    return f"""{per_split}

Per {field}:

{per_field}

Per {source.replace('_', ' ')}:

{per_source}"""


def lengths_section(statistics: dict, plots: dict) -> str:
    """The length plots and, per split, the minimum, median and maximum lengths."""
    text = statistics["entity"]["text_column"]
    rows = [[split, what, f"{s['min']} / {s['median']} / {s['max']}"]
            for what, key in ((text, "entity"), ("answer", "answer"))
            for split, s in sorted(statistics["lengths"][key]["summary"].items(), key=lambda i: SPLITS.index(i[0]))]
    return f"""![length distributions]({plots['lengths']})

![QA rows per {statistics['field_column']}]({plots['fields']})

{markdown_table(["split", "length of", "min / median / max (characters)"], rows)}"""


def licences_table(statistics: dict) -> str:
    return markdown_table(["source", "licence", "entities", "QA rows"],
                          [[r["source"], r["license"], r["entities"], r["rows"]] for r in statistics["licences"]])


def citation_section(statistics: dict) -> str:
    cited = [SOURCE_CITATION[statistics["entity"]["kind"]], "biomedgpt"]
    return "```bibtex\n" + "\n\n".join(CITATIONS[name] for name in cited) + "\n```"


def provenance_section(manifest: dict) -> str:
    return f"""Built by lifeqa {manifest['lifeqa_version']} (Spark {manifest['spark']['version']}) with:

```bash
{manifest['command'] or '(called from Python: etl.pipeline.release_build.build_release)'}
```

| checksum | sha256 |
| --- | --- |
| config | `{manifest['config_sha256']}` |
| content (data rows) | `{manifest['content_sha256']}` |
| rejects (rows) | `{manifest['rejects_sha256']}` |

Source releases: {', '.join(manifest['source_releases']) or 'not recorded by the inputs'}."""


def render_card(info: CardInfo, manifest: dict) -> str:
    counts = manifest["counts"]
    statistics = manifest["statistics"]
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

{statistics_section(statistics)}

{split_text(manifest)}

## Lengths

{lengths_section(statistics, manifest['plots'])}

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

{licences_table(statistics)}

## Citation

{citation_section(statistics)}

## Provenance

{provenance_section(manifest)}

## Loading

```python
import datasets
ds = datasets.load_dataset("path/to/this/directory")          # train / validation / test
rejects = datasets.load_dataset("path/to/this/directory", "rejects")
```
"""
