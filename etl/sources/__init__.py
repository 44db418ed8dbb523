"""Pulling raw data from UniProt and PubChem into immutable, resumable snapshots.

`http` is the polite client (rate limits, retries, timeouts), `snapshot` the store and
its read API for the builds, `uniprot` and `pubchem` the pulls, `commands` the CLI.
"""

from etl.sources.snapshot import Snapshot, SnapshotError, is_snapshot

__all__ = ["Snapshot", "SnapshotError", "is_snapshot"]
