"""Sequence normalization rules, on real UniProt sequences."""

from __future__ import annotations

import io

import pytest

from etl.normalize.sequences import SequencePolicy, normalize_sequence, sequence_sha256, strip_layout
from etl.parse.uniprot import FLAT, parse_entries
from etl.quality.rejects import Rejected


@pytest.fixture(scope="module")
def real_entries(shared_data):
    data = (shared_data / "uniprot" / "uniprotkb_sample.dat").read_bytes()
    return [row for _, _, row in parse_entries(io.BytesIO(data), FLAT)]


def reason(fn, *args):
    with pytest.raises(Rejected) as info:
        fn(*args)
    return info.value.reason


def test_every_real_sequence_passes_length_and_crc64(real_entries):
    policy = SequencePolicy()
    for row in real_entries:
        result = normalize_sequence(row["sequence"], row["declared_length"], row["declared_crc64"], policy)
        assert result.length == row["declared_length"]
        assert result.sha256 == sequence_sha256(result.sequence)


def test_layout_is_removed():
    assert strip_layout("mkv  aL\n 10 ggs") == "MKVALGGS"


def test_crc64_mismatch_is_caught(real_entries):
    row = real_entries[0]
    mutated = ("A" if row["sequence"][0] != "A" else "G") + row["sequence"][1:]
    assert reason(normalize_sequence, mutated, row["declared_length"], row["declared_crc64"],
                  SequencePolicy()) == "crc64_mismatch"


def test_length_mismatch_is_caught(real_entries):
    row = real_entries[0]
    assert reason(normalize_sequence, row["sequence"][:-1], row["declared_length"], None,
                  SequencePolicy()) == "length_mismatch"


def test_ambiguous_residues_follow_the_policy():
    assert normalize_sequence("MKBZX", None, None, SequencePolicy()).sequence == "MKBZX"
    assert normalize_sequence("MKBZX", None, None, SequencePolicy(ambiguous="replace")).sequence == "MKXXX"
    assert reason(normalize_sequence, "MKBZX", None, None, SequencePolicy(ambiguous="reject")) == "ambiguous_residue"


def test_rare_residues_are_kept_and_unknown_characters_rejected():
    assert normalize_sequence("MUOK", None, None, SequencePolicy()).sequence == "MUOK"
    assert reason(normalize_sequence, "MK*", None, None, SequencePolicy()) == "invalid_residue"
    assert reason(normalize_sequence, "  ", None, None, SequencePolicy()) == "empty_sequence"


def test_length_bounds():
    assert reason(normalize_sequence, "MKV", None, None, SequencePolicy(min_length=5)) == "sequence_too_short"
    assert reason(normalize_sequence, "MKVLA", None, None, SequencePolicy(max_length=4)) == "sequence_too_long"
