"""PubChem raw formats -> plain record dicts (one per source record), streaming.

`detect_pubchem_format` names a file's format from its content; `iter_pubchem_records`
turns a (gunzipped) binary stream of that format into dicts of four kinds:

- ``description``: a depositor's description of one CID (PUG-View annotation pages,
  whole PUG-View records, ChEBI-20 rows);
- ``structure``: a CID's SMILES (SDF, PUG REST JSON/CSV, CID-SMILES, ChEBI-20 rows);
- ``title``: a CID's PubChem title (CID-Title);
- ``reject``: a record that could not be read, with a reason code from
  `etl.quality.rejects.REASONS`.

Every input record ends as one of these: bad bytes never stop the iteration nor reach a
released text. A record that does not decode (`not_utf8`, the detail giving the byte's
offset), breaks its format's syntax (`parse_error`) or is laid out unexpectedly (a null
where an object belongs: `parse_error`) is rejected alone, and reading resumes at the next
record boundary of its format: the next line (TSV, CID-SMILES, CID-Title, ChEBI-20, PUG
REST CSV), the next `$$$$` (SDF), the next element of the array (PUG-View annotation
lists, PUG REST property tables, the sections and items of a whole PUG-View record; see
etl.parse.recovery). A file that ends inside a record (cut gzip, cut JSON, SDF record
without ``$$$$``) ends with a ``truncated_input`` reject; JSON whose structure breaks
where it cannot be followed ends with an ``unreadable_remainder`` reject naming the
unread byte range; a file that yields nothing at all yields one ``no_records`` reject.

Every dict carries ``record_index``: the 0-based position of its source record in the
file (one annotation linked to several CIDs yields several dicts with the same index;
a ChEBI-20 row yields a description and a structure with the same index).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from functools import partial
from typing import BinaryIO

from rdkit import Chem, rdBase

from etl.parse.recovery import (BOM, TRUNCATION_ERRORS, Damage, Line, damages_in, decode_line, decode_lines,
                                find_damage, iter_json_array, iter_lines, load_json, normalize_newlines,
                                read_until_cut)
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

_JSON_FIRST_KEY = re.compile(rb'^\s*\{\s*"([A-Za-z]+)"\s*:')
_SDF_MARKERS = re.compile(rb"^(?:M  END|\$\$\$\$)\s*$|V[23]000\s*$", re.M)
_SDF_TAG = re.compile(r"^>\s*.*?<([^>]+)>")
_MOLBLOCK_END = re.compile(r"^M  END[ \t]*$", re.M)
_CID = re.compile(r"^\s*\+?(\d+)\s*$")
_CID_TAB = re.compile(r"^\s*\+?\d+\t")
# What a per-record function raises on JSON of an unexpected layout (a null where an
# object or a string belongs): that record is rejected, the others are read.
_LAYOUT_ERRORS = (AttributeError, KeyError, TypeError)
CHEBI20_HEADER = ["cid", "smiles", "description"]
# CID-SMILES vs CID-Title: the first lines are sniffed, and a few damaged ones among them
# (rejected one by one when read) do not hide the format.
CID_PAIR_SNIFF_LINES = 200
CID_PAIR_MIN_WELL_FORMED = 0.8  # four lines in five


# ---------------------------------------------------------------- detection


def detect_pubchem_format(head: bytes, name: str) -> str:
    """The format of a file from its first bytes (gunzipped); `name` only breaks ties.

    Raises Rejected("unknown_format") when the content matches no supported format.
    """
    head = normalize_newlines(head.removeprefix(BOM))
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
    first = lines[0][1]
    if "\t" in first and [cell.strip().lower() for cell in first.split("\t")] == CHEBI20_HEADER:
        return "chebi20_tsv"
    if "\t" not in first and "CID" in (cell.strip() for cell in next(csv.reader([first]))):
        return "pug_rest_csv"
    # A damaged first line does not hide CID pairs: most lines still start with a CID and a tab.
    if "\t" in first or sum(bool(_CID_TAB.match(text)) for _, text in lines) > len(lines) / 2:
        return _detect_cid_pairs(lines, name)
    return None


def _complete_lines(head: bytes) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines of `head` (newlines normalized), without
    the last one when `head` cut it short. Decoded leniently: detection looks at the shape
    of lines only, and every record is decoded strictly when it is read."""
    lines = head.decode("utf-8", "replace").split("\n")
    if len(lines) > 1:
        lines.pop()  # "" after the last line break, or a line that `head` cut short
    return [(number, line) for number, line in enumerate(lines, 1) if line.strip()]


