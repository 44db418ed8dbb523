"""`lifeqa publish` against the loopback Hub (hub_emulator.py), through huggingface_hub's real HTTP client.

HF_ENDPOINT is set by each test, after huggingface_hub was imported: publishing reaches the emulator
only because lifeqa hands the endpoint to HfApi when it runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hub_emulator import GITATTRIBUTES, TOKEN, HubServer
from releases import write_release
from typer.testing import CliRunner

from etl.cli import app

REPO = "lifeqa-org/uniprotqa"


def rows(version: int) -> list[dict]:
    return [{"accession": f"P{i:05d}", "sequence": "MKV" * (i + 1), "field": "function",
             "split": ("train", "validation", "test")[i % 3], "question": "What is the function of this protein?",
             "answer": f"Binds zinc (version {version}, {i})."} for i in range(9)]


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return write_release(tmp_path / "release", "uniprotqa", rows(1), shards=2, version="2026.1")


def publish(release: Path, *extra: str):
    return CliRunner().invoke(app, ["publish", str(release), "--repo", REPO, "--backoff", "0", *extra])


def local_files(release: Path) -> dict[str, bytes]:
    return {p.relative_to(release).as_posix(): p.read_bytes() for p in sorted(release.rglob("*")) if p.is_file()}


def header(hit, name: str) -> str | None:
    return {key.lower(): value for key, value in hit.headers.items()}.get(name)


def commits_posted(hub: HubServer) -> int:
    return len([h for h in hub.hits_for("/commit/") if h.method == "POST"])


def test_publish_makes_one_commit_then_the_tag(hub_env, release, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    result = publish(release, "--tag", "2026.1")
    assert result.exit_code == 0, result.output
    repo = hub_env.repos[REPO]
    head = repo.branches["main"]
    assert hub_env.files(REPO, head) == {".gitattributes": GITATTRIBUTES, **local_files(release)}
    assert repo.tags == {"2026.1": head} and len(repo.commits) == 2  # the Hub's initial commit, then ours
    assert repo.commits[head].title == "uniprotqa 2026.1" and "content_sha256" in repo.commits[head].description
    paths = [(h.method, h.url.split("?")[0]) for h in hub_env.hits]
    for step in [("POST", "/api/repos/create"), ("GET", f"/api/datasets/{REPO}/refs"), ("POST", "/api/validate-yaml"),
                 ("POST", f"/api/datasets/{REPO}/preupload/main"), ("POST", f"/api/datasets/{REPO}/commit/main"),
                 ("POST", f"/api/datasets/{REPO}/tag/{head}")]:
        assert step in paths
    assert paths.index(("POST", f"/api/datasets/{REPO}/tag/{head}")) > paths.index(("POST", f"/api/datasets/{REPO}/commit/main"))
    commit_hit = next(h for h in hub_env.hits if "/commit/" in h.url)
    assert header(commit_hit, "content-type") == "application/x-ndjson"
    # huggingface_hub's own agent-registry GET (at its import-time endpoint) carries no token; the rest carry it ...
    assert all(header(h, "authorization") == f"Bearer {TOKEN}"
               for h in hub_env.hits if "/agent-harnesses" not in h.url)
    assert_token_nowhere(result.output, caplog.text, tmp_path, hub_env)  # ... and went nowhere else
    assert "published" in result.output and head in result.output


def assert_token_nowhere(output: str, logs: str, root: Path, hub: HubServer) -> None:
    assert TOKEN not in output and TOKEN not in logs
    for path in root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    for repo in hub.repos.values():
        for commit in repo.commits.values():
            assert all(TOKEN.encode() not in content for content in commit.files.values())
            assert TOKEN not in commit.title + commit.description


def test_publishing_the_same_content_again_is_a_no_op(hub_env, release):
    assert publish(release, "--tag", "2026.1").exit_code == 0
    assert publish(release).exit_code == 0  # no tag: the branch already holds these files
    again = publish(release, "--tag", "2026.1")
    assert again.exit_code == 0, again.output
    assert "already published" in again.output
    assert commits_posted(hub_env) == 1 and len(hub_env.repos[REPO].commits) == 2


def test_a_tag_on_other_content_is_an_error(hub_env, release, tmp_path):
    assert publish(release, "--tag", "2026.1").exit_code == 0
    head = hub_env.repos[REPO].branches["main"]
    other = write_release(tmp_path / "other", "uniprotqa", rows(2), shards=2, version="2026.1")
    result = publish(other, "--tag", "2026.1")
    assert result.exit_code == 1
    assert f"tag 2026.1 of {REPO} exists on {head[:12]}, whose files differ" in " ".join(result.output.split())
    assert hub_env.repos[REPO].branches["main"] == head and commits_posted(hub_env) == 1


def test_a_new_version_replaces_the_files_and_drops_stale_shards(hub_env, release, tmp_path):
    assert publish(release, "--tag", "2026.1").exit_code == 0
    newer = write_release(tmp_path / "newer", "uniprotqa", rows(2), shards=1, version="2026.2")
    assert publish(newer, "--tag", "2026.2").exit_code == 0
    repo = hub_env.repos[REPO]
    assert hub_env.files(REPO, "main") == {".gitattributes": GITATTRIBUTES, **local_files(newer)}
    assert hub_env.files(REPO, "2026.1") == {".gitattributes": GITATTRIBUTES, **local_files(release)}
    assert repo.commits[repo.tags["2026.2"]].parent == repo.tags["2026.1"]


def test_a_branch_that_moved_is_an_error_not_an_overwrite(hub_env, release):
    assert publish(release).exit_code == 0
    newer = rows(2)
    write_release(release, "uniprotqa", newer, shards=2, version="2026.2")  # same paths, new rows
    theirs = {}

    def someone_else_commits():
        repo = hub_env.repos[REPO]
        theirs["commit"] = repo.add_commit("main", repo.branches["main"], {"notes.md": b"theirs\n"}, "theirs", "").oid

    hub_env.interleave("/preupload/", someone_else_commits)
    result = publish(release, "--tag", "2026.2")
    assert result.exit_code == 1
    assert f"branch main of {REPO} moved from" in result.output and "nothing was overwritten" in result.output
    repo = hub_env.repos[REPO]
    assert repo.branches["main"] == theirs["commit"] and repo.tags == {}


@pytest.mark.parametrize(("fault", "posted"), [("503", 2), ("reset", 1)])
def test_a_transient_fault_mid_commit_is_retried_into_one_commit(hub_env, release, fault, posted):
    """A 503 is answered before the commit is applied: it is sent again. A reset comes after the commit
    landed: the branch, read back, already holds the release, and the commit is not sent twice."""
    hub_env.faults.once("/commit/", fault)
    result = publish(release, "--tag", "2026.1")
    assert result.exit_code == 0, result.output
    repo = hub_env.repos[REPO]
    assert len(repo.commits) == 2 and repo.tags == {"2026.1": repo.branches["main"]}
    assert commits_posted(hub_env) == posted


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_a_commit_that_keeps_failing_leaves_no_tag_and_a_rerun_completes(hub_env, release, fault):
    hub_env.faults.always("/commit/", fault)
    if fault == "reset":  # the first commit lands before its reply is cut; the tag call is what keeps failing
        hub_env.faults.always("/tag/", "503")
    failed = publish(release, "--tag", "2026.1", "--attempts", "2")
    assert failed.exit_code == 1
    assert ("committing to" if fault == "503" else "tagging") in failed.output
    assert hub_env.repos[REPO].tags == {}
    hub_env.faults.clear()
    rerun = publish(release, "--tag", "2026.1")
    assert rerun.exit_code == 0, rerun.output
    repo = hub_env.repos[REPO]
    assert len(repo.commits) == 2 and repo.tags == {"2026.1": repo.branches["main"]}
    assert hub_env.files(REPO, "2026.1") == {".gitattributes": GITATTRIBUTES, **local_files(release)}


def test_a_dry_run_sends_nothing(hub_env, release, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    result = publish(release, "--tag", "2026.1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert hub_env.hits == [] and hub_env.repos == {}
    for path in local_files(release):
        assert path in result.output
    assert "Nothing was sent" in result.output and TOKEN not in result.output


def test_publishing_needs_a_token(hub_env, release, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    result = publish(release)
    assert result.exit_code == 1 and "no Hugging Face token: set HF_TOKEN" in result.output
    assert hub_env.hits == []


def test_another_branch_starts_from_main_in_a_private_repo(hub_env, release):
    result = publish(release, "--revision", "staging", "--private")
    assert result.exit_code == 0, result.output
    repo = hub_env.repos[REPO]
    assert repo.private and set(repo.branches) == {"main", "staging"}
    assert hub_env.files(REPO, "main") == {".gitattributes": GITATTRIBUTES}
    assert repo.commits[repo.branches["staging"]].parent == repo.branches["main"]


def test_a_directory_that_is_no_release_is_refused(hub_env, tmp_path):
    result = publish(tmp_path, "--dry-run")
    assert result.exit_code == 2 and "is not a release directory (no manifest.json)" in result.output


def test_a_release_that_does_not_match_its_manifest_is_refused(hub_env, release):
    shard = next((release / "data").glob("train-*.parquet"))
    shard.write_bytes(shard.read_bytes() + b"\0")
    result = publish(release)
    assert result.exit_code == 1 and "does not match its checksum in manifest.json" in result.output
    assert hub_env.hits == []


@pytest.mark.spark
def test_the_built_release_publishes(hub_env, uniprotqa_release):
    """The real card's YAML passes the Hub's check; every file lands as it is."""
    result = publish(uniprotqa_release, "--tag", "2026.1")
    assert result.exit_code == 0, result.output
    assert hub_env.files(REPO, "2026.1") == {".gitattributes": GITATTRIBUTES, **local_files(uniprotqa_release)}
