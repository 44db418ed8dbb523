"""Fault injection over the real PubChem files: one record damaged, every other record as from the clean file.

For every input format a clean real file (or one built from real rows) is damaged in one
record, chosen by hypothesis with the byte to damage inside one of its text fields, and
parsed with `iter_pubchem_records` (pure, no Spark). Each damage says which records it
may cost and with which reject reasons; the check is the same for all:

- every record outside the damage comes out exactly as from the clean file, in order;
- nothing is released that the clean file does not hold (damage never corrupts a record);
- every new reject has one of the damage's reasons, and the damaged record is one of them;
- no replacement character anywhere.

A cut costs the record it falls in and all after it; in a whole PUG-View record it costs
every description, since their References come at the end of the file.

Last, one end-to-end build (Spark, slow) over clean files next to damaged copies of them.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from etl.parse.pubchem import detect_pubchem_format, iter_pubchem_records

REPO = Path(__file__).resolve().parents[2]
ANNOTATION_PAGES = sorted((REPO / "etl/sample/pubchem/annotations").glob("annotations_built_from_real_descriptions_page*.json"))
ANNOTATION_PAGE = ANNOTATION_PAGES[0]
EXAMPLES = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GARBAGE = b"\x00\x1b#~garbage~\x07"


@dataclass
class Sample:
    """A clean file, and for each record a byte range inside one of its text fields."""

    name: str
    fmt: str
    data: bytes
    fields: dict[int, tuple[int, int]]

    @cached_property
    def records(self) -> list[dict]:
        return parse(self.data, self.name, self.fmt)


@dataclass
class Case:
    """A damaged file (bytes, or a stream that is cut), the records it may cost, the reasons it may give."""

    data: bytes | Callable[[], io.RawIOBase]
    affected: set[int]
    reasons: set[str]


class CutStream(io.RawIOBase):
    """The first `size` bytes of `data`, then EOFError: how a gzip download cut short ends."""

    def __init__(self, data: bytes, size: int):
        super().__init__()
        self._rest = io.BytesIO(data[:size])

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._rest.read(size)
        if not chunk:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        return chunk

    read1 = read


def parse(data, name: str, fmt: str) -> list[dict]:
    stream = data() if callable(data) else io.BytesIO(data)
    return list(iter_pubchem_records(stream, name, fmt))


def canonical(record: dict) -> str:
    return json.dumps(record, sort_keys=True, ensure_ascii=False)


# ------------------------------------------------------------------ samples: real files, text fields located


def json_text(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False)[1:-1].encode()


def located(data: bytes, needles: list[tuple[int, bytes]], start: int) -> dict[int, tuple[int, int]]:
    """Each (record index, needle) found in `data` in order from `start`: the needle's byte range."""
    fields = {}
    for index, needle in needles:
        at = data.index(needle, start)
        fields[index], start = (at, at + len(needle)), at + len(needle)
    return fields


def pug_view_record_sample(path: Path) -> Sample:
    data = path.read_bytes()
    sample = Sample(path.name, "pug_view_record", data, {})
    descriptions = [(r["record_index"], json_text(r["text"].split("\n")[0][:60]))
                    for r in sample.records if r["kind"] == "description"]
    sample.fields = located(data, descriptions, data.index(b'"TOCHeading": "Record Description"'))
    (structure,) = [r for r in sample.records if r["kind"] == "structure"]
    sample.fields |= located(data, [(structure["record_index"], json_text(structure["smiles"]))],
                             data.index(b'"TOCHeading": "Computed Descriptors"'))
    return sample


def annotation_page_sample(path: Path) -> Sample:
    data = path.read_bytes()
    sample = Sample(path.name, "pug_view_annotations", data, {})
    firsts = {r["record_index"]: r for r in reversed(sample.records)}
    needles = [(index, json_text(firsts[index]["text"][:60])) for index in sorted(firsts)]
    sample.fields = located(data, needles, 0)
    return sample


def sdf_sample(path: Path) -> Sample:
    data = path.read_bytes()
    fields, start = {}, 0
    for index in range(data.count(b"$$$$\n")):
        end = data.index(b"$$$$\n", start)
        value = data.index(b"\n", data.index(b"> <PUBCHEM_IUPAC_NAME>", start)) + 1
        fields[index] = (value, data.index(b"\n", value))
        start = end + 5
    return Sample(path.name, "sdf", data, fields)


