"""Reading damaged files record by record: bytes in, records or precisely located damage out.

A format parser built on this module reads every record it can and turns each stretch
of bytes it cannot read into a reject with a reason code of `etl.quality.rejects` and a
byte range, then resumes at the next record boundary its format defines. Nothing here
knows a file format: etl/parse/pubchem.py uses it, and UniProt REST pages can.

Text
    decode_utf8(data, offset=0) -> str
        Strict UTF-8. A byte that is not UTF-8 raises Rejected("not_utf8") whose detail
        names the byte and its offset in the file (`offset`: where `data` starts in the
        file). Nothing is ever decoded with replacement characters.
    normalize_newlines(data) -> bytes
        CRLF and a lone CR turned into LF (for sniffing a file's first bytes).

Streams
    read_until_cut(stream) -> (bytes, Exception | None)
        All the bytes a stream gives, and the error it ended with when its data stops
        early (a cut gzip stream: EOFError, zlib.error; see TRUNCATION_ERRORS), so that
        what was read before the cut can still be used.

Lines (line formats; streaming, one chunk in memory at a time)
    iter_lines(stream) -> Iterator[Line]
        The lines of a binary stream: LF, CRLF and a lone CR each end a line, and a
        UTF-8 byte order mark before the first line is dropped. Line(number, offset,
        data): the 1-based line number, the file offset of the line's first byte, and
        its bytes without the line break.
    decode_line(line) -> str
        The line's text; Rejected("not_utf8") for a byte that is not UTF-8 and
        Rejected("parse_error") for a control character (tab aside), the detail naming
        the line number and the byte offset.
    decode_lines(lines) -> list[str]
        The texts of the lines of one record (an SDF record), decoded in one go, with
        the Rejected of `decode_line` for the first line that fails.

JSON (whole documents in memory)
    iter_json_array(data, path) -> Iterator[JsonElement | Damage]
        The elements of the array found under `path`, the keys that lead to it from the
        root object: ("Annotations", "Annotation") for a PUG-View annotation page,
        ("results",) for a UniProt REST page. Each element comes as JsonElement(index,
        start, end, value, damage): its position in the array, its byte range, its value,
        and `damage`, the first Damage inside the value (None for a clean element; then
        `value` is exactly what `json.loads` gives). A document that decodes whole is
        decoded once (start and end are then None: no element was located); any other
        is walked and each element decoded on its own.
        A Damage outside any element comes on its own: a member of an enclosing object
        whose key cannot be read, bytes after the document, or a last, `lost` Damage
        where the structure cannot be followed to the end of the file (then nothing
        after it was read). A `path` that leads nowhere yields nothing; one that leads
        to something other than an array yields one parse_error Damage.
    load_json(data) -> JsonDocument(value, damages)
        The whole document, a Damage standing in for each smallest value that does not
        decode (or for the document, when it holds no value at all), so that everything
        around it still decodes. `damages` lists every Damage found, in file order,
        including those not in `value` (bytes after the document, a `lost` remainder
        after a container that closed); `JsonDocument.lost` is the lost Damage or None.
        A member whose key cannot be read is kept under its Damage as the key. A whole,
        clean document is decoded once, with no walking.
    damages_in(value) -> Iterator[Damage], find_damage(value) -> Damage | None
        The Damages inside a value that `load_json` or `iter_json_array` returned.

Damage(reason, start, end, size, message)
    `reason`: parse_error (syntax), not_utf8, truncated_input (the file ends inside the
    structure) or unreadable_remainder (the structure breaks where it cannot be resumed,
    e.g. a bracket closed by the wrong bracket); `.detail` is "bytes A-B of N: message";
    `.lost` is true for the last two: the bytes from `start` to the end of the file were
    not read, and records in them may be missing.

How a JSON document is followed without parsing it: a value extends to the first `,`,
`]` or `}` outside the strings and brackets it opens, so stray bytes before that
separator belong to (and damage) that value and no other; brackets must close in order.
A string ends at its closing quote or at a raw line break, which a JSON string can never
hold: in pretty-printed JSON a stray quote then costs the value it is in, not the rest of
the file. A value that does not decode is looked into when it is one object or array, so
that its readable members still decode.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from etl.quality.rejects import Rejected

BOM = b"\xef\xbb\xbf"
LOST_REASONS = ("truncated_input", "unreadable_remainder")
# Errors a decompressing stream raises when its data stops before the end marker.
TRUNCATION_ERRORS = (EOFError, zlib.error)


@dataclass(frozen=True)
class Damage:
    """A stretch of a document that could not be read (see the module docstring)."""

    reason: str
    start: int
    end: int
    size: int
    message: str

    def __post_init__(self):
        Rejected(self.reason)  # an unknown reason code fails here, where the bug is

    @property
    def detail(self) -> str:
        return f"bytes {self.start}-{self.end} of {self.size}: {self.message}"

    @property
    def lost(self) -> bool:
        return self.reason in LOST_REASONS


# ---------------------------------------------------------------- streams, text and lines


def _read_some(stream: BinaryIO, size: int) -> bytes:
    # read1 makes at most one read of the stream below: a gzip stream that fails then
    # loses nothing it had decompressed before (a buffered read(size) would).
    return stream.read1(size) if hasattr(stream, "read1") else stream.read(size)


def read_until_cut(stream: BinaryIO, chunk_size: int = 1 << 20) -> tuple[bytes, Exception | None]:
    chunks = []
    try:
        while chunk := _read_some(stream, chunk_size):
            chunks.append(chunk)
    except TRUNCATION_ERRORS as error:
        return b"".join(chunks), error
    return b"".join(chunks), None


def decode_utf8(data: bytes, offset: int = 0) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        position = offset + error.start
        raise Rejected("not_utf8", f"byte 0x{data[error.start]:02x} at offset {position} is not UTF-8") from None


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def normalize_newlines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


class Line(NamedTuple):
    number: int
    offset: int
    data: bytes


def iter_lines(stream: BinaryIO, chunk_size: int = 1 << 16, lines_before: int = 0,
               first_offset: int = 0) -> Iterator[Line]:
    """The lines of a stream, numbered from 1 and placed by byte offset; of a part of a file that
    starts at a line's start, `lines_before` and `first_offset` say what precedes it."""
    number, offset = lines_before, first_offset
    pending = _read_some(stream, chunk_size)
    if offset == 0 and pending.startswith(BOM):
        pending, offset = pending[len(BOM):], len(BOM)
    while pending:
        # bytes.splitlines ends a line at LF, CRLF and CR, and only there. A last piece that
        # no LF ends may go on in the next chunk (a CR may be the first half of a CRLF).
        pieces = pending.splitlines(keepends=True)
        last = b"" if pieces[-1].endswith(b"\n") else pieces.pop()
        # The complete lines go out before the next read: a stream cut short raises there.
        for piece in pieces:
            number += 1
            yield Line(number, offset, piece.rstrip(b"\r\n"))
            offset += len(piece)
        chunk = _read_some(stream, chunk_size)
        if not chunk and last:
            yield Line(number + 1, offset, last.rstrip(b"\r\n"))
        pending = last + chunk if chunk else b""


