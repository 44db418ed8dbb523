"""`lifeqa pull`: the CLI end to end, including a pull killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fake_services import SourceServer
from typer.testing import CliRunner

from etl.cli import app
from etl.sources.snapshot import MANIFEST_NAME, Snapshot
from etl.sources.uniprot import UniProtQuery, pull_uniprot

REPO = Path(__file__).resolve().parents[2]
FAST = ["--backoff", "0.01", "--timeout", "2", "--contact", "tests@lifeqa.invalid"]


def test_pull_uniprot_prints_a_summary(source_server: SourceServer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["pull", "uniprot", "--snapshot", str(tmp_path / "s"), "--base-url", source_server.url, "--format", "xml", "--page-size", "5", *FAST]
    )
    assert result.exit_code == 0, result.output
    snapshot = Snapshot.open(tmp_path / "s")
    assert snapshot.complete and snapshot.content_sha256() in result.output
    assert "2024_05" in result.output


def test_pull_pubchem_with_bulk_structures(source_server: SourceServer, tmp_path: Path) -> None:
    bulk = f"{source_server.url}/pubchem/Compound/Extras/CID-SMILES.gz"
    args = ["pull", "pubchem", "--snapshot", str(tmp_path / "s"), "--base-url", source_server.url, "--max-pages", "2", "--structures", "bulk", "--bulk-url", bulk, *FAST]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [r["kind"] for r in Snapshot.open(tmp_path / "s").requests] == ["annotations", "annotations", "cid-smiles"]


def test_a_failing_pull_exits_non_zero_with_a_clear_message(source_server: SourceServer, tmp_path: Path) -> None:
    source_server.faults.always("cursor=10", "503")
    args = ["pull", "uniprot", "--snapshot", str(tmp_path / "s"), "--base-url", source_server.url, "--format", "txt", "--page-size", "10", "--attempts", "2", "--verbose", *FAST]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "error:" in result.output and "failed 2 times" in result.output and "resume" in result.output
    assert "retry 1/1" in result.output  # --verbose shows the retries


def test_a_killed_pull_resumes_to_the_same_snapshot(source_server: SourceServer, tmp_path: Path) -> None:
    query = UniProtQuery(format="txt", page_size=10, base_url=source_server.url)
    reference = pull_uniprot(tmp_path / "clean", query, _settings())
    source_server.options.page_delay_s = 0.1
    command = [sys.executable, "-m", "etl.sources.commands", "uniprot", "--snapshot", str(tmp_path / "s"), "--base-url", source_server.url, "--format", "txt", "--page-size", "10", *FAST]
    env = {**os.environ, "NO_PROXY": "127.0.0.1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while _pages_recorded(tmp_path / "s") < 5:
            assert process.poll() is None and time.monotonic() < deadline, "the pull ended before it could be killed"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    killed = Snapshot.open(tmp_path / "s")
    assert not killed.complete and 5 <= len(killed.requests) < len(reference_pages := Snapshot.open(tmp_path / "clean").requests)

    source_server.options.page_delay_s = 0.0
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    resumed = Snapshot.open(tmp_path / "s")
    assert resumed.complete and resumed.content_sha256() == reference.content_sha256
    assert resumed.stable_manifest() == Snapshot.open(tmp_path / "clean").stable_manifest()
    assert len(resumed.requests) == len(reference_pages)


def _pages_recorded(path: Path) -> int:
    try:
        return len(json.loads((path / MANIFEST_NAME).read_bytes())["requests"])
    except FileNotFoundError:
        return 0


def _settings():
    from fake_services import fast_settings

    return fast_settings(read_timeout_s=2.0)
