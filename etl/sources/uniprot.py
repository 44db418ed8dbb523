"""Pull UniProtKB search results page by page into a snapshot.

`GET {base}/uniprotkb/search?query=Q&format=F&size=N` answers one page and, while more
remain, a `Link: <URL>; rel="next"` header whose URL carries the cursor. The first page
names the release (`X-UniProt-Release`) and the number of hits (`X-Total-Results`); the
pull stores every page as received, resumes from the stored next URL, refuses to mix
releases, and is complete only when the records stored add up to the announced total.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

import requests

from etl.sources.http import BrokenBody, Fetched, HttpClient, PullError
from etl.sources.pull import Pull
from etl.sources.settings import UNIPROT_BASE_URL, PullSettings, RateLimit
from etl.sources.snapshot import PullObserver, PullSummary, Snapshot

log = logging.getLogger("etl.sources")

UniProtFormat = Literal["json", "txt", "xml"]
FORMATS: tuple[str, ...] = ("json", "txt", "xml")
DEFAULT_QUERY = "reviewed:true"
_XML_ENTRY = re.compile(rb"<entry[\s>]")
_FLAT_END = re.compile(rb"^//\s*$", re.MULTILINE)


@dataclass(frozen=True)
class UniProtQuery:
    query: str = DEFAULT_QUERY
    format: UniProtFormat = "json"
    page_size: int = 500
    base_url: str = UNIPROT_BASE_URL

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"UniProt format must be one of {', '.join(FORMATS)}, not {self.format!r}")

    def first_url(self) -> str:
        params = {"query": self.query, "format": self.format, "size": str(self.page_size)}
        return f"{self.base_url.rstrip('/')}/uniprotkb/search?{urlencode(params, quote_via=quote)}"

    def as_manifest(self) -> dict[str, Any]:
        return asdict(self)


def count_records(body: bytes, fmt: str) -> int:
    """Entries in one page; raises BrokenBody when the page is not a whole document."""
    if fmt == "json":
        try:
            results = json.loads(body)["results"]
        except (ValueError, KeyError, TypeError) as error:
            raise BrokenBody(f"not a UniProt JSON page ({error})") from error
        if not isinstance(results, list):
            raise BrokenBody("UniProt JSON page: 'results' is not a list")
        return len(results)
    if fmt == "txt":
        if body.strip() and not body.rstrip().endswith(b"//"):
            raise BrokenBody("flat-file page does not end with '//'")
        return len(_FLAT_END.findall(body))
    if not body.rstrip().endswith(b"</uniprot>"):
        raise BrokenBody("XML page does not end with </uniprot>")
    return len(_XML_ENTRY.findall(body))


def next_link(headers: dict[str, str]) -> str | None:
    value = {name.lower(): v for name, v in headers.items()}.get("link")
    if not value:
        return None
    for link in requests.utils.parse_header_links(value):
        if link.get("rel") == "next":
            return link["url"]
    return None


def _header(fetched: Fetched, name: str) -> str | None:
    return {key.lower(): value for key, value in fetched.headers.items()}.get(name.lower())


def _announced_total(fetched: Fetched) -> int:
    value = _header(fetched, "X-Total-Results")
    if value is None or not value.strip().isdigit():
        raise PullError(f"GET {fetched.url}: no usable X-Total-Results header ({value!r}); is this UniProt's REST API?")
    return int(value)


class UniProtPull(Pull):
    """Search pages, following `Link: rel="next"` until there is none."""

    service = "uniprot"

    def rate_limits(self) -> list[RateLimit]:
        return self.settings.uniprot_limits

    def pull(self, snapshot: Snapshot, client: HttpClient) -> None:
        self._plan(snapshot)
        url = snapshot.state["next_url"] if "next_url" in snapshot.state else self.query.first_url()
        while url is not None:
            fetched = client.get(url, validate=lambda body: count_records(body, self.query.format))
            self._check_release(snapshot, fetched)
            url = next_link(fetched.headers)
            records = count_records(fetched.body, self.query.format)
            snapshot.add_page(fetched, kind="search", ext=self.query.format, records=records, state={"next_url": url})
            self.observer.on_page("search", records)
        self._check_count(snapshot)
        snapshot.finish()

    def _plan(self, snapshot: Snapshot) -> None:
        expected = snapshot.manifest["expected_records"]
        pages = None if expected is None else max(1, math.ceil(expected / self.query.page_size))
        self.observer.on_plan("search", pages, len(snapshot.requests), snapshot.records)

    def _check_release(self, snapshot: Snapshot, fetched: Fetched) -> None:
        release = _header(fetched, "X-UniProt-Release")
        total = _announced_total(fetched)
        if not snapshot.requests:
            snapshot.update(release=release, expected_records=total)
            self._plan(snapshot)
            log.info("UniProt release %s: %d entries match %r", release, total, self.query.query)
            return
        if release != snapshot.release or total != snapshot.manifest["expected_records"]:
            raise PullError(
                f"UniProt changed during the pull: release {snapshot.release} with "
                f"{snapshot.manifest['expected_records']} entries, now {release} with {total}. "
                f"{snapshot.path} cannot be finished consistently; pull into a new directory."
            )

    def _check_count(self, snapshot: Snapshot) -> None:
        expected = snapshot.manifest["expected_records"]
        if snapshot.records != expected:
            raise PullError(
                f"pulled {snapshot.records} UniProt entries but the server announced {expected} "
                f"(X-Total-Results); {snapshot.path} is left incomplete."
            )


def pull_uniprot(
    snapshot_dir: Path, query: UniProtQuery, settings: PullSettings, observer: PullObserver | None = None
) -> PullSummary:
    return UniProtPull(snapshot_dir, query, settings, observer).run()
