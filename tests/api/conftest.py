"""Session fixtures: the shared server most tests talk to (the demo is `tests.conftest`'s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.support import Server


@pytest.fixture(scope="session")
def make_server(tmp_path_factory: pytest.TempPathFactory, demo: Path) -> Iterator[
        type[Server]]:
    """Start extra servers (each on its own data dir); all are stopped at the end."""
    started: list[Server] = []

    class Factory(Server):
        def __init__(self, name: str, **settings: str) -> None:
            super().__init__(tmp_path_factory.mktemp(name), demo, **settings)
            started.append(self)

    yield Factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(make_server: type[Server]) -> Server:
    """The shared server: default settings (1 worker, queue of 16)."""
    return make_server("main").start()


@pytest.fixture(scope="session")
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
