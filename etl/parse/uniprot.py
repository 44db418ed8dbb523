"""UniProtKB entries in any of the three formats UniProt serves -> one bronze row per entry.

The flat file (Swiss-Prot and TrEMBL `.dat`/`.txt`) is read with Biopython's
`Bio.SwissProt`; UniProtKB XML (`<uniprot><entry>`) with the standard library's
ElementTree, one entry at a time; REST JSON (one entry, a search page
`{"results": [...]}`, or JSON lines) with `json` and etl/parse/recovery.py.

Damage costs the record it is in, never the records after it: a file is cut
into records on its bytes (streaming, about one record in memory), and each
record is decoded as strict UTF-8 and parsed on its own. LF, CRLF and CR all
end a line. What cannot be read becomes a `Rejected` with a reason code and the
byte offsets of the damage; a file with no record at all is a `no_records`.

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
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import BinaryIO, NamedTuple
from xml.etree.ElementTree import ParseError, fromstring
from xml.parsers.expat import errors as expat_errors

from Bio import SwissProt

from etl.normalize.text import remove_evidence_tags, remove_qualifiers
from etl.parse.recovery import (BOM, TRUNCATION_ERRORS, Damage, JsonDocument, JsonElement, decode_utf8,
                                 iter_json_array, iter_lines, load_json, read_until_cut)
from etl.quality.rejects import Rejected
from etl.schema import table

FLAT, XML, JSON, JSONL = "flat", "xml", "json", "jsonl"

_EVIDENCE_AFTER_PERIOD = re.compile(r"\.\s*\{ECO:[^{}]*\}\.")
_LEGACY_ID_LINE = re.compile(r"^ID\s+\S+\s+(STANDARD|PRELIMINARY);", re.MULTILINE)
_FLAT_MOLECULE = re.compile(r"^\[([^\]]+)\]:\s*|^([^.;:\[\]{}]+):\s+")
_XML_NS = re.compile(r"^\{[^}]*\}")
# Records are found on the raw bytes, before decoding (see "records out of raw bytes").
_FLAT_END_LINE = re.compile(rb"(?:\A|(?<=[\r\n]))//(?:\r\n|\r|\n|\Z)")
# The text of that end line, by which etl.pipeline.chunks cuts a file at record ends.
FLAT_END_TEXT = b"//"
_LEADING_BLANK_LINES = re.compile(rb"(?:[ \t\f\v]*(?:\r\n|\r|\n))*")
_XML_ROOT_START = re.compile(rb"<(?P<name>(?:[\w.-]+:)?uniprot)(?:\s[^<>\x80-\xff]*)?>")
_XML_ENTRY_TAG = re.compile(rb"(?P<end></(?:[\w.-]+:)?entry\s*>)|(?P<start><(?:[\w.-]+:)?entry[\s>])")
# expat's codes for a document that stops before its elements are closed.
_XML_CUT_SHORT = {expat_errors.codes[expat_errors.XML_ERROR_NO_ELEMENTS],
                  expat_errors.codes[expat_errors.XML_ERROR_UNCLOSED_TOKEN]}
# A stream that stops early: gzip cut short or corrupt (EOFError, zlib.error), its trailer
# missing or wrong (BadGzipFile, an OSError), a remote read failing (OSError).
_CUT_SHORT = (*TRUNCATION_ERRORS, OSError)
# The first accession a record's bytes hold, empty or null included (then the record has none).
_RAW_ACCESSION = {
    FLAT: re.compile(rb"(?:^|\r)AC\s+([^;\s]*);", re.MULTILINE),
    XML: re.compile(rb"<(?:[\w.-]+:)?accession\s*(?:/>|>\s*([^<\s]*))"),
    JSON: re.compile(rb'"primaryAccession"\s*:\s*(?:null|"([^"\\]*)")'),
}



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


# Bronze columns the parse step fills in from the file, not from the entry.
FILE_COLUMNS = ("source_format", "origin_file", "record_index", "source_release")


def empty_row() -> dict:
    """Every entry column of `schemas/uniprot_bronze.yaml`, empty: None, or [] for a list."""
    return {column.name: [] if column.type.startswith("list<") else None
            for column in table("uniprot_bronze").columns if column.name not in FILE_COLUMNS}


# ---------------------------------------------------------------- records out of raw bytes
#
# Every format is cut into records on its bytes, before anything is decoded, so
# that damage stays inside the record it hits: a bad byte, a broken tag or a cut
# line rejects that record, and reading goes on with the next one.

class _Hit(NamedTuple):
    start: int
    end: int
    kind: str | None  # the name of the pattern's group that matched


class _ByteWindow:
    """The part of a binary stream still in use, read in chunks as searches ask for more.

    Positions are offsets in the whole (decompressed) stream. Bytes before the
    offset last `release`d are dropped at the next read, so memory holds about
    one record however large the file is."""

    def __init__(self, stream: BinaryIO, chunk_size: int = 1 << 20):
        # `read1` hands over what one underlying read gives: a gzip stream cut short
        # raises only once every byte before the cut is out (a buffered `read(n)`
        # would drop the bytes of the call that hit the cut).
        self._read = getattr(stream, "read1", stream.read)
        self._chunk_size = chunk_size
        self._data, self._base, self._kept_from = b"", 0, 0
        self._at_eof = False
        self._read_error: Exception | None = None

    @property
    def end(self) -> int:
        """The offset past the bytes read so far: the stream's length once a search came back empty."""
        return self._base + len(self._data)

    def search(self, pattern: re.Pattern, start: int) -> _Hit | None:
        """The first match of `pattern` at or after `start`, or None when the stream ends first.

        A match that reaches the end of the bytes read so far could still grow (a
        CR whose LF is in the next chunk), so it counts only once more bytes have
        been read or the stream has ended."""
        while True:
            match = pattern.search(self._data, start - self._base)
            if match and (match.end() < len(self._data) or self._at_eof):
                return _Hit(self._base + match.start(), self._base + match.end(), match.lastgroup)
            if self._at_eof:
                return None
            self._read_more()

    def slice(self, start: int, end: int) -> bytes:
        return self._data[start - self._base:end - self._base]

    def release(self, offset: int) -> None:
        """Nothing before `offset` will be asked for again."""
        self._kept_from = offset

    def _read_more(self) -> None:
        """Read about a chunk more. A read error comes out only after the bytes read before
        it, at the next call: the records complete before a cut are all still read."""
        if self._read_error is not None:
            raise self._read_error
        blocks, size = [], 0
        try:
            while size < self._chunk_size and not self._at_eof:
                block = self._read(self._chunk_size - size)
                blocks.append(block)
                size += len(block)
                self._at_eof = not block
        except _CUT_SHORT as exc:
            if not blocks:
                raise
            self._read_error = exc
        self._data = self._data[self._kept_from - self._base:] + b"".join(blocks)
        self._base = self._kept_from


