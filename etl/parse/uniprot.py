"""UniProtKB entries in any of the three formats UniProt serves -> one bronze row per entry.

The flat file (Swiss-Prot and TrEMBL `.dat`/`.txt`) is read with Biopython's
`Bio.SwissProt`; UniProtKB XML (`<uniprot><entry>`) with the standard library's
streaming `iterparse`; REST JSON (one entry, a search page `{"results": [...]}`,
or JSON lines) with `json`.

All three come out as the same `bronze row` (schemas/uniprot_bronze.yaml), so the
same entry read from two formats gives the same row. To make that true the row
holds each text as the flat file would after dropping evidence tags: evidence is
metadata about a statement, each format encodes it differently (`{ECO:...}`
inline, `evidence="1 2"` keys, `evidences` lists), and the cleaning stage needs
none of it. Comments end with a period (the flat file writes one; XML and JSON do
not), an isoform's comment starts with `[Isoform 2]: ` as in the flat file.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import BinaryIO
from xml.etree.ElementTree import iterparse

from Bio import SwissProt

from etl.normalize.text import remove_evidence_tags, remove_qualifiers
from etl.quality.rejects import Rejected

FLAT, XML, JSON, JSONL = "flat", "xml", "json", "jsonl"
FLAT_RECORD_END = "//"

_EVIDENCE_AFTER_PERIOD = re.compile(r"\.\s*\{ECO:[^{}]*\}\.")
_LEGACY_ID_LINE = re.compile(r"^ID\s+\S+\s+(STANDARD|PRELIMINARY);", re.MULTILINE)
_ACCESSION_LINE = re.compile(r"^AC\s+([^;\s]+);", re.MULTILINE)
_FLAT_MOLECULE = re.compile(r"^\[([^\]]+)\]:\s*|^([^.;:\[\]{}]+):\s+")
_XML_NS = re.compile(r"^\{[^}]*\}")


# ---------------------------------------------------------------- format detection


def detect_format(head: bytes, name: str = "") -> str:
    """Tell the format of a (decompressed) UniProt file from its first bytes.

    The content decides; the file name is not trusted (REST downloads are often
    saved as `.txt` whatever their format)."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml") or text.startswith(b"<uniprot") or text.startswith(b"<entry"):
        return XML
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0].strip()
        # A JSON-lines file holds one complete entry object per line.
        if first_line.endswith(b"}") and b'"primaryAccession"' in first_line and b"\n{" in text:
            return JSONL
        return JSON
    if text.startswith(b"ID   "):
        return FLAT
    raise Rejected("unknown_format", f"{name or 'input'}: starts with {head[:40]!r}, not a UniProt flat file, XML or JSON")


# ---------------------------------------------------------------- shared text helpers


def strip_evidence(text: str) -> str:
    """Drop `{ECO:...}` evidence tags, keeping the sentence's own final period once."""
    return remove_evidence_tags(_EVIDENCE_AFTER_PERIOD.sub(".", text)).strip()


def end_with_period(text: str) -> str:
    text = text.strip()
    return text if not text or text.endswith(".") else text + "."


def with_molecule(molecule: str | None, text: str) -> str:
    return f"[{molecule}]: {text}" if molecule else text


def join_texts(texts: Iterable[str]) -> str | None:
    kept = [t for t in texts if t]
    return " ".join(kept) if kept else None


FUNCTION, SIMILARITY, SUBCELLULAR_LOCATION = "FUNCTION", "SIMILARITY", "SUBCELLULAR LOCATION"


