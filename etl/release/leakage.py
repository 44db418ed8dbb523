"""How much a release's evaluation splits can be answered from its training split.

For every validation/test entity, its nearest training entity: for proteins the top-1
hit of an MMseqs2 search of the evaluation sequences against the training ones, with
no identity floor (RAPM's measurement); for molecules the highest Morgan-fingerprint
(radius 2, 1,024 bits) Tanimoto similarity. From those:

- the distribution of that nearest identity / similarity, and how many evaluation
  entities have a training neighbour at or above the threshold (proteins: a homolog at
  the split's `min_identity` over `min_coverage` of both, the homology split's own
  criterion; molecules: Tanimoto >= `MOLECULE_SIMILARITY_THRESHOLD`);
- per question, the copy rate: the share of evaluation QA rows whose answer equals the
  answer that the nearest training entity has for the same question.

The same figures for a plain hash split of the same entities (the key's salted hash,
the release's ratios) are computed in the same run, so a reader sees what the
grouping bought. Answers are compared by their sha256; the release is read column by
column, batch by batch.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from etl.pipeline.dataset import Dataset
from etl.split import SPLITS, SplitPolicy, split_by_key_hash

TRAIN = "train"
MOLECULE_SIMILARITY_THRESHOLD = 0.7
HISTOGRAM_EDGES = (0.0, 0.3, 0.5, 0.7, 0.9, 1.0)


@dataclass
class ReleaseEntities:
    texts: dict[str, str] = field(default_factory=dict)  # key -> sequence / SMILES
    splits: dict[str, str] = field(default_factory=dict)  # key -> split in the release
    answers: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))  # (key, q) -> sha
    # (key, question label, answer sha) -> QA rows: equal rows are counted, not listed
    rows: Counter[tuple[str, str, str]] = field(default_factory=Counter)


def answer_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_entities(release_dir: Path, dataset: Dataset) -> ReleaseEntities:
    entity = dataset.entity
    label = "field" if "field" in pq.read_schema(next(iter(data_files(release_dir)))).names else "question"
    columns = sorted({entity.text_column, entity.key_column, label, "answer", "split"} - {None})
    found = ReleaseEntities()
    for path in data_files(release_dir):
        for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=65_536):
            table = batch.to_pydict()
            keys = entity.keys(batch).to_pylist()
            for key, text, question, answer, split in zip(keys, table[entity.text_column], table[label],
                                                          table["answer"], table["split"]):
                digest = answer_digest(answer)
                found.texts[key], found.splits[key] = text, split
                found.answers[(key, question)].add(digest)
                found.rows[(key, question, digest)] += 1
    return found


def data_files(release_dir: Path) -> list[Path]:
    return sorted(p for split in SPLITS for p in (Path(release_dir) / "data").glob(f"{split}-*.parquet"))


@dataclass(frozen=True)
class Neighbours:
    nearest: dict[str, tuple[str, float]]  # evaluation key -> (nearest training key, similarity)
    above_threshold: set[str]  # evaluation keys with a training neighbour at or above the threshold


def protein_neighbours(texts: dict[str, str], evaluation: list[str], training: list[str],
                       policy: SplitPolicy) -> Neighbours:
    """The top-1 hit with no floor (RAPM), and, apart, the homologs at the split's own thresholds
    (identity and coverage of both: what the homology split keeps apart)."""
    from etl.similarity.mmseqs import homologs_between, nearest_hits, write_fasta

    if not evaluation or not training:
        return Neighbours({}, set())
    with tempfile.TemporaryDirectory(prefix="lifeqa-leakage-") as work:
        queries, targets = Path(work, "evaluation.fasta"), Path(work, "training.fasta")
        write_fasta(((k, texts[k]) for k in evaluation), queries)
        write_fasta(((k, texts[k]) for k in training), targets)
        return Neighbours(nearest_hits(queries, targets),
                          homologs_between(queries, targets, policy.min_identity, policy.min_coverage))


def molecule_neighbours(texts: dict[str, str], evaluation: list[str], training: list[str],
                        policy: SplitPolicy) -> Neighbours:
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)

    def fingerprints(keys):
        return [(k, generator.GetFingerprint(Chem.MolFromSmiles(texts[k]))) for k in keys]

    train = fingerprints(training)
    if not train:
        return Neighbours({}, set())
    train_keys, train_fps = [k for k, _ in train], [fp for _, fp in train]
    nearest = {}
    for key, fp in fingerprints(evaluation):
        similarities = DataStructs.BulkTanimotoSimilarity(fp, train_fps)
        best = max(range(len(similarities)), key=lambda i: (similarities[i], -i))
        nearest[key] = (train_keys[best], similarities[best])
    return Neighbours(nearest, {k for k, (_, similarity) in nearest.items() if similarity >= MOLECULE_SIMILARITY_THRESHOLD})


def histogram(values: list[float]) -> dict[str, int]:
    counts = Counter()
    for value in values:
        for low, high in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:]):
            if low <= value < high or (high == HISTOGRAM_EDGES[-1] and value == high):
                counts[f"[{low:.1f}, {high:.1f}{']' if high == HISTOGRAM_EDGES[-1] else ')'}"] += 1
                break
    return dict(sorted(counts.items()))


def split_figures(entities: ReleaseEntities, splits: dict[str, str], neighbours_of, policy: SplitPolicy) -> dict:
    evaluation = sorted(k for k, s in splits.items() if s != TRAIN)
    training = sorted(k for k, s in splits.items() if s == TRAIN)
    neighbours = neighbours_of(entities.texts, evaluation, training, policy)
    nearest = neighbours.nearest
    similarities = [nearest[k][1] if k in nearest else 0.0 for k in evaluation]
    above = len(neighbours.above_threshold)
    copied, asked = Counter(), Counter()
    for (key, question, digest), rows in entities.rows.items():
        if splits[key] == TRAIN:
            continue
        asked[question] += rows
        hit = nearest.get(key)
        copied[question] += rows * bool(hit and digest in entities.answers.get((hit[0], question), ()))
    return {
        "evaluation_entities": len(evaluation),
        "training_entities": len(training),
        "above_threshold": above,
        "above_threshold_share": round(above / len(evaluation), 4) if evaluation else 0.0,
        "nearest": {"median": round(statistics.median(similarities), 4) if similarities else None,
                    "max": round(max(similarities), 4) if similarities else None,
                    "histogram": histogram(similarities)},
        "copy_rate": {q: {"rows": asked[q], "copied": copied[q], "rate": round(copied[q] / asked[q], 4)}
                      for q in sorted(asked)},
    }


def leakage_report(release_dir: Path, dataset: Dataset, policy: SplitPolicy) -> dict:
    """The leakage figures of the release's own split and of a hash split of the same entities."""
    entities = read_entities(Path(release_dir), dataset)
    protein = dataset.entity.kind == "protein"
    neighbours_of = protein_neighbours if protein else molecule_neighbours
    hashed = {key: split_by_key_hash(key, policy) for key in entities.splits}
    released = split_figures(entities, entities.splits, neighbours_of, policy)
    # A hash split on the entity key (the default hash strategy) is the comparison split itself:
    # its searches would repeat the release's own, for the same figures.
    compared = released if hashed == entities.splits else split_figures(entities, hashed, neighbours_of, policy)
    return {
        "measure": ("MMseqs2 easy-search top-1 hit, identity (no floor)" if protein
                    else "Morgan fingerprint (radius 2, 1024 bits), highest Tanimoto similarity"),
        "threshold": (f">= {policy.min_identity:.0%} identity over >= {policy.min_coverage:.0%} coverage of both"
                      if protein else f"Tanimoto >= {MOLECULE_SIMILARITY_THRESHOLD}"),
        "strategy": policy.strategy,
        "release_split": released,
        "hash_split": compared,
    }