def _detect_cid_pairs(lines: list[tuple[int, str]], name: str) -> str:
    """CID-SMILES vs CID-Title (both `CID<TAB>text`, no header): does the text parse as SMILES?

    Raises Rejected("unknown_format") saying why when the lines are not CID pairs."""
    sniffed = lines[:CID_PAIR_SNIFF_LINES]
    problems = [_cid_pair_shape_problem(text) for _, text in sniffed]
    damaged = [(number, problem) for (number, _), problem in zip(sniffed, problems) if problem]
    if len(sniffed) - len(damaged) < CID_PAIR_MIN_WELL_FORMED * len(sniffed):
        number, problem = damaged[0]
        raise Rejected("unknown_format", f"{name}: {len(damaged)} of the first {len(sniffed)} lines are not "
                                         f"CID<TAB>text, e.g. line {number} {problem}")
    texts = [text.split("\t")[1] for (_, text), problem in zip(sniffed, problems) if not problem]
    smiles = sum(looks_like_smiles(text) for text in texts)
    if smiles >= 0.9 * len(texts):
        return "cid_smiles"
    if smiles <= 0.1 * len(texts):
        return "cid_title"
    lowered = name.lower()
    if "smiles" in lowered:
        return "cid_smiles"
    if "title" in lowered:
        return "cid_title"
    raise Rejected("unknown_format", f"{name}: {smiles} of {len(texts)} CID<TAB>text lines hold a SMILES, too "
                                     f"many for CID-Title and too few for CID-SMILES; a file name with "
                                     f"'smiles' or 'title' in it decides")


def _cid_pair_shape_problem(text: str) -> str | None:
    """Why a line is not `CID<TAB>text` ("has 3 tab-separated fields"), None when it is."""
    fields = text.split("\t")
    if len(fields) != 2:
        return _field_count_problem(len(fields), 2)
    if not _CID.match(fields[0]):
        return f"starts with {fields[0][:40]!r}, not a CID"
    return None


def _field_count_problem(found: int, expected: int) -> str:
    return f"has {found} tab-separated field{'s' if found != 1 else ''} instead of {expected}"


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
        "cid_smiles": partial(iter_line_records, fmt="cid_smiles"),
        "cid_title": partial(iter_line_records, fmt="cid_title"),
        "chebi20_tsv": _iter_chebi20,
    }
    if fmt not in parsers:
        raise Rejected("unknown_format", f"{name}: no parser for format {fmt!r}")
    next_index, yielded = 0, False
    try:
        for record in parsers[fmt](stream):
            next_index, yielded = record["record_index"] + 1, True
            yield record
    except TRUNCATION_ERRORS as error:
        yield reject_record("truncated_input", f"{name}: {error}", None, next_index)
        yielded = True
    if not yielded:
        yield reject_record("no_records", f"{name}: read to its end, it holds no {fmt} record", None, 0)


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


def _guarded(records, what: str, record_id: str | None, record_index: int) -> list[dict]:
    """The records `records()` gives, or one parse_error reject when the JSON is not laid out
    as it expects (a null where an object belongs, ...)."""
    try:
        return list(records())
    except _LAYOUT_ERRORS as error:
        return [reject_record("parse_error", f"{what}: unexpected JSON layout ({type(error).__name__}: {error})",
                              record_id, record_index)]


def _damage_reject(damage: Damage, what: str, record_id: str | None, record_index: int) -> dict:
    return reject_record(damage.reason, f"{what}: {damage.detail}", record_id, record_index)


def _listed(value) -> list:
    """`value` when it is a JSON array, else no items (a missing or null list holds no record)."""
    return value if isinstance(value, list) else []


# ---------------------------------------------------------------- JSON documents


def _json_records(stream: BinaryIO, records_of) -> Iterator[dict]:
    """`records_of(data)` for the file's whole content. A stream cut short (gzip) is read as
    far as it goes: its records come out, and the cut is raised at the end unless the JSON
    already showed it (a truncated_input reject)."""
    data, cut = read_until_cut(stream)
    if cut is not None and not data.strip():
        raise cut
    truncation_seen = False
    for record in records_of(data):
        truncation_seen |= record.get("reason") == "truncated_input"
        yield record
    if cut is not None and not truncation_seen:
        raise cut