class CommentFields:
    """The row's function, family and subcellular locations, gathered comment by comment.

    Each format reads its comments its own way, but all are rendered alike: every
    text ends with a period, an isoform's function or location note starts with its
    molecule, and comments on other topics are no part of the row."""

    def __init__(self) -> None:
        self.functions: list[str] = []
        self.families: list[str] = []
        self.locations: list[dict] = []
        self.notes: list[str] = []

    def add_texts(self, topic: str, texts: Iterable[str], molecule: str | None = None) -> None:
        if topic == FUNCTION:
            self.functions.extend(with_molecule(molecule, end_with_period(t)) for t in texts)
        elif topic == SIMILARITY:
            self.families.extend(end_with_period(t) for t in texts)

    def add_locations(self, locations: Iterable[dict], notes: Iterable[str], molecule: str | None = None) -> None:
        self.locations.extend(locations)
        self.notes.extend(with_molecule(molecule, end_with_period(t)) for t in notes)

    def row_fields(self) -> dict:
        return {
            "function": join_texts(self.functions),
            "family": join_texts(self.families),
            "subcellular_locations": self.locations,
            "subcellular_location_note": join_texts(self.notes),
        }


def canonical_keywords(keywords: Iterable[str | None]) -> list[str]:
    """Keywords are a set; the formats list them in different orders (case-folded or not)."""
    return sorted({k for k in keywords if k}, key=str.casefold)


def flat_date_to_iso(date: str) -> str | None:
    try:
        return datetime.strptime(date, "%d-%b-%Y").date().isoformat()
    except ValueError:
        return None


def empty_row() -> dict:
    return {
        "accession": None,
        "secondary_accessions": [],
        "entry_name": None,
        "reviewed": None,
        "organism": None,
        "taxon_id": None,
        "recommended_name_full": None,
        "recommended_name_short": [],
        "alternative_names": [],
        "submitted_names": [],
        "ec_numbers": [],
        "gene_names": [],
        "function": None,
        "subcellular_locations": [],
        "subcellular_location_note": None,
        "family": None,
        "keywords": [],
        "sequence": None,
        "declared_length": None,
        "declared_crc64": None,
        "entry_version": None,
        "entry_date": None,
    }


# ---------------------------------------------------------------- flat file


def iter_flat_records(stream: io.TextIOBase) -> Iterator[tuple[int, str, bool]]:
    """Split a flat file into (index, record text, terminated) without parsing.

    `terminated` is False for a last record the file cut off before its `//`
    line: a truncated download, which must be reported, not half-parsed."""
    lines: list[str] = []
    index = 0
    for line in stream:
        if line.rstrip("\r\n") == FLAT_RECORD_END:
            yield index, "".join(lines), True
            lines = []
            index += 1
        elif lines or line.strip():
            lines.append(line)
    if lines:
        yield index, "".join(lines), False


def flat_record_accession(text: str) -> str | None:
    match = _ACCESSION_LINE.search(text)
    return match.group(1) if match else None


def parse_flat_record(text: str) -> dict:
    """One flat-file record (without its `//` line) -> bronze row fields."""
    if _LEGACY_ID_LINE.search(text):
        raise Rejected("unsupported_legacy_format", "pre-2006 ID line (STANDARD/PRELIMINARY data class)")
    try:
        record = SwissProt.read(io.StringIO(text.rstrip("\n") + "\n//\n"))
    except Exception as exc:  # Biopython raises ValueError, SwissProtParserError, IndexError...
        raise Rejected("parse_error", f"Bio.SwissProt: {exc}") from None
    if not record.accessions:
        raise Rejected("missing_accession", "no AC line")
    row = empty_row()
    row.update(
        accession=record.accessions[0],
        secondary_accessions=list(record.accessions[1:]),
        entry_name=record.entry_name,
        reviewed=record.data_class == "Reviewed",
        organism=record.organism.rstrip(".").strip() or None,
        taxon_id=int(record.taxonomy_id[0]) if record.taxonomy_id else None,
        gene_names=flat_gene_names(record.gene_name),
        keywords=canonical_keywords(strip_evidence(k) for k in record.keywords),
        sequence=record.sequence,
        declared_length=record.sequence_length,
        declared_crc64=record.seqinfo[2] if record.seqinfo else None,
        entry_version=record.annotation_update[1] if record.annotation_update else None,
        entry_date=flat_date_to_iso(record.annotation_update[0]) if record.annotation_update else None,
    )
    row.update(parse_flat_description(record.description))
    row.update(flat_comments(record.comments))
    return row


