"""A product built in parts, in the page: one layer on the map, the parts among the downloads.

A server of its own with ``L3A_PART_SIZE=512`` builds an order of about 640 x 610 px at 20 m
in 2 x 2 parts (`engine.parts`). The map shows the product as one layer; the downloads list
each layer's mosaic and its parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from catalog.demo import DEMO_BBOX
from tests.api.support import Server
from tests.browser.support import map_shot, new_page, open_page
from tests.browser.test_viewer import enter_area, order_and_wait, tile_statuses

pytestmark = pytest.mark.browser

#: About 12.9 x 12.2 km of the demo: wider and taller than one part of 512 px at 20 m.
AREA = [round(DEMO_BBOX[0] + 0.03, 4), round(DEMO_BBOX[1] + 0.03, 4),
        round(DEMO_BBOX[0] + 0.19, 4), round(DEMO_BBOX[1] + 0.14, 4)]


@pytest.fixture(scope="module")
def parts_page(chromium: Any, tmp_path_factory: pytest.TempPathFactory,
               demo: Path) -> Iterator[Any]:
    server = Server(tmp_path_factory.mktemp("browser-parts"), demo, part_size="512").start()
    page = new_page(chromium, server.url)
    try:
        yield page
    finally:
        page.context.close()
        server.stop()


def test_a_product_in_parts_is_one_layer_with_its_parts_to_download(
        parts_page: Any, screenshots: Path) -> None:
    page = parts_page
    open_page(page)
    enter_area(page, AREA)
    product = order_and_wait(page, "synthesis")
    statuses = tile_statuses(page, product)
    assert statuses and set(statuses) <= {200}
    # One layer: the page asked for the product's tiles, never for a part of it.
    assert not [url for url in page.requests if ".r0c" in url or ".r1c" in url]
    shot = np.asarray(map_shot(page).convert("RGB"), dtype=float)
    assert shot.std() > 10, "the map shows imagery, not a blank pane"

    lines = page.locator("#downloads li.parted").all_text_contents()
    red = next(line for line in lines if line.startswith("red"))
    assert red == "red (mosaic) · parts: r0c0 r0c1 r1c0 r1c1"
    hrefs = page.locator("#downloads li.parted a").evaluate_all("as => as.map(a => a.href)")
    assert any(h.endswith(f"/products/{product}/assets/red.r1c1") for h in hrefs)
    assert any(h.endswith(f"/products/{product}/assets/red") for h in hrefs)
    assert page.errors == []
    page.screenshot(path=screenshots / "09-product-in-parts.png")