def decode_lines(lines: list[Line]) -> list[str]:
    """The texts of the lines of one record, decoded in one go; Rejected as `decode_line`
    gives it for the first line that fails."""
    try:
        text = b"\n".join(line.data for line in lines).decode("utf-8")
        if not _CONTROL.search(text):
            return text.split("\n")
    except UnicodeDecodeError:
        pass
    return [decode_line(line) for line in lines]  # raises, naming the line at fault


def decode_line(line: Line) -> str:
    try:
        text = decode_utf8(line.data, line.offset)
    except Rejected as rejected:
        raise Rejected(rejected.reason, f"line {line.number}: {rejected.detail}") from None
    control = _CONTROL.search(text)
    if control:
        position = line.offset + len(text[:control.start()].encode())
        raise Rejected("parse_error", f"line {line.number}: control character "
                                      f"0x{ord(control.group()):02x} at offset {position}")
    return text


# ---------------------------------------------------------------- JSON


@dataclass(frozen=True)
class JsonElement:
    index: int
    start: int | None
    end: int | None
    value: object
    damage: Damage | None


@dataclass(frozen=True)
class JsonDocument:
    value: object
    damages: list[Damage]

    @property
    def lost(self) -> Damage | None:
        return next((damage for damage in self.damages if damage.lost), None)


