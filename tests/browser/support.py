"""Pages of the browser tests, recording what they ask, and what their maps show."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from PIL import Image

#: The offline basemap's colours (``OFFLINE_COLOURS`` of ``api/static/js/basemap.js``).
LAND = (0xF3, 0xEF, 0xE6)
SEA = (0xC6, 0xDB, 0xEA)
#: Preview tiles are computed on request: a map's twenty take a small machine many seconds.
PREVIEW_TIMEOUT_MS = 120_000


def new_page(chromium: Any, base_url: str, width: int = 1400, height: int = 900) -> Any:
    """A fresh page in its own context (close ``page.context``) that records what it asked
    and any script error."""
    context = chromium.new_context(viewport={"width": width, "height": height},
                                   base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.errors = []
    page.requests = []
    page.tile_responses = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("response", lambda response: page.tile_responses.append(
        (response.status, response.url)) if "/tiles/tiles/" in response.url else None)
    return page


def open_page(page: Any) -> None:
    """Open the page and wait until it is ready to use (its forms filled)."""
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")


def wait_for_preview(page: Any) -> None:
    """Wait until the preview's tiles in view are answered and faded in (for pixels)."""
    page.wait_for_function(
        """() => {
            const tiles = [...document.querySelectorAll('.tiles-preview img')];
            return tiles.length && tiles.every(t => t.dataset.queued === 'done'
                && getComputedStyle(t).opacity === '1');
        }""", timeout=PREVIEW_TIMEOUT_MS)


def zoom_out_to(page: Any, zoom: int) -> None:
    """Zoom out with the map's own button, one level at a time, as a user does."""
    while (now := int(page.get_attribute("#map", "data-zoom"))) > zoom:
        page.click(".leaflet-control-zoom-out")
        page.wait_for_selector(f"#map[data-zoom='{now - 1}']")
    page.wait_for_function("() => !document.querySelector('.leaflet-zoom-anim')")


def map_shot(page: Any) -> Image.Image:
    return Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")


def colour_near(shot: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    """The most common colour of the 7 x 7 px around `xy` (clear of a line or a label)."""
    x, y = xy
    assert 3 <= x < shot.width - 3 and 3 <= y < shot.height - 3, (xy, shot.size)
    pixels = [shot.getpixel((i, j)) for i in range(x - 3, x + 4) for j in range(y - 3, y + 4)]
    return Counter(pixels).most_common(1)[0][0]


def close_to(colour: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 4) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))