def tsv_sample(name: str, fmt: str, lines: list[str], field: int, header: bool) -> Sample:
    data = "".join(line + "\n" for line in lines).encode()
    assert detect_pubchem_format(data, "no-hint") == fmt
    fields, start = {}, 0
    for number, line in enumerate(lines):
        value = "\t".join(line.split("\t")[:field]) + "\t"
        if number >= header:
            fields[number - header] = (start + len(value.encode()), start + len(line.encode()))
        start += len(line.encode()) + 1
    return Sample(name, fmt, data, fields)


def chebi_rows(shared_data: Path, count: int) -> list[list[str]]:
    lines = (shared_data / "pubchem" / "chebi20_test.tsv").read_text().splitlines()
    return [line.split("\t") for line in lines[1:count + 1]]


def property_table_sample(name: str, data: bytes) -> Sample:
    properties = json.loads(data)["PropertyTable"]["Properties"]
    needles = [(index, b'"SMILES": ' + json.dumps(row["SMILES"]).encode()) for index, row in enumerate(properties)]
    fields = {index: (at + 11, end - 1) for index, (at, end) in located(data, needles, 0).items()}
    return Sample(name, "pug_rest_json", data, fields)


@pytest.fixture(scope="session")
def samples(shared_data) -> dict[str, Sample]:
    pubchem = shared_data / "pubchem"
    chebi = chebi_rows(shared_data, 400)
    records = [pubchem / "pug_view" / f"{name}.json" for name in ("penicillin", "bromopentane", "triethylamine")]
    records.append(pubchem / "cid4" / "COMPOUND_CID_4.json")
    titles = [(r["cid"], r["title"]) for path in [*records, pubchem / "pug_view" / "benzene.json",
                                                   pubchem / "pug_view" / "ethyleneglycol.json"]
              for r in parse(path.read_bytes(), path.name, "pug_view_record") if r["kind"] == "structure"]
    built = [
        *[pug_view_record_sample(path) for path in records],
        *[annotation_page_sample(page) for page in ANNOTATION_PAGES],
        sdf_sample(pubchem / "sdf" / "rcpi_tyrphostin.sdf"),
        sdf_sample(pubchem / "cid4" / "Structure2D_COMPOUND_CID_4.sdf"),
        tsv_sample("chebi20_test.tsv", "chebi20_tsv", ["\t".join(["CID", "SMILES", "description"])] +
                   ["\t".join(row) for row in chebi], field=2, header=True),
        tsv_sample("CID-SMILES", "cid_smiles", [f"{cid}\t{smiles.replace(chr(92) * 2, chr(92))}"
                                                for cid, smiles, _ in chebi], field=1, header=False),
        tsv_sample("CID-Title", "cid_title", [f"{cid}\t{title}" for cid, title in titles], field=1, header=False),
        property_table_sample("aspirin_properties.json", (pubchem / "pug_rest/aspirin_properties.json").read_bytes()),
        # PUG REST's layout, with the CIDs and SMILES of real rows: a table of more than one row.
        property_table_sample("chebi_properties.json", json.dumps({"PropertyTable": {"Properties": [
            {"CID": int(cid), "SMILES": smiles.replace("\\\\", "\\")} for cid, smiles, _ in chebi[:40]]}},
            indent=4).encode()),
    ]
    return {sample.name: sample for sample in built}


SAMPLES = {  # name -> format
    "penicillin.json": "pug_view_record", "bromopentane.json": "pug_view_record",
    "triethylamine.json": "pug_view_record", "COMPOUND_CID_4.json": "pug_view_record",
    **{page.name: "pug_view_annotations" for page in ANNOTATION_PAGES},
    "rcpi_tyrphostin.sdf": "sdf", "Structure2D_COMPOUND_CID_4.sdf": "sdf",
    "chebi20_test.tsv": "chebi20_tsv", "CID-SMILES": "cid_smiles", "CID-Title": "cid_title",
    "aspirin_properties.json": "pug_rest_json", "chebi_properties.json": "pug_rest_json",
}
LINE_SAMPLES = ["rcpi_tyrphostin.sdf", "chebi20_test.tsv", "CID-SMILES", "CID-Title"]
JSON_SAMPLES = [name for name in SAMPLES if name.endswith(".json")]


# ------------------------------------------------------------------ damages


def letter_position(sample: Sample, index: int, draw) -> int:
    """An ASCII letter inside the record's text field (replacing it never splits a character)."""
    start, end = sample.fields[index]
    letters = [at for at in range(start, end) if chr(sample.data[at]).isascii() and chr(sample.data[at]).isalpha()]
    return draw(st.sampled_from(letters))


