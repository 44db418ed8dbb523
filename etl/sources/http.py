"""One polite HTTP client for UniProt and PubChem.

Every request goes through the same steps:

1. the rate limiter waits until every configured window (e.g. 5 per second *and*
   400 per minute for PubChem) has room for one more request;
2. the request is sent with a connect and a read timeout and a User-Agent naming
   lifeqa and the contact from the settings;
3. the body is read as raw bytes and checked: a short body (fewer bytes than
   Content-Length), a gzip stream that ends early, or a body the caller's validator
   rejects is treated like a dropped connection, because the server sent a broken copy;
4. transient failures (429, 500, 502, 503, 504, timeouts, resets, broken bodies) are
   retried with exponential backoff and jitter, or after the server's Retry-After;
   any other status fails at once, since asking again cannot help.

After `attempts` tries the client raises `RetriesExhausted`; callers write every page
they finish before asking for the next one, so stopping leaves a resumable snapshot.
Retries and waits are logged on the `etl.sources` logger at INFO (`--verbose`).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.client
import logging
import random
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import urllib3

from etl.sources.settings import PullSettings, RateLimit

log = logging.getLogger("etl.sources")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Read timeouts, resets and short reads surface from urllib3 when the body is read raw.
TRANSPORT_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class PullError(Exception):
    """A pull cannot go on; the message says why and what to do."""


class HttpStatusError(PullError):
    """The server answered with a status that retrying cannot fix (e.g. 400, 404)."""

    def __init__(self, method: str, url: str, status: int, detail: str) -> None:
        super().__init__(f"{method} {url} answered HTTP {status}: {detail}")
        self.status = status


class RetriesExhausted(PullError):
    """A request kept failing after the configured number of attempts."""


class BrokenBody(Exception):
    """The body arrived incomplete or unreadable; raised by validators to ask for a retry."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RateLimiter:
    """A sliding-window limiter over several windows at once.

    It remembers the send times of the last `max(requests)` requests; a new request
    waits until, for every window, the request `requests` places back is older than
    the window. That bounds any interval of `per_seconds` to `requests` sends, which is
    how the services count (a token bucket would allow a burst at a window boundary).
    """

    def __init__(
        self,
        limits: Sequence[RateLimit],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = list(limits)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque(maxlen=max((limit.requests for limit in self.limits), default=1))
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a request may be sent, record it, and return the seconds waited."""
        waited = 0.0
        with self._lock:
            while (delay := self._delay(self._clock())) > 0:
                self._sleep(delay)
                waited += delay
            self._sent.append(self._clock())
        return waited

    def _delay(self, now: float) -> float:
        delay = 0.0
        for limit in self.limits:
            if len(self._sent) >= limit.requests:
                oldest_in_window = self._sent[-limit.requests]
                delay = max(delay, oldest_in_window + limit.per_seconds - now)
        return delay


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    backoff_base_s: float
    backoff_cap_s: float
    max_retry_after_s: float

    @classmethod
    def from_settings(cls, settings: PullSettings) -> RetryPolicy:
        return cls(settings.attempts, settings.backoff_base_s, settings.backoff_cap_s, settings.max_retry_after_s)

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Equal jitter: half the exponential step for sure, the other half at random, so
        many clients that failed together do not come back together."""
        step = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (failures - 1))
        return step / 2 + rng.uniform(0, step / 2)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    backoff_s: float = 0.0
    throttled_s: float = 0.0
    bytes: int = 0