def _array_records(data: bytes, path: tuple[str, ...], what: str, records_of, id_key: str) -> Iterator[dict]:
    """The records of each element of the JSON array at `path` (`records_of(element, index)`):
    a damaged element is one reject, and so is each damage outside the elements."""
    next_index = 0
    for item in iter_json_array(data, path):
        if isinstance(item, Damage):
            yield reject_record(item.reason, item.detail, None, next_index)
            continue
        next_index = item.index + 1
        record_id = _element_id(item.value, id_key)
        if item.damage is None:
            yield from _guarded(lambda: records_of(item.value, item.index), f"{what} {item.index}", record_id,
                                item.index)
        else:
            detail = f"{what} {item.index}, bytes {item.start}-{item.end} of {len(data)}: {item.damage.message}"
            yield reject_record(item.damage.reason, detail, record_id, item.index)


def _element_id(element, key: str) -> str | None:
    """The element's id for its reject, where the element is an object and the id was read."""
    value = element.get(key) if isinstance(element, dict) else None
    return None if isinstance(value, Damage) else _optional_str(value)


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


ANNOTATIONS_PATH = ("Annotations", "Annotation")


def _iter_annotation_page(stream: BinaryIO) -> Iterator[dict]:
    yield from _json_records(stream, _annotation_page_records)


def _annotation_page_records(data: bytes) -> Iterator[dict]:
    yield from _array_records(data, ANNOTATIONS_PATH, "annotation", annotation_descriptions, "SourceID")


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


RECORD_IDENTITY_KEYS = ("RecordType", "RecordNumber", "RecordTitle")
RECORD_SMILES_HEADINGS = ("SMILES", "Isomeric SMILES", "Canonical SMILES")
RECORD_STRUCTURE_HEADINGS = (*RECORD_SMILES_HEADINGS, "InChIKey")


def _iter_record_descriptions(stream: BinaryIO) -> Iterator[dict]:
    yield from _json_records(stream, _record_description_records)


def _record_description_records(data: bytes) -> Iterator[dict]:
    """The records of a whole PUG-View record; then one reject for each damage that no
    record's reject names (damage anywhere may hide a Record Description section)."""
    document = load_json(data)
    root = document.value
    record = root.get("Record", root) if isinstance(root, dict) else root
    named: set[Damage] = set()
    next_index = 0
    for parsed in _compound_records(record, document.lost, named):
        next_index = parsed["record_index"] + 1
        yield parsed
    for damage in document.damages:
        if damage not in named:
            yield _damage_reject(damage, "PUG-View record", _element_id(record, "RecordNumber"), next_index)
            next_index += 1


def _compound_records(record, lost: Damage | None, named: set[Damage]) -> Iterator[dict]:
    """The record's Record Description items, then its structure; `named` collects the
    damage that their rejects name."""
    try:
        cid, title = record_identity(record)
    except Rejected as rejected:
        identity = [record.get(key) for key in RECORD_IDENTITY_KEYS] if isinstance(record, dict) else record
        named.update(damages_in(identity))
        yield reject_record(rejected.reason, rejected.detail, _element_id(record, "RecordNumber"), 0)
        return
    sections, references = record.get("Section"), record.get("Reference")
    readable_references = {reference.get("ReferenceNumber"): reference for reference in _listed(references)
                           if isinstance(reference, dict) and find_damage(reference) is None}
    # A description takes its source and licence from its Reference: where references
    # are damaged or were not read, a description whose Reference is missing is rejected.
    unread_references = find_damage(references) or lost
    index = 0
    for section in find_sections(sections, RECORD_DESCRIPTION_HEADING):
        for item in _listed(section.get("Information")):
            yield from _record_item_records(cid, title, item, readable_references, unread_references, index, named)
            index += 1
    yield from _record_structure_records(cid, title, sections, index, named)


def record_identity(record) -> tuple[int, str | None]:
    """(CID, title) of a compound's PUG-View record; Rejected when it is another kind of
    record or they cannot be read (without them no record of the file can be)."""
    if isinstance(record, Damage):
        raise Rejected(record.reason, f"the record: {record.detail}")
    if not isinstance(record, dict):
        raise Rejected("parse_error", "the PUG-View record is not a JSON object")
    damage = find_damage([record.get(key) for key in RECORD_IDENTITY_KEYS])
    if damage is not None:
        raise Rejected(damage.reason, f"the record's type, number or title: {damage.detail}")
    if record.get("RecordType", "CID") != "CID":
        raise Rejected("invalid_cid", f"RecordType {record.get('RecordType')!r} is not a compound")
    return parse_cid(record.get("RecordNumber")), record.get("RecordTitle")