def decode_record(data: bytes, offset: int = 0) -> str:
    """A record's bytes -> its text: strictly UTF-8, with CRLF and CR read as LF.

    A byte that is not UTF-8 rejects the record, naming the byte's offset in the
    file (`offset` is the record's own), instead of turning into U+FFFD inside
    a released answer."""
    return newlines_as_lf(decode_utf8(data, offset))


def newlines_as_lf(text: str) -> str:
    # On the decoded text, not the bytes: a byte offset named in a reject stays the file's.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def record_accession(data: bytes, fmt: str) -> str | None:
    """The accession a record's raw bytes show, so that a record that cannot be parsed still names its entry."""
    match = _RAW_ACCESSION[JSON if fmt == JSONL else fmt].search(data)
    # An identifier, never an answer: a bad byte in it is shown escaped.
    return match.group(1).decode("ascii", "backslashreplace") if match and match.group(1) else None


def parse_record(parse, *args) -> dict | Rejected:
    try:
        return parse(*args)
    except Rejected as rejected:
        return rejected
    except Exception as exc:  # a parser bug or an input shape nobody foresaw: keep the record, say why
        return Rejected("parse_error", f"{type(exc).__name__}: {exc}")


Result = tuple[int, str | None, dict | Rejected]  # (record index, accession, bronze fields or reject)


def record_result(fmt: str, index: int, data: bytes, result: dict | Rejected) -> Result:
    """(index, accession, result): the row's accession, or for a reject the one the record's bytes show."""
    return index, result["accession"] if isinstance(result, dict) else record_accession(data, fmt), result


