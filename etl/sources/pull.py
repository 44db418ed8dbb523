"""What every pull shares: a snapshot directory started or resumed, one polite client, a summary."""

from __future__ import annotations

from pathlib import Path

from etl.sources.http import HttpClient, RateLimit
from etl.sources.settings import PullSettings
from etl.sources.snapshot import PullObserver, PullSummary, SilentObserver, Snapshot


class Pull:
    """One pull into one snapshot directory; `run` starts or resumes it.

    A service sets `service`, `rate_limits()` and `pull(snapshot, client)`, which fetches
    what the snapshot still lacks and finishes it."""

    service = ""

    def __init__(self, snapshot_dir: Path, query, settings: PullSettings, observer: PullObserver | None = None) -> None:
        self.snapshot_dir = Path(snapshot_dir)
        self.query = query
        self.settings = settings
        self.observer = observer or SilentObserver()

    def rate_limits(self) -> list[RateLimit]:
        raise NotImplementedError

    def pull(self, snapshot: Snapshot, client: HttpClient) -> None:
        raise NotImplementedError

    def run(self) -> PullSummary:
        with Snapshot.start(self.snapshot_dir, self.service, self.query.as_manifest()) as snapshot:
            resumed_at = len(snapshot.requests)
            with HttpClient(self.settings, self.rate_limits()) as client:
                if not snapshot.complete:
                    self.pull(snapshot, client)
                return PullSummary.of(snapshot, client.stats, resumed_at)
