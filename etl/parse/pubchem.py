"""PubChem raw formats -> plain record dicts (one per source record), streaming.

`detect_pubchem_format` names a file's format from its content; `iter_pubchem_records`
turns a (gunzipped) binary stream of that format into dicts of four kinds:

- ``description``: a depositor's description of one CID (PUG-View annotation pages,
  whole PUG-View records, ChEBI-20 rows);
- ``structure``: a CID's SMILES (SDF, PUG REST JSON/CSV, CID-SMILES, ChEBI-20 rows);
- ``title``: a CID's PubChem title (CID-Title);
- ``reject``: a record that could not be read, with a reason code from
  `etl.quality.rejects.REASONS`. A bad record never stops the iteration, and a
  stream that ends early (cut gzip, cut JSON, SDF record without ``$$$$``) ends
  with a ``truncated_input`` reject instead of an exception.

Every dict carries ``record_index``: the 0-based position of its source record in
the file (one annotation linked to several CIDs yields several dicts with the same
index; a ChEBI-20 row yields a description and a structure with the same index).
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from rdkit import Chem, rdBase

from etl.quality.rejects import Rejected


CHEBI20_SOURCE_NAME = "ChEBI-20 (MolT5)"
CHEBI20_LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
CHEBI20_LICENSE_NOTE = (
    "ChEBI text is CC BY 4.0; the ChEBI-20 selection is from blender-nlp/MolT5 (BSD-3-Clause)"
)
RECORD_DESCRIPTION_HEADING = "Record Description"
# PUG-View lists cross-references to related records under this item name inside
# the Record Description section; they are navigation, not descriptions.
SEE_ALSO_ITEM_NAME = "See Also"

# SMILES fields, best first. PubChem renamed them in July 2025: the isomeric SMILES
# is now `SMILES` / `PUBCHEM_SMILES` (was IsomericSMILES / PUBCHEM_OPENEYE_ISO_SMILES)
# and the stereo-free one `ConnectivitySMILES` / `PUBCHEM_CONNECTIVITY_SMILES` (was
# CanonicalSMILES / PUBCHEM_OPENEYE_CAN_SMILES). Both generations stay readable, and
# any other field whose name ends in SMILES is a last resort (`_pick_smiles`).
SDF_SMILES_TAGS = (
    "PUBCHEM_SMILES",
    "PUBCHEM_OPENEYE_ISO_SMILES",
    "PUBCHEM_CONNECTIVITY_SMILES",
    "PUBCHEM_OPENEYE_CAN_SMILES",
)
PUG_REST_SMILES_FIELDS = ("SMILES", "IsomericSMILES", "ConnectivitySMILES", "CanonicalSMILES")

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_JSON_FIRST_KEY = re.compile(rb'^\s*\{\s*"([A-Za-z]+)"\s*:')
_SDF_MARKERS = re.compile(rb"^(?:M  END|\$\$\$\$)\s*$|V[23]000\s*$", re.M)
_SDF_TAG = re.compile(r"^>\s*.*?<([^>]+)>")
_CID = re.compile(r"^\s*\+?(\d+)\s*$")
# Errors a decompressing stream raises when its data stops before the end marker.
_TRUNCATION_ERRORS = (EOFError, zlib.error)


# ---------------------------------------------------------------- detection


def detect_pubchem_format(head: bytes, name: str) -> str:
    """The format of a file from its first bytes (gunzipped); `name` only breaks ties.

    Raises Rejected("unknown_format") when the content matches no supported format.
    """
    head = head.removeprefix(b"\xef\xbb\xbf")
    if not head.strip():
        raise Rejected("unknown_format", f"{name}: empty file")
    fmt = _detect_json(head) or _detect_sdf(head) or _detect_delimited(head, name)
    if fmt is None:
        first_line = head.lstrip().split(b"\n", 1)[0][:80]
        raise Rejected("unknown_format", f"{name}: starts with {first_line!r}")
    return fmt


def _detect_json(head: bytes) -> str | None:
    match = _JSON_FIRST_KEY.match(head)
    if not match:
        return None
    key = match.group(1)
    if key == b"Annotations":
        return "pug_view_annotations"
    if key == b"PropertyTable":
        return "pug_rest_json"
    # Records come wrapped ({"Record": {...}}) from the API and bare from some mirrors.
    if key in (b"Record", b"RecordType", b"RecordNumber"):
        return "pug_view_record"
    return None


def _detect_sdf(head: bytes) -> str | None:
    return "sdf" if _SDF_MARKERS.search(head) else None


def _detect_delimited(head: bytes, name: str) -> str | None:
    lines = _complete_lines(head)
    if not lines:
        return None
    if "\t" in lines[0]:
        header = [cell.strip().lower() for cell in lines[0].split("\t")]
        if header == ["cid", "smiles", "description"]:
            return "chebi20_tsv"
        return _detect_cid_pairs(lines, name)
    header = next(csv.reader([lines[0]]))
    if "CID" in (cell.strip() for cell in header):
        return "pug_rest_csv"
    return None


def _complete_lines(head: bytes) -> list[str]:
    """The lines of `head`, without the last one when `head` cut it short."""
    text = head.decode("utf-8", "replace")
    lines = text.splitlines()
    if lines and not text.endswith(("\n", "\r")) and len(lines) > 1:
        lines.pop()
    return [line for line in lines if line.strip()]


def _detect_cid_pairs(lines: list[str], name: str) -> str | None:
    """CID-SMILES vs CID-Title (both `CID<TAB>text`, no header): does the text parse as SMILES?"""
    pairs = [line.split("\t") for line in lines[:200]]
    if not all(len(pair) == 2 and _CID.match(pair[0]) for pair in pairs):
        return None
    smiles_share = sum(looks_like_smiles(text) for _, text in pairs) / len(pairs)
    if smiles_share >= 0.9:
        return "cid_smiles"
    if smiles_share <= 0.1:
        return "cid_title"
    lowered = name.lower()
    if "smiles" in lowered:
        return "cid_smiles"
    if "title" in lowered:
        return "cid_title"
    return None


def looks_like_smiles(text: str) -> bool:
    """True when `text` is one token that RDKit's SMILES grammar accepts (no sanitization:
    valence is not the question here, only "is this a structure or a name")."""
    text = text.strip()
    if not text or any(ch.isspace() for ch in text):
        return False
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(text, sanitize=False) is not None


# ---------------------------------------------------------------- iteration


def iter_pubchem_records(stream: BinaryIO, name: str, fmt: str) -> Iterator[dict]:
    """Stream the records of one file of format `fmt` (see module docstring for the shapes)."""
    parsers = {
        "pug_view_annotations": _iter_annotation_page,
        "pug_view_record": _iter_record_descriptions,
        "pug_rest_json": _iter_property_table,
        "pug_rest_csv": _iter_pug_rest_csv,
        "sdf": _iter_sdf,
        "cid_smiles": _iter_cid_smiles,
        "cid_title": _iter_cid_title,
        "chebi20_tsv": _iter_chebi20,
    }
    if fmt not in parsers:
        raise Rejected("unknown_format", f"{name}: no parser for format {fmt!r}")
    next_index = 0
    try:
        for record in parsers[fmt](stream):
            next_index = record["record_index"] + 1
            yield record
    except _TRUNCATION_ERRORS as error:
        yield reject_record("truncated_input", f"{name}: {error}", None, next_index)


def reject_record(reason: str, detail: str, record_id: str | None, record_index: int) -> dict:
    Rejected(reason)  # validates the reason code early, where the bug is
    return {
        "kind": "reject",
        "reason": reason,
        "detail": detail,
        "record_id": record_id,
        "record_index": record_index,
    }


def parse_cid(value) -> int:
    """A PubChem CID from a JSON number or text; Rejected("invalid_cid") otherwise."""
    if isinstance(value, bool):
        raise Rejected("invalid_cid", f"CID {value!r}")
    if isinstance(value, int):
        cid = value
    else:
        match = _CID.match(str(value)) if value is not None else None
        if not match:
            raise Rejected("invalid_cid", f"CID {value!r}")
        cid = int(match.group(1))
    if cid <= 0:
        raise Rejected("invalid_cid", f"CID {value!r}")
    return cid


def _decoded_lines(stream: BinaryIO) -> Iterator[str]:
    # Decoding line by line keeps the stream streaming and open (a TextIOWrapper
    # would close the caller's stream when it is garbage-collected).
    for raw in stream:
        yield raw.decode("utf-8", "replace")


# ---------------------------------------------------------------- JSON documents


def load_json_document(stream: BinaryIO) -> object:
    """A whole JSON document; Rejected("truncated_input") when it stops mid-structure,
    Rejected("parse_error") when it is complete but malformed."""
    text = stream.read().decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        reason = "truncated_input" if json_is_cut_short(text) else "parse_error"
        raise Rejected(reason, str(error)) from error


def json_is_cut_short(text: str) -> bool:
    """True when `text` ends inside a string or with brackets left open."""
    outside_strings = _JSON_STRING.sub("", text)
    if '"' in outside_strings:  # a string that never closed
        return True
    opened = outside_strings.count("{") + outside_strings.count("[")
    closed = outside_strings.count("}") + outside_strings.count("]")
    return opened > closed


def _json_records(stream: BinaryIO, records_of) -> Iterator[dict]:
    """Load one JSON document and yield `records_of(document)`; a broken document is one reject."""
    try:
        document = load_json_document(stream)
    except Rejected as rejected:
        yield reject_record(rejected.reason, rejected.detail, None, 0)
        return
    next_index = 0
    try:
        for record in records_of(document):
            next_index = record["record_index"] + 1
            yield record
    except (KeyError, TypeError, AttributeError) as error:
        yield reject_record("parse_error", f"unexpected JSON layout: {error!r}", None, next_index)


def string_with_markup_text(value: dict) -> str:
    """The text of a PUG-View Value: its StringWithMarkup strings, one per line."""
    strings = value.get("StringWithMarkup") or []
    return "\n".join(item.get("String", "") for item in strings).strip()


def description_record(cid: int, text: str, title: str | None, names: list[str], source: dict,
                       record_index: int) -> dict:
    """A description dict. `names` are the compound's names this text may use (title,
    the depositor's name): what `clean_description` masks. `source` is a PUG-View
    Reference or Annotation (SourceName, SourceID, LicenseURL, LicenseNote, ANID)."""
    return {
        "kind": "description",
        "cid": cid,
        "text": text,
        "title": title,
        "names": _unique_names(names),
        "source_name": source.get("SourceName"),
        "source_id": _optional_str(source.get("SourceID")),
        "license_url": source.get("LicenseURL"),
        "license_note": source.get("LicenseNote"),
        "anid": source.get("ANID"),
        "record_index": record_index,
    }


def _unique_names(names: Iterable[str | None]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        name = (name or "").strip()
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return list(seen.values())


def _optional_str(value) -> str | None:
    return None if value is None else str(value)


# -- PUG-View annotation pages


def _iter_annotation_page(stream: BinaryIO) -> Iterator[dict]:
    yield from _json_records(stream, _annotation_page_records)


def _annotation_page_records(document: dict) -> Iterator[dict]:
    for index, annotation in enumerate(document["Annotations"]["Annotation"]):
        yield from annotation_descriptions(annotation, index)


def annotation_descriptions(annotation: dict, record_index: int) -> Iterator[dict]:
    """One description per CID the annotation is linked to, or a reject."""
    record_id = _optional_str(annotation.get("SourceID"))
    text = "\n".join(string_with_markup_text(data.get("Value", {})) for data in annotation.get("Data", []))
    text = text.strip()
    cids = (annotation.get("LinkedRecords") or {}).get("CID") or []
    if not cids:
        yield reject_record("missing_accession", "annotation linked to no CID", record_id, record_index)
        return
    if not text:
        yield reject_record("empty_description", "annotation without StringWithMarkup text", record_id, record_index)
        return
    name = annotation.get("Name")
    for raw_cid in cids:
        try:
            cid = parse_cid(raw_cid)
        except Rejected as rejected:
            yield reject_record(rejected.reason, rejected.detail, record_id, record_index)
            continue
        yield description_record(cid, text, name, [name], annotation, record_index)


# -- whole PUG-View records


def _iter_record_descriptions(stream: BinaryIO) -> Iterator[dict]:
    yield from _json_records(stream, _record_description_records)


def _record_description_records(document: dict) -> Iterator[dict]:
    record = document.get("Record", document)
    try:
        if record.get("RecordType", "CID") != "CID":
            raise Rejected("invalid_cid", f"RecordType {record.get('RecordType')!r} is not a compound")
        cid = parse_cid(record.get("RecordNumber"))
    except Rejected as rejected:
        yield reject_record(rejected.reason, rejected.detail, _optional_str(record.get("RecordNumber")), 0)
        return
    title = record.get("RecordTitle")
    references = {ref.get("ReferenceNumber"): ref for ref in record.get("Reference", [])}
    items = (
        item
        for section in find_sections(record.get("Section", []), RECORD_DESCRIPTION_HEADING)
        for item in section.get("Information", [])
    )
    index = -1
    for index, item in enumerate(items):
        yield record_item_description(cid, title, item, references, index)
    structure = record_structure(cid, title, record.get("Section", []), index + 1)
    if structure is not None:
        yield structure


def record_structure(cid: int, title: str | None, sections: list[dict], record_index: int) -> dict | None:
    """The compound's own structure from the record's Computed Descriptors, if it has one.

    PubChem renamed the record's `Isomeric SMILES` section `SMILES` in 2025 and dropped
    `Canonical SMILES` (stereo-free); either generation is read, isomeric first."""
    smiles = first_section_string(sections, RECORD_SMILES_HEADINGS)
    if smiles is None:
        return None
    return {"kind": "structure", "cid": cid, "smiles": smiles,
            "inchikey": first_section_string(sections, ("InChIKey",)), "title": title,
            "record_index": record_index}


def first_section_string(sections: list[dict], headings: tuple[str, ...]) -> str | None:
    """The first string value under the first of `headings` the record has."""
    for heading in headings:
        for section in find_sections(sections, heading):
            for item in section.get("Information", []):
                for markup in item.get("Value", {}).get("StringWithMarkup", []):
                    if markup.get("String", "").strip():
                        return markup["String"].strip()
    return None


RECORD_SMILES_HEADINGS = ("SMILES", "Isomeric SMILES", "Canonical SMILES")


def find_sections(sections: list[dict], heading: str) -> Iterator[dict]:
    """Every section with TOCHeading `heading`, at any depth of the Section tree."""
    for section in sections:
        if section.get("TOCHeading") == heading:
            yield section
        yield from find_sections(section.get("Section", []), heading)


def record_item_description(cid: int, title: str | None, item: dict, references: dict,
                            record_index: int) -> dict:
    """One Information item of a Record Description section -> description or reject."""
    source = references.get(item.get("ReferenceNumber"), {})
    record_id = str(cid)
    if item.get("Name") == SEE_ALSO_ITEM_NAME:
        return reject_record("not_a_description", "See Also cross-references", record_id, record_index)
    text = string_with_markup_text(item.get("Value", {}))
    if not text:
        return reject_record("empty_description", "item without StringWithMarkup text", record_id, record_index)
    return description_record(cid, text, title, [title, source.get("Name")], source, record_index)


# -- PUG REST property tables


def _iter_property_table(stream: BinaryIO) -> Iterator[dict]:
    yield from _json_records(stream, _property_table_records)


def _property_table_records(document: dict) -> Iterator[dict]:
    for index, properties in enumerate(document["PropertyTable"]["Properties"]):
        yield properties_structure(properties, index)


def _iter_pug_rest_csv(stream: BinaryIO) -> Iterator[dict]:
    rows = csv.DictReader(_decoded_lines(stream))
    for index, row in enumerate(rows):
        yield properties_structure(row, index)


def properties_structure(properties: dict, record_index: int) -> dict:
    """A PUG REST property row (JSON object or CSV row) -> structure or reject."""
    smiles = _pick_smiles(properties, PUG_REST_SMILES_FIELDS)
    inchikey = (properties.get("InChIKey") or "").strip() or None
    title = (properties.get("Title") or "").strip() or None
    return _structure_or_reject(properties.get("CID"), smiles, inchikey, title, record_index)


def _pick_smiles(fields: dict, preferred: tuple[str, ...]) -> str | None:
    """The first non-empty preferred SMILES field, else any field named *SMILES (sorted)."""
    fallback = sorted(key for key in fields if key.upper().endswith("SMILES") and key not in preferred)
    for key in (*preferred, *fallback):
        value = (fields.get(key) or "").strip()
        if value:
            return value
    return None


def _structure_or_reject(raw_cid, smiles: str | None, inchikey: str | None, title: str | None,
                         record_index: int) -> dict:
    try:
        cid = parse_cid(raw_cid)
    except Rejected as rejected:
        return reject_record(rejected.reason, rejected.detail, _optional_str(raw_cid), record_index)
    if not smiles:
        return reject_record("empty_smiles", "no SMILES", str(cid), record_index)
    return structure_record(cid, smiles, inchikey, title, record_index)


def structure_record(cid: int, smiles: str, inchikey: str | None, title: str | None,
                     record_index: int) -> dict:
    return {
        "kind": "structure",
        "cid": cid,
        "smiles": smiles,
        "inchikey": inchikey,
        "title": title,
        "record_index": record_index,
    }


# ---------------------------------------------------------------- SDF


def _iter_sdf(stream: BinaryIO) -> Iterator[dict]:
    for index, (lines, complete) in enumerate(split_sdf_records(_decoded_lines(stream))):
        if not complete:
            yield reject_record("truncated_input", "SDF record without a $$$$ terminator",
                                _sdf_record_id(lines), index)
            return
        yield sdf_structure(lines, index)


def split_sdf_records(lines: Iterable[str]) -> Iterator[tuple[list[str], bool]]:
    """(lines of one record, whether it ended with $$$$), one record in memory at a time."""
    record: list[str] = []
    for line in lines:
        if line.rstrip("\r\n") == "$$$$":
            yield record, True
            record = []
        else:
            record.append(line)
    if any(line.strip() for line in record):
        yield record, False


def sdf_data_items(lines: list[str]) -> dict[str, str]:
    """The `> <TAG>` data items of one SDF record (values of several lines joined by newlines)."""
    items: dict[str, str] = {}
    tag = None
    values: list[str] = []
    # Connection-table lines never start with ">", so the molblock is skipped as
    # "before the first tag"; a record whose molblock is broken still gives its tags.
    for line in lines:
        line = line.rstrip("\r\n")
        header = _SDF_TAG.match(line)
        if header:
            tag, values = header.group(1), []
            items[tag] = ""
        elif tag is not None and line.strip():
            values.append(line)
            items[tag] = "\n".join(values)
        else:  # a blank line ends the current item
            tag = None
    return items


def _sdf_record_id(lines: list[str]) -> str | None:
    cid = sdf_data_items(lines).get("PUBCHEM_COMPOUND_CID")
    return cid or (lines[0].strip() if lines and _CID.match(lines[0]) else None)


def sdf_structure(lines: list[str], record_index: int) -> dict:
    """One complete SDF record -> structure or reject."""
    items = sdf_data_items(lines)
    raw_cid = items.get("PUBCHEM_COMPOUND_CID") or (lines[0] if lines else None)
    smiles = _pick_smiles(items, SDF_SMILES_TAGS) or molblock_smiles(lines)
    inchikey = items.get("PUBCHEM_IUPAC_INCHIKEY", "").strip() or None
    return _structure_or_reject(raw_cid, smiles, inchikey, None, record_index)


def molblock_smiles(lines: list[str]) -> str | None:
    """Isomeric SMILES from the record's connection table, for SDFs without a SMILES tag."""
    molblock = "".join(lines)
    with rdBase.BlockLogs():
        # Sanitized parsing perceives stereo from wedges; an unsanitizable structure is
        # still passed on as SMILES so that normalization rejects it with its real reason.
        mol = Chem.MolFromMolBlock(molblock) or Chem.MolFromMolBlock(molblock, sanitize=False)
        if mol is None or mol.GetNumAtoms() == 0:
            return None
        if mol.GetNumConformers() and mol.GetConformer().Is3D():
            # A PubChem 3D conformer fixes one arbitrary configuration at stereocentres
            # the compound leaves undefined; RDKit would read it as defined stereo.
            Chem.RemoveStereochemistry(mol)
        try:
            return Chem.MolToSmiles(mol) or None
        except (RuntimeError, ValueError):
            return None