def parsed_record(fmt: str, index: int, data: bytes, offset: int, parse: Callable[[str], dict]) -> Result:
    """One record's bytes, decoded strictly and parsed."""
    return record_result(fmt, index, data, parse_record(_decode_and_parse, parse, data, offset))


def _decode_and_parse(parse: Callable[[str], dict], data: bytes, offset: int) -> dict:
    return parse(decode_record(data, offset))


def rejected_record(fmt: str, index: int, data: bytes, reason: str, detail: str) -> Result:
    return record_result(fmt, index, data, Rejected(reason, detail))


# ---------------------------------------------------------------- flat file


def iter_flat_records(stream: BinaryIO) -> Iterator[tuple[int, int, bytes, bool]]:
    """Split a flat file into (index, offset, record bytes, terminated), neither decoded nor parsed.

    A record runs from its first non-blank line up to its `//` line; lines may
    end in LF, CRLF or CR. `terminated` is False for a last record the file cut
    off before its `//` line: a truncated download, which must be reported, not
    half-parsed."""
    window = _ByteWindow(stream)
    index, start = 0, 0
    while (end_line := window.search(_FLAT_END_LINE, start)) is not None:
        yield index, *_flat_record_bytes(window, start, end_line.start), True
        index, start = index + 1, end_line.end
        window.release(start)
    offset, data = _flat_record_bytes(window, start, window.end)
    if data:
        yield index, offset, data, False


def _flat_record_bytes(window: _ByteWindow, start: int, end: int) -> tuple[int, bytes]:
    """The offset and bytes of the record between `start` and `end`, less what precedes its
    first line: blank lines, and at the start of the file a byte order mark."""
    data = window.slice(start, end)
    skipped = len(BOM) if start == 0 and data.startswith(BOM) else 0
    skipped = _LEADING_BLANK_LINES.match(data, skipped).end()
    return start + skipped, data[skipped:]


def parse_flat_record(text: str) -> dict:
    """One flat-file record (without its `//` line) -> bronze row fields."""
    text = newlines_as_lf(text)  # text that did not come through decode_record may hold CRLF
    if _LEGACY_ID_LINE.search(text):
        raise Rejected("unsupported_legacy_format", "pre-2006 ID line (STANDARD/PRELIMINARY data class)")
    try:
        record = SwissProt.read(io.StringIO(text.rstrip("\n") + "\n//\n"))
    except Exception as exc:  # Biopython raises ValueError, SwissProtParserError, IndexError...
        raise Rejected("parse_error", f"Bio.SwissProt: {exc}") from None
    if not record.accessions or not record.accessions[0]:  # `AC   ;` reads as one empty accession
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


class XmlRoot(NamedTuple):
    """The root element's tags. Each entry is parsed on its own between them: the
    start tag declares the namespace the entry's elements are in."""

    start_tag: str = ""
    end_tag: str = ""


def xml_root(prologue: bytes) -> tuple[XmlRoot, int]:
    """The root's tags, read from the bytes before the first entry, and the offset where its start tag ends."""
    match = _XML_ROOT_START.search(prologue)
    if not match:  # a document that is one `<entry>`, or a prologue too damaged to tell
        return XmlRoot(), len(prologue)
    return XmlRoot(match.group(0).decode("ascii"), f"</{match['name'].decode('ascii')}>"), match.end()


def iter_xml_spans(window: _ByteWindow, start: int, tag: _Hit | None,
                   root: XmlRoot) -> Iterator[tuple[int, int, Rejected | None]]:
    """Cut the bytes from `start` (past the root's start tag) into (start, end, problem).

    `problem` is None for an `<entry>` element to parse, or says why the bytes
    are no whole entry: an entry without its end tag (it ends where the next one
    starts) or without its start tag, stray bytes between entries, an entry the
    file ends in. `tag` is the first entry tag after `start`. Whitespace between
    entries, and the end of the root after the last one, are no record."""
    pos = start
    while tag is not None:
        window.release(pos)
        if tag.kind == "end":
            yield pos, tag.end, Rejected("parse_error", f"bytes {pos}-{tag.end}: an </entry> without its <entry>")
            pos, tag = tag.end, window.search(_XML_ENTRY_TAG, tag.end)
            continue
        if window.slice(pos, tag.start).strip():
            yield pos, tag.start, Rejected("parse_error", f"bytes {pos}-{tag.start} between entries are no entry")
        closing = window.search(_XML_ENTRY_TAG, tag.end)
        if closing is None:
            yield tag.start, window.end, Rejected("truncated_input", f"file ends inside the <entry> at byte {tag.start}")
            return
        if closing.kind == "start":
            yield tag.start, closing.start, Rejected(
                "parse_error", f"the <entry> at bytes {tag.start}-{closing.start} has no </entry> before the next <entry>")
            pos, tag = closing.start, closing
        else:
            yield tag.start, closing.end, None
            pos, tag = closing.end, window.search(_XML_ENTRY_TAG, closing.end)
    problem = xml_tail_problem(window.slice(pos, window.end), pos, root)
    if problem is not None:
        yield pos, window.end, problem


