"""Fixtures of the catalogue tests: a real STAC API (``rustac serve``) and scripted servers."""

from __future__ import annotations

import contextlib
import json
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
    twl_items,
    with_absolute_hrefs,
    write_ndjson,
)
from tests.processes import free_port, stop

#: How long rustac may take to answer its landing page after start.
RUSTAC_START_TIMEOUT = 20.0


@pytest.fixture(scope="session")
def twl_absolute_ndjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 33TWL items with absolute hrefs, for a server that cannot know the file's folder."""
    folder = tmp_path_factory.mktemp("twl")
    items = [with_absolute_hrefs(item, TWL) for item in twl_items()]
    return write_ndjson(folder / "items.ndjson", items)


@contextlib.contextmanager
def rustac_serve(ndjson: Path, log: Path) -> Iterator[str]:
    """A real STAC API on loopback: ``rustac serve`` of the items of an ndjson file.

    rustac needs a collection for its items: ``--create-collections`` makes one from them
    (the items' own collection id). Its memory backend ignores ``query``, ``filter`` and
    ``sortby``, which is what the client-side filtering is tested against.
    """
    executable = shutil.which("rustac")
    if executable is None:
        pytest.fail("rustac is not installed: pip install -e '.[test]' brings it")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [executable, "serve", "--addr", f"127.0.0.1:{port}", "--create-collections",
             str(ndjson)],
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
            stop(process, timeout=5)


@pytest.fixture(scope="session")
def rustac_url(
    twl_absolute_ndjson: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``rustac serve`` of the real 33TWL items."""
    with rustac_serve(twl_absolute_ndjson, tmp_path_factory.mktemp("rustac") / "log") as url:
        yield url


@pytest.fixture(scope="session")
def demo_ndjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo catalogue (the embedded default's layout), relative hrefs."""
    from catalog.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo"), size_px=64)


@pytest.fixture(scope="session")
def demo_rustac_url(demo_ndjson: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[str]:
    """``rustac serve`` of the demo items, hrefs made absolute (a server knows no folder)."""
    items = [with_absolute_hrefs(json.loads(line), demo_ndjson.parent)
             for line in demo_ndjson.read_text().splitlines()]
    folder = tmp_path_factory.mktemp("demo-api")
    ndjson = write_ndjson(folder / "items.ndjson", items)
    with rustac_serve(ndjson, folder / "rustac.log") as url:
        yield url


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
