"""The preview in a real browser: what an order would give, on the map before ordering.

The page draws the service's ``/preview`` tiles (computed on request from the demo catalogue)
as soon as the form has an area, a period and a method. Checked with pixels: inside the order's
area the map shows imagery, greens and browns, where the offline basemap shows its land.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from tests.api.support import Server
from tests.browser.support import (
    LAND,
    close_to,
    colour_near,
    map_shot,
    new_page,
    open_page,
    wait_for_preview,
    zoom_out_to,
)

pytestmark = pytest.mark.browser

#: The preview's lowest zoom (the service's ``L3A_PREVIEW_MIN_ZOOM``, 11 by default).
MIN_ZOOM = 11
HINT = f"Zoom in to see the preview (from zoom {MIN_ZOOM})"
JOB_TIMEOUT_MS = 120_000
#: The order's area outline (``OUTLINE`` of ``api/static/js/mapview.js``).
OUTLINE = (0xD9, 0x48, 0x0F)
Box = tuple[float, float, float, float]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory, demo: Path) -> Iterator[Server]:
    """A service of the module's own: its products are not in other tests' product lists."""
    server = Server(tmp_path_factory.mktemp("preview-data"), demo).start()
    yield server
    server.stop()


def preview_tiles(page: Any, **expected: Any) -> list[dict[str, str]]:
    """The queries (and ``z``) of the preview tiles the page asked for, with `expected`."""
    found = []
    for url in page.requests:
        parsed = urlparse(url)
        if "/preview/tiles/" not in parsed.path:
            continue
        query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
        query["z"] = parsed.path.split("/preview/tiles/")[1].split("/")[0]
        if all(query.get(key) == str(value) for key, value in expected.items()):
            found.append(query)
    return found


def wait_for_preview_tiles(page: Any, **expected: Any) -> None:
    """Wait until the page has asked for a preview tile with the `expected` query values."""
    deadline = time.monotonic() + 30
    while not preview_tiles(page, **expected):
        assert time.monotonic() < deadline, f"no preview tile with {expected} was asked for"
        page.wait_for_timeout(100)


def shown_preview(page: Any) -> dict[str, str]:
    """The query of the preview's tile URL on the map (``data-preview``)."""
    url = page.get_attribute("#map", "data-preview")
    assert url, "no preview on the map"
    return {key: values[0] for key, values in parse_qs(urlparse(url).query).items()}


def area_box(page: Any) -> Box:
    """The order's area outline on the map's screenshot: left, top, right, bottom (px)."""
    area = page.locator("path.order-area").bounding_box()
    frame = page.locator("#map").bounding_box()
    left, top = area["x"] - frame["x"], area["y"] - frame["y"]
    return left, top, left + area["width"], top + area["height"]


def grid(box: Box, n: int = 8, inset: float = 0.12) -> list[tuple[int, int]]:
    """n x n points spread inside `box`, clear of its edges by `inset` of its size."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    steps = [inset + (1 - 2 * inset) * i / (n - 1) for i in range(n)]
    return [(round(left + width * fx), round(top + height * fy)) for fx in steps for fy in steps]


def assert_imagery(shot: Image.Image, points: list[tuple[int, int]]) -> None:
    """The map shows imagery there: not the basemap's land, and both greens and browns."""
    colours = [colour_near(shot, xy) for xy in points]
    land = [c for c in colours if close_to(c, LAND, 12)]
    assert len(land) <= len(colours) // 10, land
    greens = [c for c in colours if c[1] > c[0] and c[1] > c[2]]
    browns = [c for c in colours if c[0] > c[1] > c[2]]
    assert greens and browns, colours
    assert len(set(colours)) >= len(colours) // 4, colours  # varied, not a flat colour


def assert_basemap(shot: Image.Image, points: list[tuple[int, int]]) -> None:
    """The map shows the offline basemap's land there, nothing over it."""
    colours = [colour_near(shot, xy) for xy in points]
    assert all(close_to(c, LAND) for c in colours), colours


def outline_on_top_edge(shot: Image.Image, box: Box) -> float:
    """The share of the area's top edge drawn in the outline's orange (its dashes)."""
    left, top, right, _ = box
    xs = range(round(left) + 2, round(right) - 2)
    return max(sum(close_to(shot.getpixel((x, y)), OUTLINE, 40) for x in xs) / len(xs)
               for y in range(round(top) - 2, round(top) + 3))


