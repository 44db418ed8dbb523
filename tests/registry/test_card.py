"""The card of a release: statistics per split, field and source, the length plots (stable bytes, outside
the data files), licences, citations and provenance; `datasets.load_dataset` still loads the directory."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize("release_fixture", ["uniprotqa_release", "pubchemqa_release"])
def test_the_card_shows_statistics_plots_licences_citations_and_provenance(release_fixture, request):
    release = request.getfixturevalue(release_fixture)
    manifest = json.loads((release / "manifest.json").read_text())
    card = (release / "README.md").read_text()
    statistics = manifest["statistics"]
    assert sum(r["rows"] for r in statistics["splits"]) == manifest["counts"]["rows"]
    assert sum(r["rows"] for r in statistics["fields"]) == manifest["counts"]["rows"]
    assert sum(r["rows"] for r in statistics["sources"]) == manifest["counts"]["rows"]
    assert sum(r["rows"] for r in statistics["licences"]) == manifest["counts"]["rows"]
    for path in manifest["plots"].values():
        assert (release / path).read_bytes().startswith(b"\x89PNG") and f"]({path})" in card
    for heading in ("## Lengths", "## Citation", "## Provenance", "## Quality", "@article{luo2023biomedgpt"):
        assert heading in card
    assert ("@article{uniprot2025" in card) == (statistics["entity"]["kind"] == "protein")
    assert ("@article{pubchem2025" in card) == (statistics["entity"]["kind"] == "molecule")
    assert manifest["command"] in card and manifest["config_sha256"] in card
    assert manifest["command"].startswith(f"lifeqa build {manifest['dataset']} --out ")


def test_equal_statistics_draw_equal_png_bytes(uniprotqa_release, tmp_path):
    from etl.release.plots import draw_plots

    statistics = json.loads((uniprotqa_release / "manifest.json").read_text())["statistics"]
    for path in draw_plots(statistics, tmp_path).values():
        assert (tmp_path / path).read_bytes() == (uniprotqa_release / path).read_bytes()


def test_datasets_loads_the_release_with_its_plots_beside_the_data(uniprotqa_release):
    import datasets

    manifest = json.loads((uniprotqa_release / "manifest.json").read_text())
    loaded = datasets.load_dataset(str(uniprotqa_release))
    assert {split: loaded[split].num_rows for split in loaded} == \
        {split: manifest["counts"]["rows_by_split"].get(split, 0) for split in loaded}
    assert set(loaded) == {"train", "validation", "test"} and "image" not in loaded["train"].features
    rejects = datasets.load_dataset(str(uniprotqa_release), "rejects")
    assert rejects["rejects"].num_rows == manifest["counts"]["records_rejected"]