def flat_gene_names(gene_name) -> list[str]:
    """GN lines in order: Name, Synonyms, OrderedLocusNames, ORFNames (Biopython gives dicts)."""
    groups = gene_name if isinstance(gene_name, list) else []
    names: list[str] = []
    for group in groups:
        for key in ("Name", "Synonyms", "OrderedLocusNames", "ORFNames"):
            value = group.get(key) or []
            # Biopython gives a string for Name and lists for the others, depending on the line.
            for item in [value] if isinstance(value, str) else value:
                names.extend(strip_evidence(v) for v in item.split(",") if strip_evidence(v))
    return names


def parse_flat_description(description: str) -> dict:
    """The DE lines (joined by Biopython) -> names and EC numbers of the entry itself.

    `Contains:`/`Includes:` introduce the names of the chains and domains the
    protein is cut into; those are not the protein's own names (XML keeps them in
    `<component>`/`<domain>`), so reading stops there."""
    out = {"recommended_name_full": None, "recommended_name_short": [], "alternative_names": [],
           "submitted_names": [], "ec_numbers": []}
    section = None
    for token in (t.strip() for t in description.split(";")):
        if not token:
            continue
        if token.startswith(("Contains:", "Includes:")):
            break
        if ":" in token.split("=", 1)[0]:
            section, _, token = (part.strip() for part in token.partition(":"))
        key, _, value = token.partition("=")
        value = strip_evidence(value)
        if not value:
            continue
        if key == "EC" and section in ("RecName", "SubName"):
            out["ec_numbers"].append(value)
        elif section == "RecName" and key == "Full":
            out["recommended_name_full"] = value
        elif section == "RecName" and key == "Short":
            out["recommended_name_short"].append(value)
        elif section == "AltName" and key == "Full":
            out["alternative_names"].append(value)
        elif section == "SubName" and key == "Full":
            out["submitted_names"].append(value)
    return out


def flat_comments(comments: list[str]) -> dict:
    fields = CommentFields()
    for comment in comments:
        topic, _, text = comment.partition(": ")
        if topic == SUBCELLULAR_LOCATION:
            locations, note = parse_flat_subcellular_location(strip_evidence(text))
            fields.add_locations(locations, [note] if note else [])
        else:
            # An isoform's molecule is already part of a flat comment's text.
            fields.add_texts(topic, [strip_evidence(text)])
    return fields.row_fields()


def parse_flat_subcellular_location(text: str) -> tuple[list[dict], str | None]:
    """`[Isoform 1]: Cell membrane; Multi-pass membrane protein. Nucleus. Note=...`

    -> one item per location (location; topology; orientation) and the note,
    prefixed with its molecule as the other comments are."""
    molecule = None
    match = _FLAT_MOLECULE.match(text)
    if match:
        molecule = (match.group(1) or match.group(2)).strip()
        text = text[match.end():]
    body, _, note = text.partition("Note=")
    items = []
    for part in re.split(r"\.\s+|\.$", body.strip()):
        # A qualifier is no part of a location's name, whatever the text cleaning keeps.
        fields = [remove_qualifiers(f).strip() for f in part.split(";")]
        fields = [f for f in fields if f]
        if fields:
            items.append(location_item(molecule, *fields[:3]))
    note = end_with_period(note.strip()) if note.strip() else None
    return items, with_molecule(molecule, note) if note else None


def join_location_levels(levels: list[str]) -> str:
    """XML lists a nested location level by level (`Secreted`, `Extracellular space`);
    the flat file and JSON write it as one name, later levels starting lower-case
    unless they start with an acronym (`Cytoplasm, P-body`)."""
    def lower_first(level: str) -> str:
        return level[0].lower() + level[1:] if len(level) > 1 and level[1].islower() else level

    return ", ".join([levels[0]] + [lower_first(level) for level in levels[1:]])


