"""Fixtures for the pull tests: the fake services' data and server, and a network guard.

The server (fake_services.py) serves pages built from the real records in ../shared/data;
the guard fails any test that tries to connect anywhere but 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_services import SourceData, SourceServer, pubchem_data, uniprot_entries


@pytest.fixture(scope="session")
def source_data(shared_data: Path) -> SourceData:
    return SourceData(uniprot_entries(shared_data), pubchem_data(shared_data))


@pytest.fixture
def source_server(source_data: SourceData) -> Iterator[SourceServer]:
    server = SourceServer(source_data)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that is not to 127.0.0.1, and keep proxies out of the way."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    original = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"test tried to reach {address}; only 127.0.0.1 is allowed")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