def from_here_on(sample: Sample, index: int) -> set[int]:
    if sample.fmt == "pug_view_record":  # the References, which every description needs, come last
        return {r["record_index"] for r in sample.records}
    return {r["record_index"] for r in sample.records if r["record_index"] >= index}


def non_utf8_byte(sample: Sample, index: int, draw) -> Case:
    at = letter_position(sample, index, draw)
    return Case(sample.data[:at] + b"\xff" + sample.data[at + 1:], {index}, {"not_utf8"})


def garbage_bytes(sample: Sample, index: int, draw) -> Case:
    at = letter_position(sample, index, draw)
    return Case(sample.data[:at] + GARBAGE + sample.data[at:], {index}, {"parse_error"})


def cut_download(sample: Sample, index: int, draw) -> Case:
    at = letter_position(sample, index, draw)
    return Case(lambda: CutStream(sample.data, at), from_here_on(sample, index), {"truncated_input"})


def cut_file(sample: Sample, index: int, draw) -> Case:
    return Case(sample.data[:letter_position(sample, index, draw)], from_here_on(sample, index), {"truncated_input"})


def line_breaks(newline: bytes):
    def converted(sample: Sample, index: int, draw) -> Case:
        return Case(sample.data.replace(b"\n", newline), set(), set())
    return converted


def null_value(sample: Sample, index: int, draw) -> Case:
    """The record's value (an annotation's text Value, a description item, a property row) replaced by null."""
    document = json.loads(sample.data)
    if sample.fmt == "pug_view_annotations":
        document["Annotations"]["Annotation"][index]["Data"][0]["Value"] = None
    elif sample.fmt == "pug_rest_json":
        document["PropertyTable"]["Properties"][index] = None
    else:
        record = document.get("Record", document)
        slots = [(section["Information"], position)
                 for section in sections_named(record["Section"], "Record Description")
                 for position in range(len(section["Information"]))]
        if index < len(slots):
            items, position = slots[index]
            items[position] = None
        else:  # the structure: its SMILES section's value
            next(sections_named(record["Section"], "SMILES"))["Information"][0]["Value"] = None
    return Case(json.dumps(document, indent=1, ensure_ascii=False).encode(), {index}, {"parse_error"})


def sections_named(sections: list[dict], heading: str):
    for section in sections:
        if section.get("TOCHeading") == heading:
            yield section
        yield from sections_named(section.get("Section", []), heading)


def extra_field(sample: Sample, index: int, draw) -> Case:
    """One line of a tab-separated format with a field too many."""
    end = sample.fields[index][1]
    return Case(sample.data[:end] + b"\tC" + sample.data[end:], {index}, {"parse_error"})


def stray_bracket(sample: Sample, index: int, draw) -> Case:
    """A `[` where a JSON member starts, inside the record: its structure cannot be followed past it."""
    key = sample.data.rindex(b'"', 0, sample.data.rindex(b'":', 0, sample.fields[index][0]))  # the text's member
    return Case(sample.data[:key] + b"[" + sample.data[key:], from_here_on(sample, index), {"unreadable_remainder"})


JSON_FORMATS = {"pug_view_record", "pug_view_annotations", "pug_rest_json"}
TAB_FORMATS = {"chebi20_tsv", "cid_smiles", "cid_title"}
EVERY_FORMAT = JSON_FORMATS | TAB_FORMATS | {"sdf"}
# Each damage and the formats it applies to.
DAMAGES = {
    "non_utf8_byte": (non_utf8_byte, EVERY_FORMAT),
    "garbage_bytes": (garbage_bytes, EVERY_FORMAT),
    "cut_download": (cut_download, EVERY_FORMAT),
    # A plain text file cut at a line's end cannot be told from a whole one; JSON and SDF can.
    "cut_file": (cut_file, JSON_FORMATS | {"sdf"}),
    "null_value": (null_value, JSON_FORMATS),
    "extra_field": (extra_field, TAB_FORMATS),
    "stray_bracket": (stray_bracket, JSON_FORMATS),
    "crlf": (line_breaks(b"\r\n"), EVERY_FORMAT),
    "cr": (line_breaks(b"\r"), EVERY_FORMAT),
}


# ------------------------------------------------------------------ the check