def iter_json_array(data: bytes, path: tuple[str, ...]) -> Iterator[JsonElement | Damage]:
    return _JsonScanner(data).array_elements(path)


def load_json(data: bytes) -> JsonDocument:
    scanner = _JsonScanner(data)
    value = scanner.document()
    return JsonDocument(value, scanner.damages)


def damages_in(value) -> Iterator[Damage]:
    if isinstance(value, Damage):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from damages_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from damages_in(item)


def find_damage(value) -> Damage | None:
    return next(damages_in(value), None)


_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_STRING_BODY = re.compile(rb'(?:[^"\\\r\n]++|\\[^\r\n])*+')
# Past whole strings and other bytes, to the next bracket (or comma, at the value's own level),
# or to a quote whose string a line break or the end of the data cuts short. Possessive
# quantifiers: a string that does not close must not make the engine backtrack.
_TO_BRACKET = re.compile(rb'(?:[^"\[\]{}]++|"' + _STRING_BODY.pattern + rb'")*+')
_TO_BRACKET_OR_COMMA = re.compile(rb'(?:[^"\[\]{},]++|"' + _STRING_BODY.pattern + rb'")*+')
_CLOSER_OF = {ord("{"): ord("}"), ord("["): ord("]")}
_QUOTE, _COMMA = ord('"'), ord(",")