@dataclass
class Fetched:
    """One successful response. `body` is the content after Content-Encoding is undone."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    time: str
    elapsed_s: float
    attempts: int


@dataclass
class Downloaded:
    """A response streamed to a file, with digests of the bytes as received."""

    url: str
    status: int
    headers: dict[str, str]
    path: Path
    bytes: int
    sha256: str
    md5: str
    time: str
    elapsed_s: float
    attempts: int


@dataclass
class _Failure:
    reason: str
    retry_after: float | None = None


def _user_agent(contact: str) -> str:
    from etl import __version__

    who = f"mailto:{contact}" if contact else "no contact configured; set LIFEQA_CONTACT"
    return f"lifeqa/{__version__} (dataset builder; {who}) python-requests/{requests.__version__}"


def _decoded_body(raw: bytes, headers: requests.structures.CaseInsensitiveDict) -> bytes:
    declared = headers.get("Content-Length")
    if declared is not None and declared.isdigit() and len(raw) != int(declared):
        raise BrokenBody(f"body ended after {len(raw)} of {declared} bytes")
    encoding = headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise BrokenBody(f"gzip body is incomplete or corrupt ({error})") from error
    raise BrokenBody(f"unsupported Content-Encoding {encoding!r}")


def _status_detail(response: requests.Response) -> str:
    text = response.content[:300].decode("utf-8", "replace").strip()
    return " ".join(text.split()) or response.reason or "no detail"


class HttpClient:
    """Requests with timeouts, retries, rate limiting and body checks (see module doc)."""

    def __init__(
        self,
        settings: PullSettings,
        limits: Sequence[RateLimit],
        session: requests.Session | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.limiter = RateLimiter(limits)
        self.stats = ClientStats()
        self._rng = rng or random.Random()
        self._session = session or requests.Session()
        self._session.headers.update({"User-Agent": _user_agent(settings.contact), "Accept-Encoding": "gzip"})
        self._timeout = (settings.connect_timeout_s, settings.read_timeout_s)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, validate: Callable[[bytes], object] | None = None) -> Fetched:
        return self.fetch("GET", url, validate=validate)

    def post(self, url: str, data: dict[str, str], validate: Callable[[bytes], object] | None = None) -> Fetched:
        return self.fetch("POST", url, data=data, validate=validate)

    def fetch(
        self, method: str, url: str, data: dict[str, str] | None = None, validate: Callable[[bytes], object] | None = None
    ) -> Fetched:
        def read(response: requests.Response, started: str, begun: float, attempt: int) -> Fetched:
            body = _decoded_body(response.raw.read(decode_content=False), response.headers)
            if validate is not None:
                validate(body)
            self.stats.bytes += len(body)
            return Fetched(
                method, url, response.status_code, dict(response.headers), body, started, time.monotonic() - begun, attempt
            )

        return self._with_retries(method, url, data, read)

    def download(
        self, url: str, dest: Path, verify: Callable[[Downloaded], object] | None = None, chunk_size: int = 1 << 20
    ) -> Downloaded:
        """Stream a (large) file to `dest` as received, without undoing any encoding.

        `verify` may raise BrokenBody (e.g. on a checksum mismatch) to download again."""

        def read(response: requests.Response, started: str, begun: float, attempt: int) -> Downloaded:
            sha256, md5 = hashlib.sha256(), hashlib.md5()
            size = 0
            with open(dest, "wb") as out:
                for block in response.raw.stream(chunk_size, decode_content=False):
                    out.write(block)
                    sha256.update(block)
                    md5.update(block)
                    size += len(block)
                out.flush()
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and size != int(declared):
                raise BrokenBody(f"download ended after {size} of {declared} bytes")
            downloaded = Downloaded(
                url, response.status_code, dict(response.headers), dest, size, sha256.hexdigest(), md5.hexdigest(),
                started, time.monotonic() - begun, attempt,
            )
            if verify is not None:
                verify(downloaded)
            self.stats.bytes += size
            return downloaded

        return self._with_retries("GET", url, None, read)

    def _with_retries(self, method: str, url: str, data: dict[str, str] | None, read: Callable[..., Any]) -> Any:
        last: _Failure | None = None
        for attempt in range(1, self.policy.attempts + 1):
            if last is not None:
                self._wait_before_retry(method, url, attempt, last)
            throttled = self.limiter.acquire()
            self.stats.throttled_s += throttled
            if throttled > 0.05:
                log.debug("rate limit: waited %.2fs before %s %s", throttled, method, url)
            started, begun = utc_now(), time.monotonic()
            self.stats.requests += 1
            try:
                response = self._session.request(method, url, data=data, timeout=self._timeout, stream=True)
            except TRANSPORT_ERRORS as error:
                last = _Failure(f"{type(error).__name__}: {error}")
                continue
            try:
                if response.status_code in RETRYABLE_STATUS:
                    response.content  # drain so the connection can be reused
                    last = _Failure(f"HTTP {response.status_code}", parse_retry_after(response.headers.get("Retry-After")))
                    continue
                if response.status_code >= 400:
                    raise HttpStatusError(method, url, response.status_code, _status_detail(response))
                return read(response, started, begun, attempt)
            except BrokenBody as error:
                last = _Failure(f"broken body: {error}")
            except TRANSPORT_ERRORS as error:
                last = _Failure(f"{type(error).__name__} while reading the body: {error}")
            finally:
                response.close()
        assert last is not None
        raise RetriesExhausted(
            f"{method} {url} failed {self.policy.attempts} times; last error: {last.reason}. "
            "Everything pulled so far is kept: run the same command again to resume."
        )

    def _wait_before_retry(self, method: str, url: str, attempt: int, failure: _Failure) -> None:
        if failure.retry_after is not None and failure.retry_after > self.policy.max_retry_after_s:
            raise RetriesExhausted(
                f"{method} {url}: {failure.reason}, and the server asks to wait {failure.retry_after:.0f}s "
                f"(more than the {self.policy.max_retry_after_s:.0f}s allowed). Run the same command later to resume."
            )
        if failure.retry_after is not None:
            delay, why = failure.retry_after, "as Retry-After asks"
        else:
            delay, why = self.policy.backoff(attempt - 1, self._rng), "backoff"
        log.info(
            "%s %s: %s; retry %d/%d in %.2fs (%s)",
            method, url, failure.reason, attempt - 1, self.policy.attempts - 1, delay, why,
        )
        self.stats.retries += 1
        self.stats.backoff_s += delay
        time.sleep(delay)