def location_item(molecule, location, topology=None, orientation=None) -> dict:
    return {"molecule": molecule, "location": location, "topology": topology, "orientation": orientation}


# ---------------------------------------------------------------- XML


def iter_xml_elements(stream: BinaryIO) -> Iterator[tuple[int, object]]:
    """Stream `<entry>` elements; each is cleared once the caller is done with it,
    so memory stays flat over a whole Swiss-Prot XML."""
    index = 0
    for _, elem in iterparse(stream, events=("end",)):
        if _local(elem.tag) == "entry":
            yield index, elem
            index += 1
            elem.clear()


def _local(tag: str) -> str:
    return _XML_NS.sub("", tag)


def _children(elem, name: str) -> list:
    return [c for c in elem if _local(c.tag) == name]


def _child(elem, name: str):
    found = _children(elem, name)
    return found[0] if found else None


def _text(elem) -> str | None:
    return elem.text.strip() if elem is not None and elem.text and elem.text.strip() else None


def parse_xml_entry(entry) -> dict:
    row = empty_row()
    accessions = [_text(a) for a in _children(entry, "accession")]
    if not accessions or not accessions[0]:
        raise Rejected("missing_accession", "XML <entry> without <accession>")
    sequence = _child(entry, "sequence")
    row.update(
        accession=accessions[0],
        secondary_accessions=accessions[1:],
        entry_name=_text(_child(entry, "name")),
        reviewed=entry.get("dataset") == "Swiss-Prot",
        keywords=canonical_keywords(_text(k) for k in _children(entry, "keyword")),
        sequence=re.sub(r"\s+", "", sequence.text or "") if sequence is not None else None,
        declared_length=int(sequence.get("length")) if sequence is not None and sequence.get("length") else None,
        declared_crc64=sequence.get("checksum") if sequence is not None else None,
        entry_version=int(entry.get("version")) if entry.get("version") else None,
        entry_date=entry.get("modified"),
    )
    row.update(xml_organism(_child(entry, "organism")))
    row.update(xml_protein_names(_child(entry, "protein")))
    row["gene_names"] = [_text(n) for g in _children(entry, "gene") for n in _children(g, "name") if _text(n)]
    if not row["ec_numbers"]:
        # XML before ~2012 gave EC numbers as entry-level cross-references, not inside the name.
        row["ec_numbers"] = [d.get("id") for d in _children(entry, "dbReference") if d.get("type") == "EC"]
    row.update(xml_comments(_children(entry, "comment")))
    return row


def xml_organism(organism) -> dict:
    if organism is None:
        return {}
    names = {n.get("type"): _text(n) for n in reversed(_children(organism, "name"))}
    taxon = next((d.get("id") for d in _children(organism, "dbReference") if d.get("type") == "NCBI Taxonomy"), None)
    return {"organism": render_organism(names.get("scientific"), names.get("common"), names.get("synonym")),
            "taxon_id": int(taxon) if taxon else None}


def render_organism(scientific: str | None, common: str | None, synonym: str | None) -> str | None:
    """As the flat file's OS line: `Scientific name (Common name) (Synonym)`."""
    parts = [scientific] + [f"({n})" for n in (common, synonym) if n]
    return " ".join(p for p in parts if p) or None


def xml_protein_names(protein) -> dict:
    if protein is None:
        return {}
    recommended = _child(protein, "recommendedName")
    return {
        "recommended_name_full": _text(_child(recommended, "fullName")) if recommended is not None else None,
        "recommended_name_short": [_text(s) for s in _children(recommended, "shortName")] if recommended is not None else [],
        "alternative_names": [_text(_child(a, "fullName")) for a in _children(protein, "alternativeName")
                              if _child(a, "fullName") is not None],
        "submitted_names": [_text(_child(s, "fullName")) for s in _children(protein, "submittedName")
                            if _child(s, "fullName") is not None],
        "ec_numbers": [_text(e) for name in _children(protein, "recommendedName") + _children(protein, "submittedName")
                       for e in _children(name, "ecNumber")],
    }


