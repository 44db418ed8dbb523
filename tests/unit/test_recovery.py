"""etl.parse.recovery: UTF-8 with offsets, line splitting, and JSON arrays read element by element."""

from __future__ import annotations

import gzip
import io
import json
import re
import string

import pytest
from hypothesis import given, settings, strategies as st

from etl.parse.recovery import (Damage, JsonElement, Line, damages_in, decode_line, decode_utf8, find_damage,
                                iter_json_array, iter_lines, load_json, normalize_newlines, read_until_cut)
from etl.quality.rejects import Rejected

PROPERTIES = settings(max_examples=150, deadline=None)


def items(data: bytes, path: tuple[str, ...] = ("results",)) -> list:
    return list(iter_json_array(data, path))


def values(found: list) -> list:
    return [item.value for item in found if isinstance(item, JsonElement)]


def damages(found: list) -> list[tuple[str, int, int]]:
    """(reason, start, end) of every damage: of elements, and outside them."""
    out = []
    for item in found:
        damage = item if isinstance(item, Damage) else item.damage
        if damage is not None:
            out.append((damage.reason, damage.start, damage.end))
    return out


# ------------------------------------------------------------------ text and lines


def test_decode_utf8_names_the_bad_byte_and_its_offset_in_the_file():
    assert decode_utf8("café".encode(), 10) == "café"
    with pytest.raises(Rejected) as raised:
        decode_utf8(b"caf\xe9 au lait", offset=100)
    assert (raised.value.reason, raised.value.detail) == ("not_utf8", "byte 0xe9 at offset 103 is not UTF-8")


def test_decode_utf8_rejects_an_encoded_surrogate():
    with pytest.raises(Rejected) as raised:
        decode_utf8(b"ab\xed\xa0\x80")
    assert raised.value.detail == "byte 0xed at offset 2 is not UTF-8"


def test_normalize_newlines():
    assert normalize_newlines(b"a\r\nb\rc\nd\r") == b"a\nb\nc\nd\n"


def lines_of(data: bytes, chunk_size: int = 1 << 16) -> list[Line]:
    return list(iter_lines(io.BytesIO(data), chunk_size))


def test_iter_lines_splits_on_lf_crlf_and_cr_alike():
    assert lines_of(b"a\nbc\r\nd\re") == [Line(1, 0, b"a"), Line(2, 2, b"bc"), Line(3, 6, b"d"), Line(4, 8, b"e")]
    assert lines_of(b"a\r\n\r\nb\r") == [Line(1, 0, b"a"), Line(2, 3, b""), Line(3, 5, b"b")]
    assert lines_of(b"") == []


def test_iter_lines_keeps_a_crlf_that_a_chunk_boundary_splits():
    assert lines_of(b"ab\r\ncd\r\n", chunk_size=3) == [Line(1, 0, b"ab"), Line(2, 4, b"cd")]


class CutAfter(io.BytesIO):
    """A stream that raises EOFError once its bytes are read, as a cut gzip stream does."""

    def read1(self, size: int = -1) -> bytes:
        chunk = super().read1(size)
        if not chunk:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        return chunk


def test_iter_lines_gives_every_complete_line_before_a_cut_stream_fails():
    lines = iter_lines(CutAfter(b"a\nb\r\nc"), chunk_size=1 << 16)
    assert [next(lines), next(lines)] == [Line(1, 0, b"a"), Line(2, 2, b"b")]
    with pytest.raises(EOFError):
        next(lines)  # "c" may be cut short: it is never given


def test_iter_lines_drops_a_byte_order_mark():
    assert lines_of(b"\xef\xbb\xbf241\tBenzene\n") == [Line(1, 3, b"241\tBenzene")]


@given(st.lists(st.tuples(st.binary(max_size=8).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                          st.sampled_from([b"\n", b"\r\n", b"\r"])), max_size=20),
       st.integers(min_value=1, max_value=9))
@PROPERTIES
def test_iter_lines_gives_every_line_with_its_offset_whatever_the_chunks(pieces, chunk_size):
    data = b"".join(text + newline for text, newline in pieces)
    expected = re.split(rb"\r\n|\r|\n", data)[:-1]  # a CR then an LF is one CRLF, whatever made them
    lines = lines_of(data, chunk_size)
    assert [line.data for line in lines] == expected
    assert all(data[line.offset:line.offset + len(line.data)] == line.data for line in lines)
    assert [line.number for line in lines] == list(range(1, len(expected) + 1))


