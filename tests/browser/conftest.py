"""A real headless Chromium (Debian's, driven by Playwright) against a real ``l3a serve``.

The server is the ``l3a serve`` command in a subprocess on a free loopback port with its own
``L3A_DATA_DIR`` (`tests.api.support.Server`). Screenshots go to ``artifacts/screenshots/``
at the repository root (git-ignored), for people and CI to look at.

The browser is offline whatever the machine: no host name resolves but localhost (as without
internet), so the default basemap, OpenStreetMap, always fails over to the page's offline
basemap, and no test ever asks a real tile server.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import ROOT, Server
from tests.browser.support import new_page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # No host name resolves but localhost: offline, as a machine without internet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def viewer_server(tmp_path_factory: pytest.TempPathFactory, demo: Path) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("browser-data"), demo).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, viewer_server: Server) -> Iterator[Any]:
    """A fresh page at 1400 x 900 on the test server (`new_page`)."""
    page = new_page(chromium, viewer_server.url)
    yield page
    page.context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