def _record_item_records(cid: int, title: str | None, item, references: dict, unread_references: Damage | None,
                         record_index: int, named: set[Damage]) -> list[dict]:
    what = f"Record Description item {record_index}"
    damages = list(damages_in(item))
    if damages:
        named.update(damages)
        return [_damage_reject(damages[0], what, str(cid), record_index)]
    return _guarded(lambda: [record_item_description(cid, title, item, references, record_index, unread_references)],
                    what, str(cid), record_index)


def _record_structure_records(cid: int, title: str | None, sections, record_index: int,
                              named: set[Damage]) -> list[dict]:
    damages = [damage for heading in RECORD_STRUCTURE_HEADINGS for section in find_sections(sections, heading)
               for damage in damages_in(section)]
    if damages:
        named.update(damages)
        return [_damage_reject(damages[0], "the record's structure", str(cid), record_index)]
    return _guarded(lambda: filter(None, [record_structure(cid, title, sections, record_index)]),
                    "the record's structure", str(cid), record_index)


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
            for item in _listed(section.get("Information")):
                for markup in item.get("Value", {}).get("StringWithMarkup", []):
                    if markup.get("String", "").strip():
                        return markup["String"].strip()
    return None


def find_sections(sections: list[dict], heading: str) -> Iterator[dict]:
    """Every section with TOCHeading `heading`, at any depth of the Section tree (what is not
    a section object, a null or a damaged one, is passed over)."""
    for section in _listed(sections):
        if isinstance(section, dict):
            if section.get("TOCHeading") == heading:
                yield section
            yield from find_sections(section.get("Section"), heading)


def record_item_description(cid: int, title: str | None, item: dict, references: dict, record_index: int,
                            unread_references: Damage | None = None) -> dict:
    """One Information item of a Record Description section -> description or reject."""
    record_id = str(cid)
    if item.get("Name") == SEE_ALSO_ITEM_NAME:
        return reject_record("not_a_description", "See Also cross-references", record_id, record_index)
    number = item.get("ReferenceNumber")
    if number not in references and unread_references is not None:
        detail = f"its Reference {number} may be in the bytes that could not be read: {unread_references.detail}"
        return reject_record(unread_references.reason, detail, record_id, record_index)
    source = references.get(number, {})
    text = string_with_markup_text(item.get("Value", {}))
    if not text:
        return reject_record("empty_description", "item without StringWithMarkup text", record_id, record_index)
    return description_record(cid, text, title, [title, source.get("Name")], source, record_index)


# -- PUG REST property tables


PROPERTY_TABLE_PATH = ("PropertyTable", "Properties")


def _iter_property_table(stream: BinaryIO) -> Iterator[dict]:
    yield from _json_records(stream, _property_table_records)


def _property_table_records(data: bytes) -> Iterator[dict]:
    yield from _array_records(data, PROPERTY_TABLE_PATH, "property row",
                              lambda properties, index: [properties_structure(properties, index)], "CID")


def _iter_pug_rest_csv(stream: BinaryIO) -> Iterator[dict]:
    lines = iter_lines(stream)
    header = _header(lines)
    if header is not None:
        columns = header if isinstance(header, Rejected) else next(csv.reader([header]))
        yield from _line_records(lines, lambda number, text, index: [csv_row_structure(columns, number, text, index)])


def csv_row_structure(columns: list[str] | Rejected, line_number: int, text: str, record_index: int) -> dict:
    """One PUG REST CSV row (a line) -> structure or reject; `columns` the header's, or why it is unreadable."""
    if isinstance(columns, Rejected):
        return reject_record("parse_error", f"line {line_number}: the header line is unreadable ({columns.detail})",
                             None, record_index)
    row = next(csv.reader([text]))
    if len(row) != len(columns):
        return reject_record("parse_error", f"line {line_number} has {len(row)} comma-separated fields, the header "
                                            f"{len(columns)}", row[0] if row else None, record_index)
    return properties_structure(dict(zip(columns, row)), record_index)


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
    for index, (lines, complete) in enumerate(split_sdf_records(iter_lines(stream))):
        if not complete:
            yield reject_record("truncated_input", "SDF record without a $$$$ terminator",
                                _sdf_record_id(_record_id_texts(lines)), index)
            return
        yield sdf_record(lines, index)


def split_sdf_records(lines: Iterable[Line]) -> Iterator[tuple[list[Line], bool]]:
    """(lines of one record, whether it ended with $$$$), one record in memory at a time."""
    record: list[Line] = []
    for line in lines:
        if line.data == b"$$$$":
            yield record, True
            record = []
        else:
            record.append(line)
    if any(line.data.strip() for line in record):
        yield record, False