def test_the_preview_shows_before_any_order_and_follows_the_method(
        page: Any, screenshots: Path) -> None:
    open_page(page)
    page.wait_for_selector("#map[data-basemap=offline]")
    # The page zooms on the prefilled area, close enough for the preview (else zoom in).
    while int(page.get_attribute("#map", "data-zoom")) < MIN_ZOOM:
        page.click(".leaflet-control-zoom-in")
        page.wait_for_timeout(400)
    zoom = int(page.get_attribute("#map", "data-zoom"))
    assert page.is_checked("#preview")
    assert shown_preview(page) == {"period": "2024-07", "method": "synthesis", "layer": "rgb",
                                   "cloud_mask": "auto", "tilesize": "256"}
    wait_for_preview(page)
    asked = preview_tiles(page)
    assert asked and {(q["method"], q["period"], q["layer"], q["z"]) for q in asked} == {
        ("synthesis", "2024-07", "rgb", str(zoom))}
    # Nothing was ordered: what the map shows is the preview.
    assert not [url for url in page.requests if "execution" in url]
    assert page.is_hidden("#layer-box") and page.is_hidden("#preview-hint")
    page.wait_for_selector("#preview-status", state="hidden")  # "Computing the preview…"
    page.screenshot(path=screenshots / "12-preview-before-order.png")
    shot = map_shot(page)
    box = area_box(page)
    assert_imagery(shot, grid(box))
    # The order's area stays drawn over the preview.
    assert outline_on_top_edge(shot, box) > 0.3
    # The layers and legend are the products' (the same picker, the same legend code).
    layers = page.locator("#preview-layer option").evaluate_all("os => os.map(o => o.value)")
    assert layers[0] == "rgb" and {"falsecolor", "date", "weight", "flag"} <= set(layers)
    assert page.text_content("#preview-legend").startswith("Stretch 0 – 3000")

    # Two methods chosen in a row: the preview waits for the form to settle, and asks for the
    # last one only.
    page.evaluate("""() => {
        const method = document.getElementById('method');
        for (const value of ['composite', 'median']) {
            method.value = value;
            method.dispatchEvent(new Event('change'));
        }
    }""")
    page.wait_for_selector("#map[data-preview*='method=median']")
    wait_for_preview_tiles(page, method="median", layer="rgb")
    assert not [url for url in page.requests if "/preview/" in url and "composite" in url]
    layers = page.locator("#preview-layer option").evaluate_all("os => os.map(o => o.value)")
    assert "weight" not in layers and "count" in layers  # the median's own layers
    assert page.input_value("#preview-layer") == "rgb"
    wait_for_preview(page)
    page.screenshot(path=screenshots / "13-preview-median.png")
    assert_imagery(map_shot(page), grid(box))

    # A quality layer of the preview, with its legend drawn as a product's.
    page.select_option("#preview-layer", "count")
    wait_for_preview_tiles(page, method="median", layer="count")
    assert page.locator("#preview-legend .ramp").count() == 1

    # Unticked, the preview leaves the map: the basemap's land shows in the area again.
    page.uncheck("#preview")
    page.wait_for_selector("#map:not([data-preview])")
    assert page.locator(".tiles-preview").count() == 0
    assert page.is_hidden("#preview-details")
    shot = map_shot(page)
    assert_basemap(shot, grid(box))
    assert outline_on_top_edge(shot, box) > 0.3
    page.screenshot(path=screenshots / "14-preview-off.png")
    # Ticked again, it comes back as it was.
    page.check("#preview")
    page.wait_for_selector("#map[data-preview*='layer=count']")
    assert page.errors == []


def test_below_the_minimum_zoom_a_hint_says_to_zoom_in(page: Any, screenshots: Path) -> None:
    open_page(page)
    page.wait_for_selector("#map[data-preview]")
    zoom_out_to(page, MIN_ZOOM - 1)
    page.wait_for_selector("#preview-hint:visible")
    assert page.text_content("#preview-hint") == HINT
    assert page.locator(".tiles-preview img").count() == 0
    assert page.is_hidden("#preview-status")  # nothing computes for the map out there
    page.screenshot(path=screenshots / "15-preview-zoom-hint.png")
    # Leaflet asks nothing below the TileJSON's minzoom (the service would answer 204).
    assert not preview_tiles(page, z=MIN_ZOOM - 1)
    page.click(".leaflet-control-zoom-in")
    page.wait_for_selector(f"#map[data-zoom='{MIN_ZOOM}']")
    page.wait_for_selector("#preview-hint", state="hidden")
    wait_for_preview_tiles(page, z=MIN_ZOOM)
    # Unticked, the preview has nothing to say.
    zoom_out_to(page, MIN_ZOOM - 1)
    page.wait_for_selector("#preview-hint:visible")
    page.uncheck("#preview")
    assert page.is_hidden("#preview-hint")
    assert page.errors == []


