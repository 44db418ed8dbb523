"""Publishing a release directory to the Hugging Face Hub: one commit on a branch, then a tag.

    plan_publish(release, ...)   local only: the files, checked against the manifest and hashed
    publish(plan, token)         create the repo if needed, commit, tag; through huggingface_hub's HfApi

The commit names the branch head it was planned on as `parent_commit`, so a branch that moved in
between is an error rather than an overwrite. Files on the branch that the release lacks (a shard
of an earlier version) are deleted in the same commit, except `.gitattributes`, which the Hub keeps.
A release whose files are already the branch's is not committed again; a tag is created only once a
commit holds the release, on that commit; a tag that exists already must hold the same files, and
then there is nothing to do. Transient failures (5xx, 408/429, a reset or timeout) are retried with
backoff. A commit whose reply was lost may still have landed: before sending it again the branch is
read back, and a head holding exactly the release's files is taken as that commit.

The Hub endpoint is taken from HF_ENDPOINT when `publish` runs (huggingface_hub reads it once, at
import) and the token from HF_TOKEN or the Hugging Face login; the token goes to HfApi only and is
never printed, logged or written.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from etl.fileio import CHUNK_BYTES
from etl.release.manifest import read_manifest

REPO_TYPE = "dataset"
KEPT_REMOTE = frozenset({".gitattributes"})  # the Hub's own file in every repo: never deleted
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
PARENT_MOVED_STATUS = frozenset({409, 412})  # what the Hub answers a parent_commit that is no longer the head
MAX_BACKOFF_S = 30.0

T = TypeVar("T")


class PublishError(RuntimeError):
    """Publishing stopped: one line for the command to print."""


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, '/'-separated: the path in the repo
    local: Path
    size: int
    sha256: str  # what the Hub lists for an LFS file
    git_oid: str  # git blob sha1: what it lists for a regular file


@dataclass(frozen=True)
class PublishPlan:
    release: Path
    repo_id: str
    revision: str
    tag: str | None
    private: bool
    dataset: str
    version: str
    content_sha256: str
    files: list[LocalFile]

    @property
    def message(self) -> str:
        return f"{self.dataset} {self.version}"

    @property
    def description(self) -> str:
        from etl import __version__

        return f"content_sha256 {self.content_sha256}; published by lifeqa {__version__}"


@dataclass
class PublishResult:
    outcome: str  # "published" | "unchanged" (the branch held the release) | "already tagged"
    commit: str
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    tag_created: bool = False
    retries: int = 0


# -- local: what would be uploaded ------------------------------------------------------------------


def hashed(root: Path, path: Path) -> LocalFile:
    size = path.stat().st_size
    sha256, git = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as stream:
        while block := stream.read(CHUNK_BYTES):
            sha256.update(block)
            git.update(block)
    return LocalFile(path.relative_to(root).as_posix(), path, size, sha256.hexdigest(), git.hexdigest())


def release_files(release: Path, manifest: dict) -> list[LocalFile]:
    """Every file of the release (hidden ones aside), each listed in the manifest matching its checksum."""
    paths = sorted(p for p in release.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(release).parts))
    files = [hashed(release, p) for p in paths]
    listed = manifest.get("files", {})
    found = {f.path: f for f in files}
    for path, sha256 in sorted(listed.items()):
        if path not in found:
            raise PublishError(f"{release}: {path} is in manifest.json but not in the release")
        if found[path].sha256 != sha256:
            raise PublishError(f"{release}: {path} does not match its checksum in manifest.json")
    unlisted = [f.path for f in files if f.path.endswith(".parquet") and f.path not in listed]
    if unlisted:
        raise PublishError(f"{release}: {unlisted[0]} is not in manifest.json (datasets would load it as rows)")
    return files


def plan_publish(release: Path, repo_id: str, revision: str = "main", tag: str | None = None,
                 private: bool = False) -> PublishPlan:
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PublishError(f"--repo {repo_id!r} must be ORG/NAME")
    manifest = read_manifest(release)
    return PublishPlan(Path(release), repo_id, revision, tag, private, str(manifest.get("dataset", "")),
                       str(manifest.get("version", "")), str(manifest.get("content_sha256", "")),
                       release_files(Path(release), manifest))


def resolve_token() -> str | None:
    """HF_TOKEN, else the Hugging Face login (huggingface_hub reads both at call time)."""
    from huggingface_hub import get_token

    return get_token()


# -- the Hub ----------------------------------------------------------------------------------------


class Retrying:
    """Calls retried on transient failures, with exponential backoff; counts the retries."""

    def __init__(self, attempts: int, backoff_s: float) -> None:
        self.attempts, self.backoff_s, self.retries = max(1, attempts), backoff_s, 0

    def __call__(self, call: Callable[[], T], what: str, recovered: Callable[[], T | None] | None = None) -> T:
        """`call()`, retried; `recovered()`, asked before each retry, may find that a failed call took
        effect after all (its reply was lost) and give its result instead."""
        for attempt in range(self.attempts):
            try:
                return call()
            except Exception as exc:
                if not is_hub_failure(exc):
                    raise
                if not is_transient(exc) or attempt == self.attempts - 1:
                    raise PublishError(f"{what}: {one_line(exc)}") from None
            self.retries += 1
            time.sleep(min(MAX_BACKOFF_S, self.backoff_s * 2**attempt))
            if recovered is not None and (value := recovered()) is not None:
                return value
        raise AssertionError("unreachable")


def is_hub_failure(exc: Exception) -> bool:
    """What a Hub call fails with: an HTTP or transport error, or huggingface_hub's ValueError (bad card YAML)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    return isinstance(exc, (HfHubHTTPError, httpx2.HTTPError, ValueError))


