"""The HTTP client: retries, backoff, Retry-After, body checks, rate limits and User-Agent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from fake_services import SourceServer, fast_settings

from etl.sources.http import HttpClient, HttpStatusError, RateLimiter, RetriesExhausted, RetryPolicy, parse_retry_after
from etl.sources.settings import PullSettings, RateLimit

PAGE = "/uniprotkb/search?query=reviewed%3Atrue&format=json&size=5"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _max_in_window(times: list[float], window: float, slack: float = 0.0) -> int:
    """The most timestamps that fall in any half-open interval of `window - slack` seconds."""
    return max(sum(1 for t in times[i:] if t < start + window - slack) for i, start in enumerate(times))


def test_rate_limiter_keeps_every_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(requests=5, per_seconds=1), RateLimit(requests=8, per_seconds=3)], clock, clock.sleep)
    times = []
    for _ in range(40):
        limiter.acquire()
        times.append(clock.now)
    assert _max_in_window(times, 1.0) == 5
    assert _max_in_window(times, 3.0) == 8
    # both windows bind, and no request waits longer than they require
    assert times[5] == pytest.approx(1.0) and times[8] == pytest.approx(3.0)


def test_pubchem_policy_is_the_default() -> None:
    limits = [(limit.requests, limit.per_seconds) for limit in PullSettings().pubchem_limits]
    assert limits == [(5, 1.0), (400, 60.0)]


def test_backoff_grows_exponentially_with_jitter_under_the_cap() -> None:
    policy = RetryPolicy(attempts=8, backoff_base_s=1.0, backoff_cap_s=8.0, max_retry_after_s=60)
    rng = random.Random(7)
    for failures in range(1, 8):
        step = min(8.0, 2.0 ** (failures - 1))
        delays = {policy.backoff(failures, rng) for _ in range(50)}
        assert all(step / 2 <= delay <= step for delay in delays)
        assert len(delays) > 1  # jittered


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2024, 5, 14, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == pytest.approx(30)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def _client(**overrides: object) -> HttpClient:
    settings = fast_settings(**overrides)
    return HttpClient(settings, settings.uniprot_limits, rng=random.Random(1))


@pytest.mark.parametrize("fault", ["500", "502", "503", "504", "reset", "truncate", "gzip_truncated", "slow"])
def test_transient_faults_are_retried_to_the_same_body(source_server: SourceServer, fault: str) -> None:
    with _client() as client:
        expected = client.get(source_server.url + PAGE).body
        source_server.faults.once("format=json", fault)
        fetched = client.get(source_server.url + PAGE)
    assert fetched.body == expected
    assert fetched.attempts == 2 and client.stats.retries == 1
    assert [hit.fault for hit in source_server.hits_for("format=json")] == [None, fault, None]


def test_429_waits_as_long_as_retry_after_says(source_server: SourceServer) -> None:
    source_server.faults.once("format=json", "429")
    with _client() as client:
        client.get(source_server.url + PAGE)
    first, second = source_server.hits_for("format=json")
    assert first.fault == "429"
    assert second.time - first.time >= 0.98  # Retry-After: 1, backoff alone would be ~0.01s


def test_a_page_that_never_stops_failing_gives_up_with_a_clear_message(source_server: SourceServer) -> None:
    source_server.faults.always("format=json", "503")
    with _client(attempts=3) as client, pytest.raises(RetriesExhausted, match=r"failed 3 times; last error: HTTP 503.*resume"):
        client.get(source_server.url + PAGE)
    assert len(source_server.hits_for("format=json")) == 3


def test_a_retry_after_beyond_the_limit_stops_instead_of_waiting(source_server: SourceServer) -> None:
    source_server.faults.always("format=json", "429")
    with _client(max_retry_after_s=0.5) as client, pytest.raises(RetriesExhausted, match="asks to wait 1s"):
        client.get(source_server.url + PAGE)
    assert len(source_server.hits_for("format=json")) == 1


def test_client_errors_are_not_retried(source_server: SourceServer) -> None:
    with _client() as client, pytest.raises(HttpStatusError, match="HTTP 404") as error:
        client.get(source_server.url + "/no/such/route")
    assert error.value.status == 404
    assert len(source_server.hits_for("/no/such/route")) == 1


def test_user_agent_names_lifeqa_and_the_contact(source_server: SourceServer) -> None:
    with _client(contact="curator@example.org") as client:
        client.get(source_server.url + PAGE)
    agent = source_server.hits[0].headers["User-Agent"]
    assert agent.startswith("lifeqa/") and "mailto:curator@example.org" in agent


def test_rate_limit_seen_from_the_server(source_server: SourceServer) -> None:
    limits = [RateLimit(requests=3, per_seconds=0.4), RateLimit(requests=5, per_seconds=1.0)]
    with _client(uniprot_limits=limits) as client:
        for _ in range(11):
            client.get(source_server.url + PAGE)
    times = [hit.time for hit in source_server.hits]
    # Arrival times jitter by a few milliseconds against send times; allow 30 ms of slack.
    assert _max_in_window(times, 0.4, slack=0.03) <= 3
    assert _max_in_window(times, 1.0, slack=0.03) <= 5
    assert times[-1] - times[0] >= 1.9  # 11 requests at 5 per second need two full windows


def test_nothing_beyond_loopback_is_reachable_from_the_tests() -> None:
    import socket

    with socket.socket() as sock, pytest.raises(AssertionError, match="only 127.0.0.1"):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: would be the network