# ---------------------------------------------------------------- tab-separated


def _iter_cid_smiles(stream: BinaryIO) -> Iterator[dict]:
    for index, (raw_cid, smiles) in enumerate(_cid_pairs(stream)):
        yield _structure_or_reject(raw_cid, smiles, None, None, index)


def _iter_cid_title(stream: BinaryIO) -> Iterator[dict]:
    for index, (raw_cid, title) in enumerate(_cid_pairs(stream)):
        try:
            cid = parse_cid(raw_cid)
        except Rejected as rejected:
            yield reject_record(rejected.reason, rejected.detail, raw_cid, index)
            continue
        yield {"kind": "title", "cid": cid, "title": title, "record_index": index}


def _cid_pairs(stream: BinaryIO) -> Iterator[tuple[str, str]]:
    """(CID text, rest of line) for every non-blank line of a PubChem bulk CID-x file."""
    for line in _decoded_lines(stream):
        line = line.rstrip("\r\n")
        if line.strip():
            raw_cid, _, text = line.partition("\t")
            yield raw_cid, text.strip()


def _iter_chebi20(stream: BinaryIO) -> Iterator[dict]:
    rows = csv.reader(_decoded_lines(stream), delimiter="\t", quoting=csv.QUOTE_NONE)
    next(rows, None)  # header: CID, SMILES, description
    for index, row in enumerate(rows):
        yield from chebi20_row_records(row, index)


def chebi20_row_records(row: list[str], record_index: int) -> Iterator[dict]:
    """A ChEBI-20 row -> its structure and its (already name-masked) description, or a reject."""
    if len(row) != 3:
        yield reject_record("parse_error", f"{len(row)} columns instead of 3",
                            row[0] if row else None, record_index)
        return
    raw_cid, smiles, text = (cell.strip() for cell in row)
    # MolT5 wrote the TSV with backslashes escaped: `\\` stands for one `\` bond.
    smiles = smiles.replace("\\\\", "\\")
    structure = _structure_or_reject(raw_cid, smiles, None, None, record_index)
    yield structure
    if structure["kind"] == "reject":
        return
    if not text:
        yield reject_record("empty_description", "empty description column", raw_cid, record_index)
        return
    source = {
        "SourceName": CHEBI20_SOURCE_NAME,
        "SourceID": structure["cid"],
        "LicenseURL": CHEBI20_LICENSE_URL,
        "LicenseNote": CHEBI20_LICENSE_NOTE,
    }
    yield description_record(structure["cid"], text, None, [], source, record_index)