def test_decode_line_says_which_line_and_offset():
    with pytest.raises(Rejected) as raised:
        decode_line(Line(7, 1000, b"241\tBenz\xffene"))
    assert (raised.value.reason, raised.value.detail) == ("not_utf8", "line 7: byte 0xff at offset 1008 is not UTF-8")
    with pytest.raises(Rejected) as raised:
        decode_line(Line(2, 50, "é\x1b[0m".encode()))
    assert (raised.value.reason, raised.value.detail) == ("parse_error", "line 2: control character 0x1b at offset 52")
    assert decode_line(Line(1, 0, b"241\tBenzene")) == "241\tBenzene"


def test_read_until_cut_keeps_what_a_cut_gzip_stream_gave():
    text = b"".join(b"%d\tline\n" % number for number in range(20000))
    cut = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(text)[:-20]))
    data, error = read_until_cut(cut, chunk_size=1000)
    assert isinstance(error, EOFError) and text.startswith(data) and len(data) > len(text) - 1000
    assert read_until_cut(io.BytesIO(text)) == (text, None)


# ------------------------------------------------------------------ JSON arrays


def page(*elements: str, indent: str = "\n  ") -> bytes:
    return ('{"results": [' + ",".join(indent + element for element in elements) + "\n], \"next\": null}").encode()


def test_clean_document_gives_what_json_loads_gives():
    data = page('{"id": 1, "text": "a"}', '{"id": 2, "text": "b"}')
    found = items(data)
    assert values(found) == json.loads(data)["results"]
    assert [(item.index, item.damage) for item in found] == [(0, None), (1, None)]


def test_syntax_error_rejects_its_element_and_reading_resumes():
    data = page('{"id": 1}', '{"id": 2 "text": "b"}', '{"id": 3}')
    found = items(data)
    assert values(found)[0] == {"id": 1} and values(found)[2] == {"id": 3}
    element = found[1]
    assert (element.index, element.start, element.end) == (1, data.index(b'{"id": 2'), data.index(b',\n  {"id": 3'))
    assert element.damage.reason == "parse_error"
    text_at = data.index(b'"text"')
    assert element.value == {"id": element.damage}  # the bad member's value, up to the next comma
    assert element.damage.message == f"Extra data at byte {text_at}"


def test_non_utf8_byte_damages_the_smallest_value_that_holds_it():
    data = b'{"results": [{"id": 1}, {"id": 2, "text": "caf\xe9", "more": [1, 2]}, {"id": 3}]}'
    offset = data.index(b"\xe9")
    found = items(data)
    element = found[1]
    assert element.value["id"] == 2 and element.value["more"] == [1, 2]  # its readable members still decode
    assert element.damage == element.value["text"]
    assert (element.damage.reason, element.damage.message) == ("not_utf8", f"byte 0xe9 at offset {offset} is not UTF-8")
    assert [value for value in values(found) if value is not element.value] == [{"id": 1}, {"id": 3}]


def test_bytes_after_a_value_damage_that_value_only():
    data = page('{"id": 1} junk', '{"id": 2}')
    found = items(data)
    assert found[0].damage.reason == "parse_error" and found[1].value == {"id": 2}


def test_stray_quote_in_pretty_printed_json_costs_one_element():
    data = page('{\n   "text": "a "quoted" word",\n   "id": 1\n  }', '{\n   "id": 2\n  }')
    found = items(data)
    assert found[0].damage.reason == "parse_error" and found[1].value == {"id": 2}


def test_bracket_closed_by_another_kind_makes_the_rest_unreadable():
    data = page('{"id": 1}', '{"id": [2}', '{"id": 3}')
    found = items(data)
    start = data.index(b'{"id": [2')
    assert found[0].value == {"id": 1}
    assert len(found) == 2 and found[1].damage.reason == "unreadable_remainder"
    assert (found[1].start, found[1].end) == (start, len(data))
    assert found[1].damage.detail == f"bytes {start}-{len(data)} of {len(data)}: '}}' at byte {start + 9} closes a " \
                                     "bracket of another kind"


