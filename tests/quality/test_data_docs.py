"""The Data Docs of a release, opened in a real headless browser (Debian `chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from etl.quality.docs import write_quality
from etl.quality.validate import validate_release
from tests.quality.conftest import copy_release, rewrite_table

pytestmark = [pytest.mark.spark, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None,
                                 reason="needs Debian chromium (make system-deps installs it)")]

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage"]


def rendered_text(page, tmp_path) -> str:
    """The page's text after the browser ran it (`--dump-dom`), scripts and styles left out."""
    dom = subprocess.run([*CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def screenshot(page, path, tmp_path) -> None:
    subprocess.run([*CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
                    f"--screenshot={path}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert path.stat().st_size > 0


def test_built_release_docs_show_each_suite_passing(uniprotqa_release, tmp_path):
    index = uniprotqa_release / "quality/docs/index.html"
    text = rendered_text(index, tmp_path)
    for suite in ("uniprotqa_gold", "uniprotqa_rejects"):
        assert re.search(rf"{suite} \w+ Succeeded", text), text[:2000]
    screenshot(index, tmp_path / "uniprotqa-data-docs.png", tmp_path)
    page = next((uniprotqa_release / "quality/docs/validations/uniprotqa_gold").rglob("*.html"))
    assert "Status: Succeeded" in rendered_text(page, tmp_path)


def test_failed_validation_docs_show_the_failure(pubchemqa_release, tmp_path):
    """A release with an unparseable SMILES: its data suite shows as failed, the rejects suite as passed,
    and the suite's page names the failed expectation."""
    release = copy_release(pubchemqa_release, tmp_path)

    def break_smiles(frame):
        frame["smiles"] = frame["smiles"].astype(object)
        frame.loc[0, "smiles"] = "C1CC("
        return frame

    rewrite_table(release, "data", break_smiles)
    shutil.rmtree(release / "quality")
    write_quality(validate_release(release), release)
    index = release / "quality/docs/index.html"
    text = rendered_text(index, tmp_path)
    assert re.search(r"pubchemqa_gold \w+ Failed", text) and re.search(r"pubchemqa_rejects \w+ Succeeded", text)
    screenshot(index, tmp_path / "pubchemqa-data-docs-failed.png", tmp_path)
    page = next((release / "quality/docs/validations/pubchemqa_gold").rglob("*.html"))
    page_text = rendered_text(page, tmp_path)
    assert "Status: Failed" in page_text and "smiles parses with RDKit" in page_text