def is_transient(exc: Exception) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        return exc.response is not None and exc.response.status_code in TRANSIENT_STATUS
    return isinstance(exc, httpx2.TransportError)


def one_line(exc: Exception) -> str:
    """huggingface_hub's message (status, URL, the server's reason) on one line; it holds no headers."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


@dataclass(frozen=True)
class Changes:
    upload: list[LocalFile]
    delete: list[str]

    def __bool__(self) -> bool:
        return bool(self.upload or self.delete)


def changes(files: list[LocalFile], remote: dict) -> Changes:
    """What a commit must do to make `remote` ({path: RepoFile}) hold exactly `files`."""

    def same(local: LocalFile) -> bool:
        there = remote.get(local.path)
        if there is None:
            return False
        return there.lfs.sha256 == local.sha256 if there.lfs else there.blob_id == local.git_oid

    local_paths = {f.path for f in files}
    return Changes([f for f in files if not same(f)], sorted(set(remote) - local_paths - KEPT_REMOTE))


class Hub:
    """The repository's side of a publish, each call retried on transient failures."""

    def __init__(self, plan: PublishPlan, token: str, retrying: Retrying) -> None:
        from huggingface_hub import HfApi

        from etl import __version__

        self.plan, self.retrying = plan, retrying
        self.api = HfApi(endpoint=(os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None, token=token,
                         library_name="lifeqa", library_version=__version__)

    def create_repo(self) -> None:
        self.retrying(lambda: self.api.create_repo(self.plan.repo_id, repo_type=REPO_TYPE, private=self.plan.private,
                                                   exist_ok=True), f"creating {self.plan.repo_id}")

    def refs(self) -> tuple[dict[str, str], dict[str, str]]:
        """({branch: commit}, {tag: commit})."""
        refs = self.retrying(lambda: self.api.list_repo_refs(self.plan.repo_id, repo_type=REPO_TYPE),
                             f"reading the refs of {self.plan.repo_id}")
        return ({b.name: b.target_commit for b in refs.branches}, {t.name: t.target_commit for t in refs.tags})

    def head(self) -> str:
        """The branch's head commit, creating the branch from main's head when it does not exist."""
        branches, _ = self.refs()
        if self.plan.revision not in branches:
            self.retrying(lambda: self.api.create_branch(self.plan.repo_id, branch=self.plan.revision,
                                                         repo_type=REPO_TYPE, exist_ok=True),
                          f"creating branch {self.plan.revision}")
            branches, _ = self.refs()
        return branches[self.plan.revision]

    def changes_at(self, commit: str) -> Changes:
        from huggingface_hub.hf_api import RepoFile

        tree = self.retrying(lambda: list(self.api.list_repo_tree(self.plan.repo_id, revision=commit, recursive=True,
                                                                  repo_type=REPO_TYPE)),
                             f"listing the files of {self.plan.repo_id}@{commit[:12]}")
        return changes(self.plan.files, {f.path: f for f in tree if isinstance(f, RepoFile)})

    def commit(self, head: str, todo: Changes) -> str:
        """Commit `todo` on top of `head`; returns the commit that holds the release."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from huggingface_hub.errors import HfHubHTTPError

        plan = self.plan

        def create_commit() -> str:
            operations = ([CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(f.local)) for f in todo.upload]
                          + [CommitOperationDelete(path_in_repo=path) for path in todo.delete])
            try:
                return self.api.create_commit(plan.repo_id, operations, commit_message=plan.message,
                                              commit_description=plan.description, repo_type=REPO_TYPE,
                                              revision=plan.revision, parent_commit=head).oid
            except HfHubHTTPError as exc:
                if exc.response is not None and exc.response.status_code in PARENT_MOVED_STATUS:
                    raise PublishError(self.moved(head, "another commit")) from None
                raise

        return self.retrying(create_commit, f"committing to {plan.repo_id}@{plan.revision}",
                             recovered=lambda: self.landed(head))

    def landed(self, planned_on: str) -> str | None:
        """After a failed commit: the new head if it holds exactly the release (the reply was lost), None
        if the branch has not moved; a branch moved to other files is an error."""
        current = self.head()
        if current == planned_on:
            return None
        if self.changes_at(current):
            raise PublishError(self.moved(planned_on, current[:12]))
        return current

    def moved(self, planned_on: str, to: str) -> str:
        return (f"branch {self.plan.revision} of {self.plan.repo_id} moved from {planned_on[:12]} to {to} while "
                "publishing; nothing was overwritten (rerun to publish on top of it)")

    def tag(self, commit: str) -> None:
        """Tag `commit`; a tag that a lost reply already created must be on that commit."""
        plan = self.plan
        self.retrying(lambda: self.api.create_tag(plan.repo_id, tag=plan.tag, revision=commit, repo_type=REPO_TYPE,
                                                  tag_message=f"{plan.message} ({plan.description})", exist_ok=True),
                      f"tagging {plan.repo_id}@{commit[:12]} as {plan.tag}")
        _, tags = self.refs()
        if tags.get(plan.tag) != commit:
            raise PublishError(f"tag {plan.tag} of {plan.repo_id} is on {str(tags.get(plan.tag))[:12]}, not on "
                               f"{commit[:12]}")


def publish(plan: PublishPlan, token: str, attempts: int = 4, backoff_s: float = 1.0) -> PublishResult:
    """Make `plan.revision` of `plan.repo_id` hold the release, then tag it (see the module's docstring)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise PublishError("HF_HUB_OFFLINE is set: huggingface_hub sends nothing (unset it to publish)")
    retrying = Retrying(attempts, backoff_s)
    hub = Hub(plan, token, retrying)
    hub.create_repo()
    if plan.tag:
        _, tags = hub.refs()
        if plan.tag in tags:
            if hub.changes_at(tags[plan.tag]):
                raise PublishError(f"tag {plan.tag} of {plan.repo_id} exists on {tags[plan.tag][:12]}, whose files "
                                   f"differ from {plan.release}")
            return PublishResult("already tagged", tags[plan.tag], retries=retrying.retries)
    head = hub.head()
    todo = hub.changes_at(head)
    commit = hub.commit(head, todo) if todo else head
    result = PublishResult("published" if todo else "unchanged", commit, [f.path for f in todo.upload], todo.delete)
    if plan.tag:
        hub.tag(commit)
        result.tag_created = True
    result.retries = retrying.retries
    return result


def describe_token_source() -> str:
    """Where the token would come from, for a dry run; never the token itself."""
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return "HF_TOKEN"
    return "the Hugging Face login" if resolve_token() else "none found (set HF_TOKEN or run `hf auth login`)"

