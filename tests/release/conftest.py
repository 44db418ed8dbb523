"""Fixtures for the publish tests: the loopback Hub and its environment.

The Hub emulator (hub_emulator.py) reuses the pull tests' loopback server pieces (tests/sources/fake_services.py: fault
plan, request log, the handler that injects them), and their guard that fails any connection not to
127.0.0.1; that directory is not a package, hence the path entry.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCES = Path(__file__).resolve().parents[1] / "sources"
sys.path.insert(0, str(SOURCES))


def _sources_conftest():
    """tests/sources/conftest.py under a name of its own (pytest imports every conftest.py as `conftest`)."""
    spec = importlib.util.spec_from_file_location("sources_conftest", SOURCES / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


only_loopback = _sources_conftest().only_loopback  # autouse: fail any connection that is not to 127.0.0.1

from hub_emulator import TOKEN, HubServer  # noqa: E402


@pytest.fixture
def hub() -> Iterator[HubServer]:
    server = HubServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hub_env(hub: HubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HubServer:
    """HF_ENDPOINT at the emulator, HF_TOKEN set, and a Hugging Face home of the test's own."""
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return hub