class _Unfollowable(Exception):
    """The structure cannot be followed past this point (reason: one of LOST_REASONS)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


class _Child(NamedTuple):
    """One member or element of a container: its key (str, or index in an array) and the
    byte range of its value: `end` is the separator after it, None where the extent could
    not be found (`problem` says why); `closed_at` is the index after the value's own
    closing bracket or quote when the value is an object, an array or a string."""

    key: object
    start: int
    end: int | None
    closed_at: int | None
    problem: _Unfollowable | None


class _JsonScanner:
    """Walks one JSON document in bytes; `damages` collects what could not be read."""

    def __init__(self, data: bytes):
        self.data, self.size = data, len(data)
        self.damages: list[Damage] = []
        self.lost: Damage | None = None

    def damage(self, reason: str, start: int, end: int, message: str) -> Damage:
        damage = Damage(reason, start, end, self.size, message)
        self.damages.append(damage)
        if damage.lost:
            self.lost = damage
        return damage

    # -- following the structure

    def skip_whitespace(self, position: int) -> int:
        return _WHITESPACE.match(self.data, position).end()

    def string_end(self, quote: int) -> int:
        """The index after the string that opens at `quote` (a raw line break ends it too)."""
        end = _STRING_BODY.match(self.data, quote + 1).end()
        stop = self.data[end:end + 1]
        if stop == b'"':
            return end + 1
        if stop in (b"\r", b"\n"):
            return end
        if stop == b"\\" and end + 1 < self.size:  # a backslash before a line break
            return end + 1
        raise _Unfollowable("truncated_input", f"the file ends inside the string that opens at byte {quote}")

    def child_at(self, key, start: int) -> _Child:
        """The extent of the value at `start`, up to the separator that ends it."""
        data, stack, position, closed_at = self.data, [], start, None
        while True:
            at = (_TO_BRACKET if stack else _TO_BRACKET_OR_COMMA).match(data, position).end()
            if at == self.size:
                if stack:
                    problem = _Unfollowable("truncated_input", f"the file ends inside the value at byte {start}")
                    return _Child(key, start, None, closed_at, problem)
                return _Child(key, start, self.size, closed_at, None)
            byte = data[at]
            if byte == _QUOTE:
                try:
                    position = self.string_end(at)
                except _Unfollowable as problem:
                    return _Child(key, start, None, closed_at, problem)
                if at == start:
                    closed_at = position  # the string at `start` ends here
                continue
            position = at + 1
            if byte in _CLOSER_OF:
                stack.append(_CLOSER_OF[byte])
            elif not stack:  # a `,` `]` or `}` of the enclosing container
                return _Child(key, start, at, closed_at, None)
            elif byte != stack.pop():
                problem = _Unfollowable("unreadable_remainder",
                                        f"{chr(byte)!r} at byte {at} closes a bracket of another kind")
                return _Child(key, start, None, closed_at, problem)
            elif not stack and closed_at is None and data[start] in _CLOSER_OF:
                closed_at = position  # the object or array at `start` ends here

    def member_key(self, start: int) -> tuple[str | None, int]:
        """(key, where the value starts) of the member at `start`; key None when it does
        not start with `"key":`."""
        data = self.data
        if data[start:start + 1] != b'"':
            return None, start
        try:
            key_end = self.string_end(start)
            key = json.loads(decode_utf8(data[start:key_end], start))
        except (_Unfollowable, Rejected, ValueError):
            return None, start
        colon = self.skip_whitespace(key_end)
        if data[colon:colon + 1] != b":":
            return None, start
        return key, self.skip_whitespace(colon + 1)

    def children(self, open_at: int) -> Iterator[_Child | Damage]:
        """The members or elements of the container that opens at `open_at`, in order; a
        Damage for a member whose key cannot be read; a last, lost Damage when the
        container never closes or a bracket of another kind closes it. Stops after a child
        whose extent is unknown, and once anything read from a child is lost."""
        data, is_object = self.data, _opens_object(self.data, open_at)
        closer, kind = _CLOSER_OF[data[open_at]], "object" if is_object else "array"
        position = self.skip_whitespace(open_at + 1)
        if data[position:position + 1] == bytes([closer]):
            return
        index = 0
        while position < self.size:
            key, value_start = self.member_key(position) if is_object else (index, position)
            child = self.child_at(key, value_start)
            if child.end == self.size and (key is None or child.closed_at is None):
                # No separator follows, nor a closing bracket or quote: the data stops inside it.
                yield self.damage("truncated_input", position, self.size,
                                  f"the file ends inside the {kind} that opens at byte {open_at}")
                return
            if child.end is None and key is None:
                yield self.damage(child.problem.reason, position, self.size, child.problem.message)
                return
            if key is None:
                yield self.broken(position, child.end, "a member without a readable key")
            else:
                yield child
                if child.end is None or self.lost:
                    return
            separator = child.end
            if separator == self.size:
                break
            if data[separator] == closer:
                return
            if data[separator] != _COMMA:
                yield self.damage("unreadable_remainder", separator, self.size,
                                  f"{chr(data[separator])!r} at byte {separator} closes the {kind} "
                                  f"that opens at byte {open_at}")
                return
            position, index = self.skip_whitespace(separator + 1), index + 1
        yield self.damage("truncated_input", self.size, self.size,
                          f"the file ends before the {kind} that opens at byte {open_at} closes")

    # -- decoding

    def decoded(self, start: int, end: int):
        """(value, None) for the JSON text data[start:end], or (None, (reason, message))."""
        try:
            text = decode_utf8(self.data[start:end], start)
        except Rejected as rejected:
            return None, ("not_utf8", rejected.detail)
        try:
            return json.loads(text), None
        except json.JSONDecodeError as error:
            position = start + len(text[:error.pos].encode())
            return None, ("parse_error", f"{error.msg} at byte {position}")

    def broken(self, start: int, end: int, message: str) -> Damage:
        """A Damage for bytes that do not form a value: not_utf8 if they are not UTF-8."""
        try:
            decode_utf8(self.data[start:end], start)
        except Rejected as rejected:
            return self.damage("not_utf8", start, end, rejected.detail)
        return self.damage("parse_error", start, end, message)

    def value(self, child: _Child):
        """The child's value, Damage placeholders in place of what does not decode."""
        start, end = child.start, child.end
        opens_container = self.data[start] in _CLOSER_OF
        if end is not None:
            value, problem = self.decoded(start, end)
            if problem is None:
                return value
            if not opens_container or self.skip_whitespace(child.closed_at) < end:  # or bytes after it
                reason, message = problem
                return self.damage(reason, start, end, message)
        elif not opens_container:
            return self.damage(child.problem.reason, start, self.size, child.problem.message)
        value = self.container(start)
        if end is None and self.lost is None:
            # The container closed: what follows it, before its separator, cannot be followed.
            self.damage(child.problem.reason, start, self.size, child.problem.message)
        return value

    def container(self, open_at: int):
        is_object = _opens_object(self.data, open_at)
        result: dict | list = {} if is_object else []
        for child in self.children(open_at):
            item = child if isinstance(child, Damage) else self.value(child)
            if is_object:
                result[child if isinstance(child, Damage) else child.key] = item
            else:
                result.append(item)
            if self.lost:
                break
        return result

    # -- whole documents and arrays

    def root(self) -> _Child | None:
        """The document's value, its extent ending at its closing bracket; None for no value."""
        start = self.skip_whitespace(len(BOM) if self.data.startswith(BOM) else 0)
        if start == self.size:
            self.damage("parse_error", 0, self.size, "no JSON value")
            return None
        child = self.child_at(None, start)
        return child if child.closed_at is None else child._replace(end=child.closed_at, problem=None)

    def whole(self):
        """(the document, None) when it decodes whole, else (None, the problem)."""
        return self.decoded(len(BOM) if self.data.startswith(BOM) else 0, self.size)

    def after_root(self, root: _Child) -> Damage | None:
        """A Damage for bytes after the document's closing bracket, if there are any."""
        rest = self.size if root.closed_at is None else self.skip_whitespace(root.closed_at)
        return self.broken(rest, self.size, "bytes after the end of the document") if rest < self.size else None

    def document(self):
        # A whole, clean document takes one decoding and no walking.
        value, problem = self.whole()
        if problem is None:
            return value
        root = self.root()
        if root is None:
            return self.damages[-1]  # no JSON value at all
        value = self.value(root)
        self.after_root(root)
        return value

    def array_elements(self, path: tuple[str, ...]) -> Iterator[JsonElement | Damage]:
        document, problem = self.whole()
        if problem is None:
            yield from self.clean_elements(document, path)
            return
        root = self.root()
        if root is None:
            yield from self.damages
            return
        open_levels = []  # the path's objects, read on to their ends once the array is done
        position = root.start
        for depth, key in enumerate(path):
            if not _opens_object(self.data, position):
                yield self.not_a(position, path[:depth], "an object")
                return
            members = self.children(position)
            open_levels.append(members)
            position = yield from self.member_named(members, key)
            if position is None:
                return
        if self.data[position:position + 1] != b"[":
            yield self.not_a(position, path, "an array")
            return
        yield from self.elements(position)
        for members in reversed(open_levels):
            if self.lost:
                return
            yield from self.member_named(members, None)
        trailing = self.after_root(root)
        if trailing is not None:
            yield trailing

    def clean_elements(self, document, path: tuple[str, ...]) -> Iterator[JsonElement | Damage]:
        """The array's elements from a document that decoded whole: none is damaged, and
        none was located (start and end are None)."""
        value = document
        for depth, key in enumerate(path):
            if not isinstance(value, dict):
                yield self.damage("parse_error", 0, self.size, f"{_dotted(path[:depth])} is not an object")
                return
            if key not in value:
                return
            value = value[key]
        if not isinstance(value, list):
            yield self.damage("parse_error", 0, self.size, f"{_dotted(path)} is not an array")
            return
        for index, element in enumerate(value):
            yield JsonElement(index, None, None, element, None)

    def member_named(self, members: Iterator[_Child | Damage], key: str | None):
        """Read `members` up to the one named `key` (None: to their end) and return where
        its value starts (None when there is none); yield the damage met on the way."""
        for member in members:
            if isinstance(member, Damage):
                yield member
            elif member.key == key:
                return member.start
            elif member.end is None:
                yield self.damage(member.problem.reason, member.start, self.size, member.problem.message)
        return None

    def elements(self, open_at: int) -> Iterator[JsonElement | Damage]:
        for child in self.children(open_at):
            if isinstance(child, Damage):
                yield child
            elif child.end is None:
                # An element whose end cannot be found is no record: it and the rest are lost.
                lost = self.damage(child.problem.reason, child.start, self.size, child.problem.message)
                yield JsonElement(child.key, child.start, self.size, None, lost)
            else:
                value = self.value(child)
                yield JsonElement(child.key, child.start, child.end, value, find_damage(value))

    def not_a(self, position: int, path: tuple[str, ...], expected: str) -> Damage:
        child = self.child_at(None, position)
        return self.damage("parse_error", position, child.end or self.size, f"{_dotted(path)} is not {expected}")


def _opens_object(data: bytes, position: int) -> bool:
    return data[position:position + 1] == b"{"


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "the document"
