"""A Hugging Face Hub on 127.0.0.1, speaking the endpoints huggingface_hub's HfApi uses to publish a dataset.

    POST /api/repos/create                          create a repo (initial commit: .gitattributes), 409 if it exists
    GET  /api/datasets/{id}/refs                    branches and tags with their commits
    GET  /api/datasets/{id}/revision/{rev}          repo info at a revision (sha, siblings)
    GET  /api/datasets/{id}/tree/{rev}              the files of a revision (oid: git blob sha1)
    POST /api/datasets/{id}/branch/{branch}         a branch from `startingPoint` (default main), 409 if it exists
    POST /api/validate-yaml                         the README's YAML front matter must parse
    POST /api/datasets/{id}/preupload/{rev}         every file "regular"; `oid` of the file already there
    POST /api/datasets/{id}/commit/{rev}            NDJSON: header (summary, description, parentCommit), then
                                                    file (base64) / deletedFile / deletedFolder lines; 412 when
                                                    parentCommit is not the branch head
    POST /api/datasets/{id}/tag/{rev}               tag a revision, 409 if the tag exists

Repos, commits, files and tags live in memory. Every request must carry `Authorization: Bearer TOKEN`.
Faults and the request log are the pull tests' (tests/sources/fake_services.py), keyed by URL substring:
`server.faults.always("/commit/", "503")` answers before the request is applied; "reset" applies it, then
cuts the reply with a TCP reset, so the client never learns that its commit landed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import yaml
from fake_services import LoopbackServer, Reply, _Handler

TOKEN = "hf_lifeqaEmulatorSecret0123456789abcdef"  # what the tests grep every output and file for
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
REPO_ROUTE = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/(?P<action>refs|revision|tree|branch|preupload|commit|tag)"
                        r"(?:/(?P<rev>[^/]+))?(?:/.*)?$")


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, bytes]
    title: str
    description: str = ""


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision) or self.tags.get(revision) or revision
        return self.commits.get(oid)

    def add_commit(self, branch: str, parent: str | None, files: dict[str, bytes], title: str, description: str) -> Commit:
        contents = sorted((path, git_blob_oid(content)) for path, content in files.items())
        digest = hashlib.sha1(json.dumps([parent, title, len(self.commits), contents]).encode())
        commit = Commit(digest.hexdigest(), parent, files, title, description)
        self.commits[commit.oid] = commit
        self.branches[branch] = commit.oid
        return commit


def error(status: int, message: str, code: str | None = None, **extra: object) -> Reply:
    headers = {"Content-Type": "application/json", "X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return Reply(status, json.dumps({"error": message, **extra}).encode(), headers)


def ok(document: object) -> Reply:
    return Reply(200, json.dumps(document).encode(), {"Content-Type": "application/json"})


class _HubHandler(_Handler):
    def _serve(self, method: str, form: bytes) -> None:
        self.server.request.headers = self.headers  # the route checks the token of the request it answers
        super()._serve(method, form)


class HubServer(LoopbackServer):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__(_HubHandler)
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.request = threading.local()
        self.lock = threading.Lock()
        self.interleaved: list[tuple[str, Callable[[], None]]] = []

    def interleave(self, match: str, action: Callable[[], None]) -> None:
        """Run `action` (another client's write, say) when a request whose URL holds `match` arrives, before
        answering it; once."""
        self.interleaved.append((match, action))

    def files(self, repo_id: str, revision: str) -> dict[str, bytes]:
        return self.repos[repo_id].resolve(revision).files

    # -- routes --

    def route(self, method: str, url: str, body: bytes) -> Reply:
        if self.request.headers.get("Authorization") != f"Bearer {self.token}":
            return error(401, "Invalid credentials in Authorization header")
        path = urlsplit(url).path
        with self.lock:
            for entry in [e for e in self.interleaved if e[0] in url]:
                self.interleaved.remove(entry)
                entry[1]()
            if (method, path) == ("POST", "/api/repos/create"):
                return self._create_repo(json.loads(body))
            if (method, path) == ("POST", "/api/validate-yaml"):
                return self._validate_yaml(json.loads(body)["content"])
            match = REPO_ROUTE.match(path)
            if match is None:
                return error(404, f"no route {method} {path}")
            repo = self.repos.get(match["repo"])
            if repo is None:
                return error(404, f"Repository not found: {match['repo']}", "RepoNotFound")
            action, revision = match["action"], unquote(match["rev"] or "main")
            if action == "refs":
                return ok(self._refs(repo))
            if action == "branch":
                return self._create_branch(repo, revision, json.loads(body or b"{}"))
            commit = repo.resolve(revision)
            if commit is None:
                return error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if action == "revision":
                return ok({"id": repo.repo_id, "sha": commit.oid, "private": repo.private,
                           "siblings": [{"rfilename": p} for p in sorted(commit.files)]})
            if action == "tree":
                return ok([{"type": "file", "path": p, "size": len(c), "oid": git_blob_oid(c)}
                           for p, c in sorted(commit.files.items())])
            if action == "preupload":
                return ok(self._preupload(commit, json.loads(body)))
            if action == "commit":
                return self._commit(repo, revision, commit, body)
            return self._create_tag(repo, commit, json.loads(body))

    def _create_repo(self, payload: dict) -> Reply:
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = f"{self.url}/datasets/{repo_id}"
        if payload.get("type") != "dataset":
            return error(400, "this emulator keeps dataset repositories only")
        if repo_id in self.repos:
            return error(409, "You already created this dataset repo", url=url)
        repo = self.repos[repo_id] = Repo(repo_id, payload.get("visibility") == "private")
        repo.add_commit("main", None, {".gitattributes": GITATTRIBUTES}, "initial commit", "")
        return ok({"url": url, "name": repo_id})

    @staticmethod
    def _validate_yaml(content: str) -> Reply:
        front = re.match(r"^---\n(.*?)\n---\n", content, re.DOTALL)
        try:
            yaml.safe_load(front.group(1) if front else "")
        except yaml.YAMLError as exc:
            return Reply(400, json.dumps({"errors": [{"message": str(exc)}]}).encode(), {"Content-Type": "application/json"})
        return ok({"errors": [], "warnings": []})

    @staticmethod
    def _refs(repo: Repo) -> dict:
        def refs(kind: str, names: dict[str, str]) -> list[dict]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid} for n, oid in sorted(names.items())]

        return {"branches": refs("heads", repo.branches), "converts": [], "tags": refs("tags", repo.tags)}

    @staticmethod
    def _create_branch(repo: Repo, branch: str, payload: dict) -> Reply:
        if branch in repo.branches:
            return error(409, f"Branch {branch} already exists")
        start = repo.resolve(payload.get("startingPoint", "main"))
        if start is None:
            return error(404, f"Invalid rev id: {payload.get('startingPoint')}", "RevisionNotFound")
        repo.branches[branch] = start.oid
        return ok({})

    @staticmethod
    def _preupload(commit: Commit, payload: dict) -> dict:
        files = []
        for item in payload["files"]:
            existing = commit.files.get(item["path"])
            files.append({"path": item["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": git_blob_oid(existing) if existing is not None else None})
        return {"files": files, "commitOid": commit.oid}

    def _commit(self, repo: Repo, branch: str, head: Commit, body: bytes) -> Reply:
        if branch not in repo.branches:
            return error(400, f"{branch} is not a branch")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"]
        if header.get("parentCommit") not in (None, head.oid):
            return error(412, "A commit has happened since. Please refresh and try again.")
        files = dict(head.files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"])
            elif key == "deletedFolder":
                files = {p: c for p, c in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            else:
                return error(400, f"this emulator takes regular files only, not {key}")
        commit = repo.add_commit(branch, head.oid, files, header["summary"], header.get("description", ""))
        commit_url = f"{self.url}/datasets/{repo.repo_id}/commit/{commit.oid}"  # the client parses this shape
        return ok({"success": True, "commitOid": commit.oid, "commitUrl": commit_url, "hookOutput": ""})

    @staticmethod
    def _create_tag(repo: Repo, commit: Commit, payload: dict) -> Reply:
        if payload["tag"] in repo.tags:
            return error(409, f"Tag {payload['tag']} already exists")
        repo.tags[payload["tag"]] = commit.oid
        return ok({})