def assert_damage_contained(sample: Sample, case: Case, index: int) -> None:
    clean = sample.records
    records = parse(case.data, sample.name, sample.fmt)
    clean_keys = {canonical(r) for r in clean}
    assert "\ufffd" not in "".join(canonical(r) for r in records)
    unchanged = [r for r in records if canonical(r) in clean_keys]
    new = [r for r in records if canonical(r) not in clean_keys]
    assert [r for r in unchanged if r["record_index"] not in case.affected] == \
        [r for r in clean if r["record_index"] not in case.affected], "an undamaged record changed or vanished"
    assert all(r["kind"] == "reject" for r in new), f"released a record the clean file does not hold: {new}"
    assert {r["reason"] for r in new} <= case.reasons
    if case.reasons and case.affected == {index}:
        assert any(r["record_index"] == index for r in new), f"record {index} is not rejected"
        assert not any(r["record_index"] == index and r["kind"] != "reject" for r in records)
    elif case.reasons:
        assert new, "the damage left no reject"


@pytest.mark.parametrize("name, damage", [(name, damage) for name, fmt in SAMPLES.items()
                                          for damage, (_, formats) in DAMAGES.items() if fmt in formats])
@given(draw=st.data())
@EXAMPLES
def test_damage_to_one_record_costs_that_record_only(samples, name, damage, draw):
    sample = samples[name]
    index = draw.draw(st.sampled_from(sorted(sample.fields)), label="damaged record")
    damaged, _ = DAMAGES[damage]
    assert_damage_contained(sample, damaged(sample, index, draw.draw), index)


def test_every_format_is_covered(samples):
    assert {name: sample.fmt for name, sample in samples.items()} == SAMPLES
    assert set(SAMPLES.values()) == EVERY_FORMAT
    assert all(sample.fields and set(sample.fields) <= {r["record_index"] for r in sample.records}
               for sample in samples.values())


@pytest.mark.parametrize("name", JSON_SAMPLES)
def test_cut_inside_the_last_element_keeps_everything_before(samples, name):
    sample = samples[name]
    last = max(sample.fields)
    data = sample.data[:sample.fields[last][0] + 1]
    records = parse(data, name, sample.fmt)
    assert records[-1]["reason"] == "truncated_input"
    assert re.search(rf"bytes \d+-{len(data)} of {len(data)}", records[-1]["detail"])