def xml_comments(comments: list) -> dict:
    fields = CommentFields()
    for comment in comments:
        topic = comment.get("type", "").upper()  # XML names the topics in lower case
        molecule = _text(_child(comment, "molecule"))
        texts = [t for t in (_text(x) for x in _children(comment, "text")) if t]
        if topic == SUBCELLULAR_LOCATION:
            # A location comment's <text> is its note.
            fields.add_locations(xml_locations(comment, molecule), texts, molecule)
        else:
            fields.add_texts(topic, texts, molecule)
    return fields.row_fields()


def xml_locations(comment, molecule: str | None) -> list[dict]:
    locations = []
    for sub in _children(comment, "subcellularLocation"):
        levels = [_text(loc) for loc in _children(sub, "location") if _text(loc)]
        if levels:
            locations.append(location_item(molecule, join_location_levels(levels),
                                           _text(_child(sub, "topology")), _text(_child(sub, "orientation"))))
    return locations


# ---------------------------------------------------------------- REST JSON


def iter_json_documents(data: bytes, fmt: str) -> Iterator[tuple[int, dict]]:
    """A single entry, a search page `{"results": [...]}`, or JSON lines."""
    if fmt == JSONL:
        for index, line in enumerate(line for line in data.splitlines() if line.strip()):
            yield index, json.loads(line)
        return
    document = json.loads(data)
    documents = document["results"] if isinstance(document, dict) and "results" in document else [document]
    yield from enumerate(documents)


def _values(items) -> list[str]:
    return [i["value"] for i in items or [] if i.get("value")]


def parse_json_entry(entry: dict) -> dict:
    if not isinstance(entry, dict) or not entry.get("primaryAccession"):
        raise Rejected("missing_accession", "JSON entry without primaryAccession")
    row = empty_row()
    audit = entry.get("entryAudit", {})
    sequence = entry.get("sequence", {})
    organism = entry.get("organism", {})
    row.update(
        accession=entry["primaryAccession"],
        secondary_accessions=list(entry.get("secondaryAccessions", [])),
        entry_name=entry.get("uniProtkbId"),
        reviewed="Swiss-Prot" in entry.get("entryType", "") and "unreviewed" not in entry.get("entryType", ""),
        organism=render_organism(organism.get("scientificName"), organism.get("commonName"),
                                 (organism.get("synonyms") or [None])[0]),
        taxon_id=organism.get("taxonId"),
        gene_names=json_gene_names(entry.get("genes", [])),
        keywords=canonical_keywords(k.get("name") for k in entry.get("keywords", [])),
        sequence=sequence.get("value"),
        declared_length=sequence.get("length"),
        declared_crc64=sequence.get("crc64"),
        entry_version=audit.get("entryVersion"),
        entry_date=audit.get("lastAnnotationUpdateDate"),
    )
    row.update(json_protein_names(entry.get("proteinDescription", {})))
    row.update(json_comments(entry.get("comments", [])))
    return row


def json_gene_names(genes: list[dict]) -> list[str]:
    names = []
    for gene in genes:
        if gene.get("geneName", {}).get("value"):
            names.append(gene["geneName"]["value"])
        for key in ("synonyms", "orderedLocusNames", "orfNames"):
            names.extend(_values(gene.get(key)))
    return names


def json_protein_names(description: dict) -> dict:
    recommended = description.get("recommendedName", {})
    submitted = description.get("submissionNames", [])
    return {
        "recommended_name_full": recommended.get("fullName", {}).get("value"),
        "recommended_name_short": _values(recommended.get("shortNames")),
        "alternative_names": [a["fullName"]["value"] for a in description.get("alternativeNames", [])
                              if a.get("fullName", {}).get("value")],
        "submitted_names": [s["fullName"]["value"] for s in submitted if s.get("fullName", {}).get("value")],
        "ec_numbers": _values(recommended.get("ecNumbers")) + [e for s in submitted for e in _values(s.get("ecNumbers"))],
    }