def test_file_cut_inside_an_element_ends_with_truncated_input():
    data = page('{"id": 1}', '{"id": 2, "text": "abc"}')
    cut = data[:data.index(b"abc") + 2]
    found = items(cut)
    assert found[0].value == {"id": 1}
    damage = found[1].damage
    assert (damage.reason, damage.end, damage.size) == ("truncated_input", len(cut), len(cut))


def test_array_that_never_closes_ends_with_truncated_input():
    data = page('{"id": 1}', '{"id": 2}')
    cut = data[:data.index(b"\n]")]
    found = items(cut)
    assert values(found) == [{"id": 1}, {"id": 2}]
    assert damages(found) == [("truncated_input", len(cut), len(cut))]
    assert found[-1].message.startswith("the file ends before the array that opens at byte 12 closes")


def test_damage_after_the_array_is_still_reported():
    data = b'{"results": [{"id": 1}], "next": "\xff"}  trailing'
    found = items(data)
    assert values(found) == [{"id": 1}]
    assert damages(found) == [("parse_error", data.index(b"trailing"), len(data))]
    assert damages(items(b'{"results": [1], "next": [}')) == [("unreadable_remainder", 25, 27)]


def test_unreadable_key_on_the_way_to_the_array_is_reported():
    data = b'{"pa\xffge": 1, "results": [1, 2]}'
    found = items(data)
    assert values(found) == [1, 2] and damages(found) == [("not_utf8", 1, 11)]


@pytest.mark.parametrize("data, expected", [
    (b'{"other": [1]}', []),
    (b'{"results": null}', [("parse_error", 0, 17)]),
    (b'{"results": null, "x": 1 2}', [("parse_error", 12, 16)]),
    (b'[1, 2]', [("parse_error", 0, 6)]),
    (b'', [("parse_error", 0, 0)]),
])
def test_a_path_that_leads_nowhere_or_to_no_array(data, expected):
    found = items(data)
    assert values(found) == [] and damages(found) == expected


def test_path_of_several_keys_and_a_byte_order_mark():
    data = b'\xef\xbb\xbf{"Annotations": {"Page": 1, "Annotation": [{"a": 1} {"b": 2}, {"c": 3}]}}'
    found = items(data, ("Annotations", "Annotation"))
    assert found[0].damage.reason == "parse_error" and found[1].value == {"c": 3}
    assert values(items(b'\xef\xbb\xbf{"results": [7]}')) == [7]


def test_load_json_puts_a_damage_in_place_of_what_does_not_decode():
    data = b'{"a": [1, {"x": "caf\xe9", "y": [2]}], "b": 1 2, "c": "ok"}'
    document = load_json(data)
    assert document.value["a"][1]["y"] == [2] and document.value["c"] == "ok"
    assert [d.reason for d in document.damages] == ["not_utf8", "parse_error"]
    assert list(damages_in(document.value)) == document.damages and document.lost is None
    assert find_damage(document.value["a"]) == document.damages[0]


def test_load_json_of_a_cut_document_keeps_what_came_before():
    document = load_json(b'{"a": {"x": 1, "y": [1, 23')
    # 23 is followed by no separator: perhaps it was 234, so it is part of what was cut.
    assert document.value == {"a": {"x": 1, "y": [1, document.lost]}}
    assert (document.lost.reason, document.lost.start, document.lost.end) == ("truncated_input", 24, 26)


def test_load_json_keeps_a_member_without_a_readable_key_under_its_damage():
    document = load_json(b'{"a": 1, x: 2, "b": 3}')
    (damage,) = document.damages
    assert document.value == {"a": 1, damage: damage, "b": 3}
    assert (damage.reason, damage.start, damage.end) == ("parse_error", 9, 13)


def test_load_json_of_nothing_is_a_damage():
    document = load_json(b"  \n")
    assert isinstance(document.value, Damage) and document.value.message == "no JSON value"


def test_load_json_of_a_clean_document_is_json_loads():
    data = json.dumps({"a": [1, {"b": "é"}], "c": None}, indent=2).encode()
    assert load_json(data).value == json.loads(data) and load_json(data).damages == []


