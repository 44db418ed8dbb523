"""Pull PubChem compound descriptions and their structures into a snapshot.

Stage 1, `annotations`: every page of the PUG-View annotations for the heading
`Record Description` (`GET {base}/rest/pug_view/annotations/heading/JSON?heading=...
&heading_type=Compound&page=N`); the number of pages is read from `TotalPages` on
page 1 (optionally capped by `max_pages`).

Stage 2, structures for the CIDs those annotations link to (sorted, de-duplicated, so a
resumed pull plans the same batches), either
- `pug-rest`: `POST {base}/rest/pug/compound/cid/property/SMILES,InChIKey,Title/JSON`
  with a `cid=` list per batch (`properties` pages), or
- `bulk`: PubChem's `CID-SMILES.gz`, checked against its `.md5` (one `cid-smiles` file).

PubChem has no release number; its responses carry no release header either, so the
snapshot's `release` is the `Last-Modified` date of annotation page 1 when the server
sends one, and null otherwise (the `created` time then dates the snapshot).
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

from etl.sources.http import BrokenBody, Downloaded, Fetched, HttpClient, PullError
from etl.sources.pull import Pull
from etl.sources.settings import PUBCHEM_BASE_URL, PUBCHEM_BULK_SMILES_URL, PullSettings, RateLimit
from etl.sources.snapshot import PullObserver, PullSummary, Snapshot

log = logging.getLogger("etl.sources")

StructureSource = Literal["pug-rest", "bulk"]
STRUCTURE_SOURCES: tuple[str, ...] = ("pug-rest", "bulk")
PROPERTIES = "SMILES,InChIKey,Title"
# PubChem renamed its SMILES properties in 2025; mirrors and older responses use the old names.
SMILES_NAMES = ("SMILES", "IsomericSMILES", "CanonicalSMILES")
_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")


@dataclass(frozen=True)
class PubChemQuery:
    base_url: str = PUBCHEM_BASE_URL
    heading: str = "Record Description"
    heading_type: str = "Compound"
    max_pages: int | None = None
    structures: StructureSource = "pug-rest"
    batch_size: int = 200
    bulk_url: str = PUBCHEM_BULK_SMILES_URL

    def __post_init__(self) -> None:
        if self.structures not in STRUCTURE_SOURCES:
            raise ValueError(f"structures must be one of {', '.join(STRUCTURE_SOURCES)}, not {self.structures!r}")

    def annotations_url(self, page: int) -> str:
        params = {"heading": self.heading, "heading_type": self.heading_type, "page": str(page)}
        return f"{self.base_url.rstrip('/')}/rest/pug_view/annotations/heading/JSON?{urlencode(params, quote_via=quote)}"

    def properties_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/rest/pug/compound/cid/property/{PROPERTIES}/JSON"

    def as_manifest(self) -> dict[str, Any]:
        manifest = asdict(self)
        if self.structures == "pug-rest":
            del manifest["bulk_url"]
        else:
            del manifest["batch_size"]
        return manifest


def row_smiles(row: dict[str, Any]) -> str | None:
    """The SMILES of one property-table row, under the current or an older property name."""
    return next((row[name] for name in SMILES_NAMES if row.get(name)), None)


def parse_annotation_page(body: bytes) -> dict[str, Any]:
    """The `Annotations` object of a PUG-View annotation page; BrokenBody if it is not one."""
    try:
        annotations = json.loads(body)["Annotations"]
        if not isinstance(annotations["Annotation"], list) or not isinstance(annotations["TotalPages"], int):
            raise TypeError("Annotation must be a list and TotalPages an integer")
    except (ValueError, KeyError, TypeError) as error:
        raise BrokenBody(f"not a PUG-View annotation page ({error})") from error
    return annotations


def parse_property_table(body: bytes) -> list[dict[str, Any]]:
    try:
        rows = json.loads(body)["PropertyTable"]["Properties"]
        if not isinstance(rows, list) or not all(isinstance(row.get("CID"), int) for row in rows):
            raise TypeError("Properties must be a list of rows with an integer CID")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BrokenBody(f"not a PUG REST property table ({error})") from error
    return rows


def linked_cids(annotation_pages: Iterable[bytes]) -> list[int]:
    cids: set[int] = set()
    for body in annotation_pages:
        for annotation in parse_annotation_page(body)["Annotation"]:
            cids.update(int(cid) for cid in annotation.get("LinkedRecords", {}).get("CID", []))
    return sorted(cids)


def batches(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def expected_md5(body: bytes) -> str:
    match = _MD5.search(body.decode("ascii", "replace"))
    if match is None:
        raise BrokenBody("no MD5 digest in the .md5 file")
    return match.group(1).lower()


def count_gzip_lines(path: Path) -> int:
    """Lines in a gzip file, read in blocks; also proves the gzip stream is whole."""
    lines = 0
    try:
        with gzip.open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                lines += block.count(b"\n")
    except (EOFError, OSError, zlib.error) as error:
        raise BrokenBody(f"{path.name} is not a whole gzip file ({error})") from error
    return lines


class PubChemPull(Pull):
    """Annotation pages first, then the structures of the CIDs they link to."""

    service = "pubchem"

    def rate_limits(self) -> list[RateLimit]:
        return self.settings.pubchem_limits

    def pull(self, snapshot: Snapshot, client: HttpClient) -> None:
        self._pull_annotations(snapshot, client)
        if self.query.structures == "pug-rest":
            self._pull_properties(snapshot, client)
        else:
            self._pull_bulk(snapshot, client)
        snapshot.finish()

    # -- stage 1 --------------------------------------------------------------

    def _pull_annotations(self, snapshot: Snapshot, client: HttpClient) -> None:
        if snapshot.state.get("stage", "annotations") != "annotations":
            return
        page = snapshot.state.get("next_page", 1)
        done = [r for r in snapshot.requests if r["kind"] == "annotations"]
        self.observer.on_plan("annotations", self._page_limit(snapshot), len(done), sum(r["records"] for r in done))
        while True:
            fetched = client.get(self.query.annotations_url(page), validate=parse_annotation_page)
            annotations = parse_annotation_page(fetched.body)
            self._check_total_pages(snapshot, fetched, annotations["TotalPages"])
            last = page >= self._page_limit(snapshot)
            state = {"stage": "structures", "next_batch": 0} if last else {"stage": "annotations", "next_page": page + 1}
            records = len(annotations["Annotation"])
            snapshot.add_page(fetched, kind="annotations", ext="json", records=records, state=state)
            self.observer.on_page("annotations", records)
            if last:
                return
            page += 1

    def _page_limit(self, snapshot: Snapshot) -> int | None:
        """Pages to pull: TotalPages from page 1, capped by max_pages; None before page 1."""
        total = snapshot.manifest["details"].get("total_pages")
        if total is None:
            return None
        return min(total, self.query.max_pages) if self.query.max_pages else total

    def _check_total_pages(self, snapshot: Snapshot, fetched: Fetched, total_pages: int) -> None:
        known = snapshot.manifest["details"].get("total_pages")
        if known is None:
            release = {k.lower(): v for k, v in fetched.headers.items()}.get("last-modified")
            snapshot.update(release=release, details={"total_pages": total_pages})
            self.observer.on_plan("annotations", self._page_limit(snapshot), 0, 0)
            log.info("PubChem: %d pages of %r annotations", total_pages, self.query.heading)
        elif known != total_pages:
            raise PullError(
                f"PubChem now reports {total_pages} annotation pages instead of {known}: the annotations changed "
                f"during the pull, so {snapshot.path} cannot be finished consistently. Pull into a new directory."
            )

    # -- stage 2 --------------------------------------------------------------

    def _cids(self, snapshot: Snapshot) -> list[int]:
        # Recomputed from the stored pages rather than kept in the manifest: PubChem links
        # hundreds of thousands of CIDs, and the pages are the record of what was seen.
        cids = linked_cids(snapshot.pages_of_kind("annotations"))
        details = snapshot.manifest["details"]
        if details.get("linked_cids") != len(cids):
            snapshot.update(details={**details, "linked_cids": len(cids)})
        return cids

    def _pull_properties(self, snapshot: Snapshot, client: HttpClient) -> None:
        cids = self._cids(snapshot)
        planned = list(batches(cids, self.query.batch_size))
        first = snapshot.state["next_batch"]
        done = [r for r in snapshot.requests if r["kind"] == "properties"]
        self.observer.on_plan("structures", len(planned), len(done), sum(r["records"] for r in done))
        for index in range(first, len(planned)):
            batch = planned[index]
            fetched = client.post(
                self.query.properties_url(), data={"cid": ",".join(map(str, batch))}, validate=parse_property_table
            )
            rows = parse_property_table(fetched.body)
            missing = len(set(batch) - {row["CID"] for row in rows})
            snapshot.add_page(
                fetched, kind="properties", ext="json", records=len(rows),
                state={"stage": "structures", "next_batch": index + 1},
                cids_requested=len(batch), cids_missing=missing,
                without_smiles=sum(1 for row in rows if row_smiles(row) is None),
            )
            self.observer.on_page("structures", len(rows))

    def _pull_bulk(self, snapshot: Snapshot, client: HttpClient) -> None:
        if snapshot.state.get("next_batch", 0) > 0:
            return
        self._cids(snapshot)
        self.observer.on_plan("structures", 1, 0, 0)
        md5_url = self.query.bulk_url + ".md5"
        digest = expected_md5(client.get(md5_url, validate=expected_md5).body)

        def verify(downloaded: Downloaded) -> None:
            if downloaded.md5 != digest:
                raise BrokenBody(f"MD5 {downloaded.md5} of the download is not {digest} from {md5_url}")

        downloaded = client.download(self.query.bulk_url, snapshot.temp_path("cid-smiles"), verify=verify)
        try:
            lines = count_gzip_lines(downloaded.path)
        except BrokenBody as error:
            raise PullError(f"{self.query.bulk_url} matches its MD5 but cannot be read: {error}") from error
        snapshot.add_download(
            downloaded, kind="cid-smiles", ext="tsv", records=lines, state={"stage": "structures", "next_batch": 1},
            md5=digest, md5_url=md5_url,
        )
        self.observer.on_page("structures", lines)


def pull_pubchem(
    snapshot_dir: Path, query: PubChemQuery, settings: PullSettings, observer: PullObserver | None = None
) -> PullSummary:
    return PubChemPull(snapshot_dir, query, settings, observer).run()