def json_comments(comments: list[dict]) -> dict:
    fields = CommentFields()
    for comment in comments:
        topic = comment.get("commentType", "")
        molecule = comment.get("molecule")
        if topic == SUBCELLULAR_LOCATION:
            notes = _values(comment.get("note", {}).get("texts"))
            fields.add_locations(json_locations(comment, molecule), notes, molecule)
        else:
            fields.add_texts(topic, _values(comment.get("texts")), molecule)
    return fields.row_fields()


def json_locations(comment: dict, molecule: str | None) -> list[dict]:
    return [location_item(molecule, sub.get("location", {}).get("value"), sub.get("topology", {}).get("value"),
                          sub.get("orientation", {}).get("value"))
            for sub in comment.get("subcellularLocations", [])]


# ---------------------------------------------------------------- one file, any format


def parse_entries(stream: BinaryIO, fmt: str) -> Iterator[tuple[int, str | None, dict | Rejected]]:
    """(record index, accession if readable, bronze fields or the Rejected) for every record.

    One bad record never stops the file: it becomes a Rejected and reading goes
    on. A file that ends mid-record (a truncated download or gzip stream) yields
    a `truncated_input` for the record it cut, after every complete record."""
    if fmt == FLAT:
        yield from _parse_flat_stream(stream)
    elif fmt == XML:
        yield from _parse_xml_stream(stream)
    elif fmt in (JSON, JSONL):
        yield from _parse_json_stream(stream, fmt)
    else:
        raise ValueError(f"not a UniProt format: {fmt!r}")


def parse_record(parse, *args) -> dict | Rejected:
    try:
        return parse(*args)
    except Rejected as rejected:
        return rejected
    except Exception as exc:  # a parser bug or an input shape nobody foresaw: keep the record, say why
        return Rejected("parse_error", f"{type(exc).__name__}: {exc}")


def _parse_flat_stream(stream: BinaryIO) -> Iterator[tuple[int, str | None, dict | Rejected]]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
    index = 0
    try:
        for index, record, terminated in iter_flat_records(text):
            if terminated:
                yield index, flat_record_accession(record), parse_record(parse_flat_record, record)
            else:
                yield index, flat_record_accession(record), Rejected("truncated_input", "file ends before the record's // line")
    except (EOFError, OSError) as exc:  # gzip stream cut short
        yield index + 1, None, Rejected("truncated_input", f"compressed stream ends early: {exc}")


def _parse_xml_stream(stream: BinaryIO) -> Iterator[tuple[int, str | None, dict | Rejected]]:
    index = -1
    try:
        for index, elem in iter_xml_elements(stream):
            accessions = _children(elem, "accession")
            yield index, _text(accessions[0]) if accessions else None, parse_record(parse_xml_entry, elem)
    except (EOFError, OSError) as exc:
        yield index + 1, None, Rejected("truncated_input", f"compressed stream ends early: {exc}")
    except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
        reason = "truncated_input" if "no element found" in str(exc) or "unclosed token" in str(exc) else "parse_error"
        yield index + 1, None, Rejected(reason, f"XML: {exc}")


def _parse_json_stream(stream: BinaryIO, fmt: str) -> Iterator[tuple[int, str | None, dict | Rejected]]:
    try:
        data = stream.read()
    except (EOFError, OSError) as exc:
        yield 0, None, Rejected("truncated_input", f"compressed stream ends early: {exc}")
        return
    index = -1
    try:
        for index, document in iter_json_documents(data, fmt):
            accession = document.get("primaryAccession") if isinstance(document, dict) else None
            yield index, accession, parse_record(parse_json_entry, document)
    except json.JSONDecodeError as exc:
        # A JSON document that does not end by closing its outer object/array was cut off.
        reason = "truncated_input" if not data.rstrip().endswith((b"}", b"]")) else "parse_error"
        yield index + 1, None, Rejected(reason, f"JSON: {exc}")