def sdf_record(lines: list[Line], record_index: int) -> dict:
    """One complete SDF record -> structure or reject: a line that does not decode (or holds a
    control character) rejects the record, and so do two molblocks in one record (the $$$$
    between them is damaged: the first record would vanish into the second)."""
    try:
        texts = [text + "\n" for text in decode_lines(lines)]
    except Rejected as rejected:
        return reject_record(rejected.reason, rejected.detail, _sdf_record_id(_record_id_texts(lines)), record_index)
    if len(_MOLBLOCK_END.findall("".join(texts))) > 1:
        ends = [line.number for line, text in zip(lines, texts) if _MOLBLOCK_END.match(text)]
        return reject_record("parse_error", f"molblocks ending on lines {ends} in one record: a $$$$ "
                                            f"terminator between them is damaged", _sdf_record_id(texts), record_index)
    return sdf_structure(texts, record_index)


def _record_id_texts(lines: list[Line]) -> list[str]:
    # For the id of a reject only, never for a released field: undecodable bytes stay visible as escapes.
    return [line.data.decode("utf-8", "backslashreplace") + "\n" for line in lines]


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


# ---------------------------------------------------------------- lines


def _header(lines: Iterator[Line]) -> str | Rejected | None:
    """The text of the first non-blank line (or the Rejected that says why it has none);
    None for no such line."""
    for line in lines:
        if line.data.strip():
            try:
                return decode_line(line)
            except Rejected as rejected:
                return rejected
    return None


def _line_records(lines: Iterator[Line], records_of, first_index: int = 0) -> Iterator[dict]:
    """`records_of(line number, text, index)` for each non-blank line, `index` counting them from
    `first_index`; a line that does not decode is one reject."""
    index = first_index
    for line in lines:
        if not line.data.strip():
            continue
        try:
            text = decode_line(line)
        except Rejected as rejected:
            yield reject_record(rejected.reason, rejected.detail, None, index)
        else:
            yield from records_of(line.number, text, index)
        index += 1


def iter_line_records(stream: BinaryIO, fmt: str, first_record: int = 0, lines_before: int = 0,
                      first_offset: int = 0) -> Iterator[dict]:
    """The records of a file of one record a line (a format of `LINE_FORMATS`), or of a part of one
    that starts at a line's start: `first_record` is the index of its first record, `lines_before`
    and `first_offset` the lines and bytes before it in the file."""
    lines = iter_lines(stream, lines_before=lines_before, first_offset=first_offset)
    yield from _line_records(lines, partial(_cid_pair_records, record_of=LINE_FORMATS[fmt]), first_record)


def _cid_pair_records(number: int, text: str, index: int, record_of) -> list[dict]:
    """A line of a PubChem bulk CID-x file (`CID<TAB>text`) -> `record_of(CID text, text, index)`."""
    fields = text.split("\t")
    if len(fields) != 2:
        return [reject_record("parse_error", f"line {number} {_field_count_problem(len(fields), 2)}", fields[0], index)]
    return [record_of(fields[0], fields[1].strip(), index)]


def cid_smiles_record(raw_cid: str, smiles: str, record_index: int) -> dict:
    return _structure_or_reject(raw_cid, smiles, None, None, record_index)


def cid_title_record(raw_cid: str, title: str, record_index: int) -> dict:
    try:
        cid = parse_cid(raw_cid)
    except Rejected as rejected:
        return reject_record(rejected.reason, rejected.detail, raw_cid, record_index)
    return {"kind": "title", "cid": cid, "title": title, "record_index": record_index}


# PubChem's bulk CID-x files: one record a line, so that they can be read in parts side by side.
LINE_FORMATS = {"cid_smiles": cid_smiles_record, "cid_title": cid_title_record}


def _iter_chebi20(stream: BinaryIO) -> Iterator[dict]:
    lines = iter_lines(stream)
    _header(lines)  # CID, SMILES, description
    yield from _line_records(lines, lambda number, text, index: chebi20_row_records(text.split("\t"), number, index))


def chebi20_row_records(row: list[str], line_number: int, record_index: int) -> Iterator[dict]:
    """A ChEBI-20 row -> its structure and its (already name-masked) description, or a reject."""
    if len(row) != 3:
        yield reject_record("parse_error", f"line {line_number} {_field_count_problem(len(row), 3)}", row[0],
                            record_index)
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
