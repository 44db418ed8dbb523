"""A registry of release versions: `ROOT/NAME/VERSION/` release directories and an index of them.

    ROOT/NAME/VERSION/                 a release directory (README.md, data/, rejects/, manifest.json)
    ROOT/index/NAME/VERSION.json       its index entry: content_sha256, source releases, creation time,
                                       config sha256, lifeqa version, counts

ROOT is a local directory or any URI that pyarrow's filesystems open (`s3://bucket/releases`,
`gs://...`, `hdfs://...`); every read and write goes through `pyarrow.fs`. The index is one small
file per version, written once after the release is in place, so two builds adding different
versions never rewrite each other's entries, and a version without an entry was never committed.

Versions are CalVer: `YYYY.MM` for the release of a month (`2026.12`), `YYYY.MM.N` for its N-th
rebuild (`2026.12.1`); the source release (UniProt `2026_05`, PubChem's date) is recorded beside
it in the index, not in the label. A version is immutable: adding one that exists is refused.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

VERSION_PATTERN = re.compile(r"^(?P<year>\d{4})\.(?P<month>0[1-9]|1[0-2])(?:\.(?P<rebuild>[1-9]\d*))?$")
DEFAULT_REGISTRY = "releases"
LATEST = "latest"


class RegistryError(ValueError):
    """A registry operation that cannot be done: unknown dataset or version, a version that exists, a bad label."""


def version_key(version: str) -> tuple[int, int, int]:
    """(year, month, rebuild) of a CalVer label, for ordering; raise on any other label."""
    match = VERSION_PATTERN.match(version)
    if not match:
        raise RegistryError(f"version {version!r} is not CalVer YYYY.MM or YYYY.MM.N (e.g. 2026.12, 2026.12.1)")
    return int(match["year"]), int(match["month"]), int(match["rebuild"] or 0)


def next_version(existing: list[str], now: datetime | None = None) -> str:
    """This month's label, or its next rebuild (`.N`) when the month's release exists."""
    month = (now or datetime.now(timezone.utc)).strftime("%Y.%m")
    taken = [version_key(v)[2] for v in existing if v == month or v.startswith(month + ".")]
    return month if not taken else f"{month}.{max(taken) + 1}"


def parse_reference(reference: str) -> tuple[str, str] | None:
    """`NAME@VERSION` -> (NAME, VERSION); anything else (a directory) -> None."""
    name, at, version = reference.partition("@")
    if not at or not name or not version or "/" in name:
        return None
    return name, version


@dataclass(frozen=True)
class ReleaseLocation:
    """Where a release directory lies: a pyarrow filesystem and a path on it."""

    filesystem: object  # pyarrow.fs.FileSystem
    path: str

    def join(self, *parts: str) -> str:
        return str(PurePosixPath(self.path, *parts))

    def read_json(self, name: str) -> dict:
        with self.filesystem.open_input_stream(self.join(name)) as stream:
            return json.loads(stream.read())

    def parquet_files(self, folder: str) -> list[str]:
        """The Parquet shards under `folder`, in name order."""
        from pyarrow import fs

        infos = self.filesystem.get_file_info(fs.FileSelector(self.join(folder), allow_not_found=True))
        return sorted(i.path for i in infos if i.type == fs.FileType.File and i.path.endswith(".parquet"))

    def local_path(self) -> Path | None:
        """The directory on this machine, or None for a release on a remote filesystem."""
        from pyarrow import fs

        return Path(self.path) if isinstance(self.filesystem, fs.LocalFileSystem) else None

    def __str__(self) -> str:
        return self.path


def directory_location(path: str | Path) -> ReleaseLocation:
    """A release directory given by path or URI."""
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(absolute_uri(str(path)))
    return ReleaseLocation(filesystem, base)


def absolute_uri(root: str) -> str:
    # pyarrow's from_uri takes absolute local paths only; a URI with a scheme is passed as given.
    return root if "://" in root else str(Path(root).expanduser().resolve())


class Registry:
    """The versions of every dataset under one root."""

    def __init__(self, root: str | Path = DEFAULT_REGISTRY):
        from pyarrow import fs

        self.root_uri = str(root)
        self.filesystem, self.root = fs.FileSystem.from_uri(absolute_uri(str(root)))

    def _path(self, *parts: str) -> str:
        return str(PurePosixPath(self.root, *parts))

    def _exists(self, path: str) -> bool:
        from pyarrow import fs

        return self.filesystem.get_file_info(path).type != fs.FileType.NotFound

    def location(self, name: str, version: str) -> ReleaseLocation:
        return ReleaseLocation(self.filesystem, self._path(name, version))

    def is_local(self) -> bool:
        from pyarrow import fs

        return isinstance(self.filesystem, fs.LocalFileSystem)

    def datasets(self) -> list[str]:
        from pyarrow import fs

        infos = self.filesystem.get_file_info(fs.FileSelector(self._path("index"), allow_not_found=True))
        return sorted(PurePosixPath(i.path).name for i in infos if i.type == fs.FileType.Directory)

    def entries(self, name: str) -> list[dict]:
        """The index entries of `name`, oldest version first."""
        from pyarrow import fs

        infos = self.filesystem.get_file_info(fs.FileSelector(self._path("index", name), allow_not_found=True))
        entries = []
        for info in infos:
            if info.type == fs.FileType.File and info.path.endswith(".json"):
                with self.filesystem.open_input_stream(info.path) as stream:
                    entries.append(json.loads(stream.read()))
        return sorted(entries, key=lambda e: version_key(e["version"]))

    def versions(self, name: str) -> list[str]:
        return [entry["version"] for entry in self.entries(name)]

    def resolve(self, name: str, version: str) -> str:
        """`version`, or the newest one for `latest`; raise if the registry has no such version."""
        versions = self.versions(name)
        if not versions:
            raise RegistryError(f"registry {self.root_uri} has no version of {name}")
        if version == LATEST:
            return versions[-1]
        if version not in versions:
            raise RegistryError(f"registry {self.root_uri} has no {name}@{version} (it has {', '.join(versions)})")
        return version

    def check_new(self, name: str, version: str) -> None:
        """Raise unless `version` is a well-formed label that `name` has neither indexed nor written."""
        version_key(version)
        if self._exists(self._path("index", name, f"{version}.json")) or self._exists(self._path(name, version)):
            raise RegistryError(f"{name}@{version} already exists in registry {self.root_uri}; "
                                "a version is immutable: build a new one (e.g. a .N rebuild)")

    def build_directory(self, name: str, version: str) -> Path:
        """Where a build of `name@version` writes: the version's own directory in a local registry,
        a local scratch directory that `add` uploads otherwise."""
        if self.is_local():
            return Path(self._path(name, version))
        return Path(tempfile.mkdtemp(prefix=f"lifeqa-{name}-{version}-")) / version

    def add(self, built: Path, manifest: dict) -> dict:
        """Index the release built at `built` (uploading it first on a remote registry); return its entry."""
        from pyarrow import fs

        name, version = manifest["dataset"], manifest["version"]
        target = self._path(name, version)
        if not self.is_local() or Path(built).resolve() != Path(target).resolve():
            self.check_new(name, version)
            fs.copy_files(str(built), target, source_filesystem=fs.LocalFileSystem(),
                          destination_filesystem=self.filesystem)
        entry = index_entry(manifest)
        self.filesystem.create_dir(self._path("index", name), recursive=True)
        with self.filesystem.open_output_stream(self._path("index", name, f"{version}.json")) as stream:
            stream.write((json.dumps(entry, indent=2, sort_keys=True) + "\n").encode())
        return entry

    def release(self, reference: str) -> ReleaseLocation:
        """The release that `NAME@VERSION` (or `NAME@latest`) names."""
        parsed = parse_reference(reference)
        if parsed is None:
            raise RegistryError(f"{reference!r} is not NAME@VERSION")
        name, version = parsed
        return self.location(name, self.resolve(name, version))


def index_entry(manifest: dict) -> dict:
    return {
        "dataset": manifest["dataset"],
        "version": manifest["version"],
        "created": manifest["created"],
        "content_sha256": manifest["content_sha256"],
        "config_sha256": manifest["config_sha256"],
        "lifeqa_version": manifest["lifeqa_version"],
        "source_releases": manifest.get("source_releases", []),
        "rows": manifest["counts"]["rows"],
        "records_released": manifest["counts"]["records_released"],
        "records_rejected": manifest["counts"]["records_rejected"],
    }


def locate(reference: str, registry: str | None) -> ReleaseLocation:
    """A release given as a directory, or as `NAME@VERSION` / `NAME@latest` in `registry`
    (a directory of that name, if there is one, wins)."""
    from pyarrow import fs

    if parse_reference(reference) is not None and not Path(reference).exists():
        return Registry(registry or DEFAULT_REGISTRY).release(reference)
    location = directory_location(reference)
    if location.filesystem.get_file_info(location.join("manifest.json")).type != fs.FileType.File:
        raise RegistryError(f"{reference} is not a release directory (no manifest.json)")
    return location
