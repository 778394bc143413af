"""Fixtures of the catalogue tests: a real STAC API (``rustac serve``) and scripted servers."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.catalog._support import (
    TWL,
    FakeApi,
    SilentServer,
    free_port,
    twl_items,
    with_absolute_hrefs,
    write_ndjson,
)

#: How long rustac may take to answer its landing page after start.
RUSTAC_START_TIMEOUT = 20.0


@pytest.fixture(scope="session")
def twl_absolute_ndjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 33TWL items with absolute hrefs, for a server that cannot know the file's folder."""
    folder = tmp_path_factory.mktemp("twl")
    items = [with_absolute_hrefs(item, TWL) for item in twl_items()]
    return write_ndjson(folder / "items.ndjson", items)


@pytest.fixture(scope="session")
def rustac_url(
    twl_absolute_ndjson: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real STAC API on loopback: ``rustac serve`` of the 33TWL items.

    rustac needs a collection for its items: ``--create-collections`` makes one from them
    (``sentinel-2-l2a``, the items' own collection id). Its memory backend ignores ``query``,
    ``filter`` and ``sortby``, which is what the client-side filtering is tested against.
    """
    executable = shutil.which("rustac")
    if executable is None:
        pytest.skip("rustac is not installed (pip install rustac)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("rustac") / "rustac.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                executable,
                "serve",
                "--addr",
                f"127.0.0.1:{port}",
                "--create-collections",
                str(twl_absolute_ndjson),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + RUSTAC_START_TIMEOUT
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"rustac serve exited with {process.returncode}: "
                        f"{log.read_text(errors='replace')}"
                    )
                try:
                    with urllib.request.urlopen(url, timeout=1) as answer:
                        if answer.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"rustac serve did not answer on {url} within {RUSTAC_START_TIMEOUT} s"
                    )
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """A scripted STAC API on loopback (see `FakeApi`)."""
    with FakeApi() as api:
        yield api


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback server that accepts connections and never answers."""
    with SilentServer() as server:
        yield server.url


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}"
