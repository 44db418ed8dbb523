"""The registry of versions: CalVer labels, the index, `latest`, immutability, `lifeqa releases list`,
builds that add a version and pin their splits to `NAME@latest`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl.release.registry import Registry, RegistryError, locate, next_version, parse_reference, version_key

from conftest import build_version, lifeqa


def fake_release(root: Path, name: str, version: str, content: str = "c" * 64) -> dict:
    """A release directory with only its manifest, as the registry reads it."""
    manifest = {"dataset": name, "version": version, "created": "2026-12-01T00:00:00+00:00",
                "content_sha256": content, "config_sha256": "f" * 64, "lifeqa_version": "0.1.0",
                "source_releases": ["2026_05"], "counts": {"rows": 3, "records_released": 2, "records_rejected": 1}}
    directory = root / name / version
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_versions_are_calver_ordered_by_month_then_rebuild():
    assert sorted(["2026.12.1", "2027.01", "2026.12", "2026.02.10", "2026.02.9"], key=version_key) == \
        ["2026.02.9", "2026.02.10", "2026.12", "2026.12.1", "2027.01"]
    for bad in ("2026.13", "2026.1", "v2026.12", "2026.12.0", "1"):
        with pytest.raises(RegistryError, match="CalVer"):
            version_key(bad)


def test_the_next_version_is_this_month_then_its_rebuilds():
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert next_version([], now) == "2026.12"
    assert next_version(["2026.11", "2026.12"], now) == "2026.12.1"
    assert next_version(["2026.12", "2026.12.1", "2026.12.3"], now) == "2026.12.4"


def test_references_name_a_dataset_and_a_version():
    assert parse_reference("uniprotqa@2026.12") == ("uniprotqa", "2026.12")
    assert parse_reference("uniprotqa@latest") == ("uniprotqa", "latest")
    assert parse_reference("out/uniprotqa") is None and parse_reference("a/b@1") is None


def test_the_index_lists_versions_resolves_latest_and_refuses_a_version_twice(tmp_path):
    registry = Registry(tmp_path)
    for version in ("2026.12", "2026.11", "2026.12.1"):
        registry.add(tmp_path / "uniprotqa" / version, fake_release(tmp_path, "uniprotqa", version))
    assert registry.datasets() == ["uniprotqa"]
    assert registry.versions("uniprotqa") == ["2026.11", "2026.12", "2026.12.1"]
    assert registry.resolve("uniprotqa", "latest") == "2026.12.1"
    assert registry.entries("uniprotqa")[0]["source_releases"] == ["2026_05"]
    assert locate("uniprotqa@latest", str(tmp_path)).path == str(tmp_path / "uniprotqa" / "2026.12.1")
    with pytest.raises(RegistryError, match="immutable"):
        registry.check_new("uniprotqa", "2026.12")
    with pytest.raises(RegistryError, match="no uniprotqa@2027.01"):
        registry.resolve("uniprotqa", "2027.01")
    with pytest.raises(RegistryError, match="no version of pubchemqa"):
        registry.resolve("pubchemqa", "latest")


def test_a_registry_is_reached_through_a_filesystem_uri(tmp_path):
    registry = Registry(f"file://{tmp_path}")
    registry.add(tmp_path / "pubchemqa" / "2026.12", fake_release(tmp_path, "pubchemqa", "2026.12"))
    assert Registry(tmp_path).versions("pubchemqa") == ["2026.12"]


def test_releases_list_shows_each_dataset_as_a_table_or_json(tmp_path):
    registry = Registry(tmp_path)
    registry.add(tmp_path / "uniprotqa" / "2026.12", fake_release(tmp_path, "uniprotqa", "2026.12"))
    listed = lifeqa("releases", "list", "--registry", str(tmp_path), "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["uniprotqa"]["latest"] == "2026.12"
    shown = lifeqa("releases", "list", "uniprotqa", "--registry", str(tmp_path))
    assert shown.exit_code == 0 and "2026.12" in shown.output and "2026_05" in shown.output
    missing = lifeqa("releases", "list", "pubchemqa", "--registry", str(tmp_path))
    assert missing.exit_code == 1 and "no version of pubchemqa" in missing.output


def test_a_build_is_refused_before_spark_for_an_existing_version_a_bad_label_or_out(tmp_path):
    registry = Registry(tmp_path)
    registry.add(tmp_path / "uniprotqa" / "2026.12", fake_release(tmp_path, "uniprotqa", "2026.12"))
    exists = build_version(tmp_path, "2026.12")
    assert exists.exit_code == 1 and "already exists" in exists.output and "immutable" in exists.output
    assert build_version(tmp_path, "2026.12.5", "--force").exit_code == 1
    assert "CalVer" in build_version(tmp_path, "12").output
    assert "exclude each other" in build_version(tmp_path, "2026.12.1", "--out", str(tmp_path / "x")).output


@pytest.mark.spark
@pytest.mark.slow
def test_builds_add_versions_that_the_index_records_and_pin_to_the_previous(registry_versions, subset_input):
    registry = Registry(registry_versions)
    entries = registry.entries("uniprotqa")
    assert [e["version"] for e in entries] == ["2026.11", "2026.12"]
    newer = json.loads((registry_versions / "uniprotqa" / "2026.12" / "manifest.json").read_text())
    assert entries[1]["content_sha256"] == newer["content_sha256"]
    assert newer["previous_release"]["version"] == "2026.11"
    assert newer["command"].startswith("lifeqa build uniprotqa --input") and "--registry" in newer["command"]
    card = (registry_versions / "uniprotqa" / "2026.12" / "README.md").read_text()
    assert f"content sha256 {newer['rejects_sha256']}" in card
    again = build_version(registry_versions, "2026.11", "--input", str(subset_input))
    assert again.exit_code == 1 and "already exists" in again.output
    assert registry.versions("uniprotqa") == ["2026.11", "2026.12"]
    assert not list(registry_versions.glob("uniprotqa/.*staging*"))


@pytest.mark.spark
@pytest.mark.slow
def test_rebuilding_a_version_gives_the_same_content_and_card_checksums(registry_versions, shared_data, tmp_path):
    """The superset again, outside the registry: rows, rejects and the card's front matter are the same."""
    version = registry_versions / "uniprotqa" / "2026.12"
    again = lifeqa("build", "uniprotqa", "--out", str(tmp_path / "again"), "--version", "2026.12", "--master", "local[2]",
                   "--input", str(shared_data / "uniprot"), "--previous", str(registry_versions / "uniprotqa" / "2026.11"))
    assert again.exit_code == 0, again.output
    first, second = (json.loads((d / "manifest.json").read_text()) for d in (version, tmp_path / "again"))
    assert first["counts"]["records_rejected"] > 0
    assert (first["content_sha256"], first["rejects_sha256"]) == (second["content_sha256"], second["rejects_sha256"])
    front_matter = [(d / "README.md").read_text().split("\n---\n")[0] for d in (version, tmp_path / "again")]
    assert front_matter[0] == front_matter[1]
    assert [pq.read_table(p).num_rows for p in sorted((version / "rejects").glob("*.parquet"))] == \
        [pq.read_table(p).num_rows for p in sorted((tmp_path / "again" / "rejects").glob("*.parquet"))]