def xml_tail_problem(data: bytes, offset: int, root: XmlRoot) -> Rejected | None:
    """What follows the last entry must end the root (UniProt puts a `<copyright>` before its end tag)."""
    where = f"bytes {offset}-{offset + len(data)} after the last entry"
    if not root.start_tag:
        return Rejected("parse_error", f"{where} are no entry") if data.strip() else None
    try:
        fromstring(root.start_tag + decode_record(data, offset))
    except Rejected as rejected:
        return rejected
    except ParseError as exc:
        reason = "truncated_input" if exc.code in _XML_CUT_SHORT else "parse_error"
        return Rejected(reason, f"XML, {where}: {exc}")
    return None


def _undecodable(data: bytes, offset: int) -> Rejected | None:
    """`not_utf8` for bytes that are not UTF-8 (before any other damage, as recovery.py reports JSON)."""
    try:
        decode_utf8(data, offset)
    except Rejected as rejected:
        return rejected
    return None


def parse_xml_entry_text(text: str, root: XmlRoot, offset: int) -> dict:
    """One `<entry>` element's text -> bronze row fields, parsed between the root's tags."""
    try:
        document = fromstring(root.start_tag + text + root.end_tag)
    except ParseError as exc:
        raise Rejected("parse_error", f"XML entry at byte {offset} (lines counted from there): {exc}") from None
    return parse_xml_entry(document[0] if root.start_tag else document)


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


SEARCH_PAGE_RESULTS = ("results",)  # where a REST search page keeps its entries


def parse_json_line(text: str, last_line: bool) -> dict:
    """One line of a JSON-lines file -> bronze row fields.

    A broken last line whose JSON is still open where it stops was cut off with
    the file (`truncated_input`); any other broken line is a `parse_error`."""
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        lost = load_json(text.encode()).lost if last_line else None
        reason = "truncated_input" if lost is not None and lost.reason == "truncated_input" else "parse_error"
        raise Rejected(reason, f"JSON: {exc}") from None
    return parse_json_entry(entry)


def _values(items) -> list[str]:
    return [i["value"] for i in items or [] if i.get("value")]


def parse_json_entry(entry: dict) -> dict:
    if not isinstance(entry, dict) or not entry.get("primaryAccession") or not isinstance(entry["primaryAccession"], str):
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


def parse_entries(stream: BinaryIO, fmt: str) -> Iterator[Result]:
    """(record index, accession if readable, bronze fields or the Rejected) for every record.

    One bad record never stops the file: it becomes a Rejected and reading goes
    on with the next record. A file that ends mid-record (a truncated download
    or gzip stream) yields a `truncated_input` for the record it cut, after
    every complete record; a file with no record at all yields `no_records`."""
    readers = {FLAT: parse_flat_stream, XML: _parse_xml_stream, JSON: _parse_json_stream, JSONL: _parse_json_lines}
    if fmt not in readers:
        raise ValueError(f"not a UniProt format: {fmt!r}")
    index = -1
    try:
        for index, accession, result in readers[fmt](stream):
            yield index, accession, result
    except _CUT_SHORT as exc:
        yield index + 1, None, Rejected("truncated_input", f"compressed stream ends early: {exc}")
        return
    if index < 0:
        yield 0, None, Rejected("no_records", f"the file holds no UniProt {fmt} record")