@pytest.mark.parametrize("name", LINE_SAMPLES)
def test_damaged_line_detection_still_finds_the_format(samples, name):
    sample = samples[name]
    index = sorted(sample.fields)[len(sample.fields) // 2]
    start, end = sample.fields[index]
    damaged = sample.data[:start] + b"\xff" + GARBAGE + sample.data[start + 1:end] + b"\tX" + sample.data[end:]
    assert detect_pubchem_format(damaged[:65536], "no-hint") == sample.fmt


# ------------------------------------------------------------------ end to end: a build over damaged copies


def clean_inputs(shared_data: Path, directory: Path) -> Path:
    directory.mkdir(parents=True)
    pubchem = shared_data / "pubchem"
    for name in ("penicillin.json", "bromopentane.json"):
        shutil.copy(pubchem / "pug_view" / name, directory / name)
    shutil.copy(ANNOTATION_PAGE, directory / "annotations.json")
    lines = (pubchem / "chebi20_test.tsv").read_text().splitlines(keepends=True)[:41]
    (directory / "chebi_head.tsv").write_text("".join(lines))
    rows = [line.rstrip("\n").split("\t") for line in lines[1:]]
    (directory / "cid_smiles.tsv").write_text("".join(f"{cid}\t{smiles.replace(chr(92) * 2, chr(92))}\n"
                                                      for cid, smiles, _ in rows))
    return directory


def replaced_at(data: bytes, marker: bytes, offset: int, new: bytes, after: bytes = b"") -> bytes:
    """`data` with the byte `offset` bytes into the first `marker` (after `after`) replaced by `new`."""
    at = data.index(marker, data.index(after)) + offset
    return data[:at] + new + data[at + 1:]


def damaged_copies(clean: Path, directory: Path) -> dict[str, set[tuple[str, int | None]]]:
    """Damaged copies of the clean files; for each, the (reason, record index) its rejects must hold
    (index None: wherever the damage stops the reading)."""
    directory.mkdir(parents=True)
    chebi = (clean / "chebi_head.tsv").read_bytes().split(b"\n")
    chebi[3] = replaced_at(chebi[3], b"The molecule", 5, b"\xff")  # row 2
    chebi[7] += b"\textra"  # row 6
    (directory / "chebi_head_damaged.tsv").write_bytes(b"\r\n".join(chebi))
    penicillin = (clean / "penicillin.json").read_bytes()
    description = replaced_at(penicillin, b"Cillin has been", 4, b"\xe9", after=b'"TOCHeading": "Record Description"')
    (directory / "penicillin_not_utf8.json").write_bytes(description)
    bromopentane = (clean / "bromopentane.json").read_bytes()
    references = bromopentane.index(b'"Reference": [')
    stray = bromopentane.index(b'"SourceName"', references)
    (directory / "bromopentane_stray_bracket.json").write_bytes(bromopentane[:stray] + b"[" + bromopentane[stray:])
    cid_smiles = (clean / "cid_smiles.tsv").read_bytes().split(b"\n")
    cid_smiles[4] += b"\tC"
    (directory / "cid_smiles_damaged.tsv").write_bytes(b"\n".join(cid_smiles))
    page = json.loads((clean / "annotations.json").read_text())
    page["Annotations"]["Annotation"][2]["Data"][0]["Value"] = None
    (directory / "annotations_null_value.json").write_text(json.dumps(page, indent=1))
    annotations = (clean / "annotations.json").read_bytes()
    (directory / "annotations_cut.json").write_bytes(annotations[:int(len(annotations) * 0.6)])
    return {
        "chebi_head_damaged.tsv": {("not_utf8", 2), ("parse_error", 6)},
        "penicillin_not_utf8.json": {("not_utf8", 0)},
        "bromopentane_stray_bracket.json": {("unreadable_remainder", None)},
        "cid_smiles_damaged.tsv": {("parse_error", 4)},
        "annotations_null_value.json": {("parse_error", 2)},
        "annotations_cut.json": {("truncated_input", None)},
    }


def lenient_config(directory: Path) -> Path:
    """The default config, but with no ceiling on rejects: the copies' undamaged records are duplicates."""
    config = yaml.safe_load((REPO / "pipelines" / "pubchemqa.yaml").read_text())
    config["quality"]["max_reject_fraction"] = 1.0
    config["spark"]["shuffle_partitions"] = 2
    path = directory / "pubchemqa.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def released_pairs(release: Path) -> list[tuple[int, str]]:
    import datasets

    ds = datasets.load_dataset(str(release))
    return sorted((cid, answer) for split in ds.values() for cid, answer in zip(split["cid"], split["answer"]))


@pytest.mark.spark
@pytest.mark.slow
def test_build_over_damaged_copies_rejects_their_damage_and_releases_the_clean_rows(build, shared_data, tmp_path):
    """Clean files next to damaged copies of them: each damage is rejected with its reason,
    the manifest reconciles, and the QA rows are exactly those of the clean files alone."""
    import datasets

    clean = clean_inputs(shared_data, tmp_path / "inputs" / "clean")
    expected = damaged_copies(clean, tmp_path / "inputs" / "damaged")
    config = lenient_config(tmp_path)
    clean_release = build("pubchemqa", tmp_path / "clean_release", "--input", str(clean), "--config", str(config))
    release = build("pubchemqa", tmp_path / "release", "--input", str(tmp_path / "inputs"), "--config", str(config))

    manifest = json.loads((release / "manifest.json").read_text())
    counts = manifest["counts"]
    assert manifest["reconciled"] and counts["records_in"] == counts["records_released"] + counts["records_rejected"]
    assert {Path(i["path"]).name: i["format"] for i in manifest["inputs"]}.items() >= {
        "chebi_head_damaged.tsv": "chebi20_tsv", "cid_smiles_damaged.tsv": "cid_smiles",
        "penicillin_not_utf8.json": "pug_view_record", "annotations_cut.json": "pug_view_annotations"}.items()
    # Each record lost to the unreadable remainder names it: several origins, one file.
    assert {Path(origin.split("#")[0]).name for origin in manifest["incomplete_inputs"]} == {
        "bromopentane_stray_bracket.json"}

    rejects = datasets.load_dataset(str(release), "rejects")["rejects"]
    parse_rejects = [(Path(origin.split("#")[0]).name, int(origin.split("#")[1]), reason)
                     for stage, origin, reason in zip(rejects["stage"], rejects["origin"], rejects["reason"])
                     if stage == "parse"]
    for name, wanted in expected.items():
        found = {(reason, index) for file, index, reason in parse_rejects if file == name}
        for reason, index in wanted:
            assert any(r == reason and (index is None or i == index) for r, i in found), (name, reason, index, found)
        assert {r for r, _ in found} == {r for r, _ in wanted}, (name, found)
    assert {file for file, _, _ in parse_rejects} <= set(expected), "a clean file lost a record while parsing"

    assert released_pairs(release) == released_pairs(clean_release)