def test_the_cloud_mask_rebuilds_it_and_a_refusal_shows_nothing(page: Any) -> None:
    # A service that refuses a cloud mask for previews (as the API would a mask it lacks).
    def refuse_maja(route: Any) -> None:
        if parse_qs(urlparse(route.request.url).query)["cloud_mask"] == ["maja"]:
            route.fulfill(status=422, content_type="application/problem+json", json={
                "title": "Invalid parameter", "status": 422, "field": "cloud_mask",
                "detail": "no maja masks here"})
        else:
            route.continue_()

    page.route("**/preview/tilejson.json?*", refuse_maja)
    open_page(page)
    page.wait_for_selector("#map[data-preview*='cloud_mask=auto']")
    page.click("details > summary")
    page.select_option("#cloud-mask", "scl")
    page.wait_for_selector("#map[data-preview*='cloud_mask=scl']")
    wait_for_preview_tiles(page, cloud_mask="scl")

    with page.expect_response(lambda r: "/preview/tilejson.json" in r.url and r.status == 422):
        page.select_option("#cloud-mask", "maja")
    page.wait_for_selector("#map:not([data-preview])")
    assert page.locator(".tiles-preview").count() == 0
    assert page.is_hidden("#preview-details") and page.is_hidden("#preview-hint")
    # The order form says nothing until an order: the preview did not speak for it.
    assert page.text_content("#order-error") == ""
    assert page.get_attribute("#cloud-mask", "aria-invalid") is None

    # The same for a period the API refuses (its end before its start).
    page.select_option("#cloud-mask", "auto")
    page.wait_for_selector("#map[data-preview*='cloud_mask=auto']")
    page.select_option("#period-kind", "custom")
    page.wait_for_selector("#map:not([data-preview])")  # an incomplete period: no preview
    page.fill("#period-start", "2024-07-20")
    with page.expect_response(lambda r: "/preview/" in r.url and r.status == 422):
        page.fill("#period-end", "2024-07-01")
    page.wait_for_timeout(500)
    assert page.get_attribute("#map", "data-preview") is None
    assert page.text_content("#order-error") == ""
    # Corrected, the preview is back, of the custom period.
    page.fill("#period-end", "2024-07-31")
    page.wait_for_selector("#map[data-preview]")
    assert shown_preview(page)["period"] == "2024-07-20/2024-07-31"
    wait_for_preview_tiles(page, period="2024-07-20/2024-07-31")
    assert page.errors == []


def test_a_product_draws_over_the_preview_which_can_still_be_unticked(
        chromium: Any, own_server: Server, screenshots: Path) -> None:
    page = new_page(chromium, own_server.url)
    try:
        product_over_preview(page, screenshots)
    finally:
        page.context.close()


def product_over_preview(page: Any, screenshots: Path) -> None:
    # The prefilled order, as it is: the product comes where the page opened.
    open_page(page)
    page.click("#order")
    page.wait_for_selector("#job[data-status=successful]", timeout=JOB_TIMEOUT_MS)
    page.wait_for_selector("#products li.current")
    page.wait_for_selector("#layer-box:visible")
    page.wait_for_function(
        """() => {
            const tiles = [...document.querySelectorAll('.tiles-bottom img')];
            return tiles.some(t => t.classList.contains('leaflet-tile-loaded'))
                && tiles.every(t => t.complete && getComputedStyle(t).opacity === '1');
        }""")
    # The preview stays, for the ordered method, under the product.
    assert shown_preview(page)["method"] == "synthesis"
    z = page.evaluate("() => Object.fromEntries(['preview', 'bottom', 'overlay'].map(p => [p, "
                      "Number(getComputedStyle(document.querySelector(`.leaflet-${p}-pane`))"
                      ".zIndex)]))")
    assert z["preview"] < z["bottom"] < z["overlay"]
    wait_for_preview(page)
    page.screenshot(path=screenshots / "16-product-over-preview.png")
    shot = map_shot(page)
    box = area_box(page)
    inside = grid(box)
    # Left of the product (clear of its edge and of the map's controls), the preview.
    assert box[0] >= 120, box
    outside = [(x, round(shot.height * f)) for x in range(40, round(box[0]) - 40, 20)
               for f in (0.3, 0.45, 0.6)]
    assert_imagery(shot, inside)
    assert_imagery(shot, outside)

    page.uncheck("#preview")
    page.wait_for_selector("#map:not([data-preview])")
    shot = map_shot(page)
    page.screenshot(path=screenshots / "17-product-preview-off.png")
    assert_imagery(shot, inside)  # the product, still there
    assert_basemap(shot, outside)
    assert page.errors == []