def parse_flat_stream(stream: BinaryIO, first_index: int = 0, first_offset: int = 0) -> Iterator[Result]:
    """Every record of a flat file, or of a part of one that starts at a record's first line
    (`first_index` and `first_offset`: that record's index and byte offset in the file)."""
    for index, offset, data, terminated in iter_flat_records(stream):
        index, offset = first_index + index, first_offset + offset
        if terminated:
            yield parsed_record(FLAT, index, data, offset, parse_flat_record)
        else:
            yield rejected_record(FLAT, index, data, "truncated_input", "file ends before the record's // line")


def _parse_xml_stream(stream: BinaryIO) -> Iterator[Result]:
    """Each `<entry>` is cut out of the bytes and parsed on its own, so damage stays inside
    the entry it hits and the next entry is read as if it were not there."""
    window = _ByteWindow(stream)
    first_tag = window.search(_XML_ENTRY_TAG, 0)
    root, body_start = xml_root(window.slice(0, first_tag.start if first_tag else window.end))
    for index, (start, end, problem) in enumerate(iter_xml_spans(window, body_start, first_tag, root)):
        data = window.slice(start, end)
        if problem is None:
            yield parsed_record(XML, index, data, start, partial(parse_xml_entry_text, root=root, offset=start))
        else:
            yield record_result(XML, index, data, _undecodable(data, start) or problem)


def _parse_json_lines(stream: BinaryIO) -> Iterator[Result]:
    """One entry a line: a broken line is that entry's reject, and the next line is read as usual."""
    lines = (line for line in iter_lines(stream) if line.data.strip())
    line = next(lines, None)
    index = 0
    while line is not None:
        following = next(lines, None)
        parse = partial(parse_json_line, last_line=following is None)
        yield parsed_record(JSONL, index, line.data, line.offset, parse)
        line, index = following, index + 1


def _parse_json_stream(stream: BinaryIO) -> Iterator[Result]:
    data, cut = read_until_cut(stream)
    for result in _json_document_entries(data):
        if cut is not None and _is_truncation(result[2]):
            break  # the JSON breaks off where the stream was cut: that is reported once, as the cut
        yield result
    if cut is not None:
        raise cut


def _is_truncation(result: dict | Rejected) -> bool:
    return isinstance(result, Rejected) and result.reason == "truncated_input"


def _json_document_entries(data: bytes) -> Iterator[Result]:
    """A REST search page `{"results": [...]}` entry by entry, or a document that is one entry."""
    if not data.strip():
        return  # an empty download holds no record
    scanned = list(iter_json_array(data, SEARCH_PAGE_RESULTS))
    if not any(isinstance(item, JsonElement) for item in scanned):
        # No element under "results": a page without entries, or no page but one entry.
        document = load_json(data)
        if not (isinstance(document.value, dict) and SEARCH_PAGE_RESULTS[0] in document.value):
            yield _single_entry(data, document)
            return
    yield from _search_page_entries(data, scanned)


def _single_entry(data: bytes, document: JsonDocument) -> Result:
    # A file cut short says so first: the damage before the cut may be the cut's doing.
    damage = document.lost or (document.damages[0] if document.damages else None)
    if damage is not None:
        return rejected_record(JSON, 0, data, damage.reason, damage.detail)
    return decoded_json_entry(0, document.value)


def _search_page_entries(data: bytes, scanned: list[JsonElement | Damage]) -> Iterator[Result]:
    """Each element of `results` is decoded on its own: a damaged one is that entry's reject,
    and the scan resumes after it. Damage outside any element (bytes after the page, a
    remainder that cannot be followed) comes after the entries, so these keep their index."""
    elements = [item for item in scanned if isinstance(item, JsonElement)]
    for element in elements:
        if element.damage is None:
            yield decoded_json_entry(element.index, element.value)
        else:  # a damaged element is always located
            yield rejected_record(JSON, element.index, data[element.start:element.end], element.damage.reason,
                                  element.damage.detail)
    damages = [item for item in scanned if isinstance(item, Damage)]
    for index, damage in enumerate(damages, start=len(elements)):
        yield rejected_record(JSON, index, data[damage.start:damage.end], damage.reason, damage.detail)


def decoded_json_entry(index: int, entry) -> Result:
    """An entry that decoded: parsed, and named by the accession it holds even when rejected."""
    accession = entry.get("primaryAccession") if isinstance(entry, dict) else None
    return index, accession if isinstance(accession, str) else None, parse_record(parse_json_entry, entry)