def test_damage_reason_must_be_a_known_code():
    with pytest.raises(ValueError):
        Damage("mystery", 0, 1, 1, "x")
    assert Damage("not_utf8", 3, 9, 20, "m").detail == "bytes 3-9 of 20: m"


# ------------------------------------------------------------------ properties: damage stays where it is


WORDS = st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | WORDS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(WORDS, children, max_size=3),
    max_leaves=8)
# Each element carries a unique text marker, to find where to damage it.
ELEMENTS = st.lists(JSON_VALUES, min_size=1, max_size=6).map(
    lambda extras: [{"text": f"element-{index}-text", "extra": extra} for index, extra in enumerate(extras)])
LAYOUTS = st.sampled_from([None, 1, 2])


def dumped(elements: list, indent) -> bytes:
    return json.dumps({"page": 1, "results": elements, "next": None}, indent=indent).encode()


def element_text_offset(data: bytes, index: int) -> int:
    return data.index(f"element-{index}-text".encode())


@given(ELEMENTS, LAYOUTS, st.data())
@PROPERTIES
def test_property_a_non_utf8_byte_rejects_exactly_its_element(elements, indent, draw):
    data = dumped(elements, indent)
    victim = draw.draw(st.integers(0, len(elements) - 1))
    offset = element_text_offset(data, victim) + draw.draw(st.integers(0, 5))
    found = items(data[:offset] + b"\xff" + data[offset + 1:])
    assert [item.index for item in found] == list(range(len(elements)))
    assert [item.value for item in found if item.index != victim] == [e for i, e in enumerate(elements) if i != victim]
    assert found[victim].damage.reason == "not_utf8"
    assert f"at offset {offset} is not UTF-8" in found[victim].damage.message


@given(ELEMENTS, LAYOUTS, st.data(), st.text(alphabet="\x00\x07#@%!;:abc \t", min_size=1, max_size=6))
@PROPERTIES
def test_property_garbage_inside_the_array_damages_one_element(elements, indent, draw, garbage):
    data = dumped(elements, indent)
    opens, closes = data.index(b"["), data.rindex(b"]")  # the results array: "next" is null, no bracket
    position = draw.draw(st.integers(opens + 1, closes))
    damaged = data[:position] + garbage.encode() + data[position:]
    found = items(damaged)
    if damaged == data or json_loads_or_none(damaged) is not None:
        return  # the garbage happened to be valid where it went (whitespace in whitespace)
    assert [item.index for item in found if isinstance(item, JsonElement)] == list(range(len(elements)))
    hit = [item for item in found if item.damage is not None]
    assert len(hit) == 1 and hit[0].damage.reason == "parse_error"
    assert all(item.value == elements[item.index] for item in found if item.damage is None)


def json_loads_or_none(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return None


@given(ELEMENTS, LAYOUTS, st.data())
@PROPERTIES
def test_property_a_cut_file_keeps_every_element_before_the_cut(elements, indent, draw):
    data = dumped(elements, indent)
    cut = draw.draw(st.integers(data.index(b"["), len(data.rstrip()) - 1))
    found = items(data[:cut])
    whole = [item for item in found if isinstance(item, JsonElement) and item.damage is None]
    assert [item.value for item in whole] == elements[:len(whole)]
    last = found[-1] if isinstance(found[-1], Damage) else found[-1].damage
    assert last.reason == "truncated_input" and last.end == cut
    assert sum(1 for item in found if (item if isinstance(item, Damage) else item.damage) is not None) == 1


@given(JSON_VALUES, LAYOUTS, st.data())
@PROPERTIES
def test_property_load_json_never_raises_and_finds_the_damage(value, indent, draw):
    data = json.dumps({"value": value, "tail": "end"}, indent=indent).encode()
    position = draw.draw(st.integers(0, len(data) - 1))
    damaged = data[:position] + b"\xff" + data[position + 1:]
    document = load_json(damaged)
    assert document.damages and all(re.match(r"bytes \d+-\d+ of \d+: ", d.detail) for d in document.damages)
    assert any(d.start <= position < max(d.end, d.start + 1) or d.lost for d in document.damages)
