"""The web page in a real browser: order, watch, view and compare mosaics, offline."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from PIL import Image

from catalog.demo import DEMO_BBOX
from tests.api.support import Server
from tests.browser.support import new_page, open_page, wait_for_preview

pytestmark = pytest.mark.browser

#: A ~3 x 2.5 km area of the demo that no other browser test orders.
AREA = [round(DEMO_BBOX[0] + 0.12, 4), round(DEMO_BBOX[1] + 0.08, 4),
        round(DEMO_BBOX[0] + 0.16, 4), round(DEMO_BBOX[1] + 0.105, 4)]
JOB_TIMEOUT_MS = 120_000
#: The id of the product the list highlights (the one on the map), or null.
CURRENT_PRODUCT = ("() => document.querySelector('#products li.current')"
                   "?.dataset.productId ?? null")


def enter_area(page: Any, bbox: list[float]) -> None:
    for name, value in zip(("west", "south", "east", "north"), bbox, strict=True):
        page.fill(f"#{name}", str(value))


def order_and_wait(page: Any, method: str) -> str:
    """Order, wait for the job and for its product's tiles; return the product id."""
    before = page.evaluate(CURRENT_PRODUCT)
    page.select_option("#method", method)
    page.select_option("#resolution", "20")
    page.click("#order")
    page.wait_for_selector("#job[data-status=successful]", timeout=JOB_TIMEOUT_MS)
    # The page then shows the new product: wait until the list highlights it (while the list
    # is redrawn no item is current: null is not the new product).
    page.wait_for_function(
        f"before => {{ const now = ({CURRENT_PRODUCT})(); "
        "return now !== null && now !== before; }", arg=before)
    product = str(page.evaluate(CURRENT_PRODUCT))
    # The pane may still show the previous product's tiles: wait for the new one's first.
    deadline = time.monotonic() + 30
    while not tile_statuses(page, product):
        assert time.monotonic() < deadline, f"no tile of {product} was answered in 30 s"
        page.wait_for_timeout(100)
    wait_for_tiles(page, "bottom")
    return product


def wait_for_tiles(page: Any, pane: str) -> None:
    """Wait until the pane shows tiles, none still loading or fading in (for screenshots)."""
    page.wait_for_function(
        """pane => {
            const tiles = [...document.querySelectorAll(`.tiles-${pane} img`)];
            return tiles.some(t => t.classList.contains('leaflet-tile-loaded'))
                && tiles.every(t => t.complete && getComputedStyle(t).opacity === '1');
        }""", arg=pane)


def tile_statuses(page: Any, product_id: str) -> list[int]:
    return [status for status, url in page.tile_responses if f"/products/{product_id}/" in url]


def refuse_orders(page: Any, problem: dict[str, str]) -> list[dict[str, Any]]:
    """Answer the page's orders as the API answers a bad one (422, no job); return them."""
    sent: list[dict[str, Any]] = []

    def refuse(route: Any) -> None:
        sent.append(route.request.post_data_json)
        route.fulfill(status=422, content_type="application/problem+json",
                      body=json.dumps({"title": "Invalid", "status": 422, **problem}))

    page.route("**/processes/mosaic/execution", refuse)
    return sent


def test_the_page_works_offline_with_the_demo_prefilled(page: Any, screenshots: Path) -> None:
    open_page(page)
    west, south, east, north = (float(page.input_value(f"#{n}"))
                                for n in ("west", "south", "east", "north"))
    assert DEMO_BBOX[0] < west < east < DEMO_BBOX[2]
    assert DEMO_BBOX[1] < south < north < DEMO_BBOX[3]
    assert page.input_value("#period-month") == "2024-07"
    methods = page.locator("#method option").all_text_contents()
    assert {"synthesis", "composite", "median", "q25"} <= set(methods)
    # Everything the page loaded came from the service itself (no CDN), but the basemap's
    # tiles: OpenStreetMap's by default, which fail here (offline), so the page draws its own.
    page.wait_for_selector("#map[data-basemap=offline]")
    wait_for_preview(page)  # the preview of the prefilled order, from the service too
    hosts = {urlparse(url).netloc for url in page.requests if url.startswith("http")}
    assert hosts == {urlparse(page.url).netloc, "tile.openstreetmap.org"}
    assert page.errors == []
    page.screenshot(path=screenshots / "01-page.png")


def test_order_watch_view_and_compare_two_methods(page: Any, screenshots: Path) -> None:
    open_page(page)
    enter_area(page, AREA)

    synthesis = order_and_wait(page, "synthesis")
    assert page.locator("#job-progress").evaluate("p => p.value") == 100
    assert tile_statuses(page, synthesis) and set(tile_statuses(page, synthesis)) <= {200}
    downloads = page.locator("#downloads a").all_text_contents()
    assert {"red", "green", "blue", "weight", "date", "flag", "count", "STAC item"} <= set(
        downloads)
    page.screenshot(path=screenshots / "02-synthesis.png")
    page.select_option("#layer", "flag")
    page.wait_for_selector("#map[data-layer=flag]")
    wait_for_tiles(page, "bottom")
    assert page.locator("#legend .classes li").all_text_contents() == [
        "cloud", "snow", "water", "land"]
    page.screenshot(path=screenshots / "02-synthesis-flag.png")

    composite = order_and_wait(page, "composite")
    assert composite != synthesis
    assert set(tile_statuses(page, composite)) == {200}

    # The two newest products are proposed for the comparison, the older on the left.
    assert page.input_value("#compare-left") == synthesis
    assert page.input_value("#compare-right") == composite
    page.click("#compare-start")
    wait_for_tiles(page, "bottom")
    wait_for_tiles(page, "top")
    # The swipe compares the two products alone: the preview, under both, is hidden meanwhile
    # (where a product has no data it would show through and pass for it).
    page.wait_for_selector("#map:not([data-preview])")
    assert page.text_content("#preview-hint") == "Hidden while comparing two products"
    assert page.is_hidden("#preview-details")
    page.locator("#swipe-range").evaluate(
        "r => { r.value = 35; r.dispatchEvent(new Event('input')); }")
    clip = page.evaluate("() => document.querySelector('.leaflet-top-pane').style.clip")
    assert clip.startswith("rect(")
    # The divider sits at 35 % of the map: the top pane's clip starts there.
    left_edge = float(clip.removeprefix("rect(").split(",")[3].strip().removesuffix("px)"))
    nw_x = page.evaluate("() => document.querySelector('.leaflet-map-pane')"
                         ".getBoundingClientRect().x - document.getElementById('map')"
                         ".getBoundingClientRect().x")
    map_width = page.locator("#map").bounding_box()["width"]
    assert left_edge + nw_x == pytest.approx(0.35 * map_width, abs=2)
    # The left product is clipped at the same line: right of it, with the right product
    # hidden, the map's background shows, not the left product (pixels, both sides).
    bottom = page.evaluate("() => document.querySelector('.leaflet-bottom-pane').style.clip")
    right_edge = float(bottom.removeprefix("rect(").split(",")[1].strip().removesuffix("px"))
    assert right_edge == pytest.approx(left_edge, abs=0.01)
    page.screenshot(path=screenshots / "03-swipe-rgb.png")
    page.evaluate("() => { document.querySelector('.leaflet-top-pane').style.visibility"
                  " = 'hidden'; }")
    shot = Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")
    # The same view with the left product unclipped: its imagery is there right of the line.
    page.evaluate("() => { document.querySelector('.leaflet-bottom-pane').style.clip = ''; }")
    unclipped = Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")
    page.evaluate("() => { document.querySelector('.leaflet-top-pane').style.visibility"
                  " = ''; }")
    page.locator("#swipe-range").evaluate("r => r.dispatchEvent(new Event('input'))")
    box = page.evaluate("() => { const m = document.getElementById('map')"
                        ".getBoundingClientRect(); const t = [...document.querySelectorAll("
                        "'.tiles-bottom img')].map(i => i.getBoundingClientRect()); return "
                        "{top: Math.max(...t.map(r => r.top)) - m.top, bottom: Math.min("
                        "...t.map(r => r.bottom)) - m.top}; }")
    row = int((max(box["top"], 0) + min(box["bottom"], shot.height)) / 2)
    divider = 0.35 * shot.width
    background = shot.getpixel((shot.width - 3, 3))
    left_side = [shot.getpixel((int(divider * f), row)) for f in (0.6, 0.8, 0.95)]
    right_side = [shot.getpixel((int(divider + (shot.width - divider) * f), row))
                  for f in (0.05, 0.2, 0.4)]
    assert all(p == background for p in right_side), (right_side, background)
    assert any(p != background for p in left_side), (left_side, background)
    assert all(unclipped.getpixel((int(divider + (shot.width - divider) * f), row))
               != background for f in (0.05, 0.2, 0.4))

    # Over imagery, the products' outlines are off unless asked for.
    outlines = "() => document.querySelectorAll('.leaflet-overlay-pane path.footprint').length"
    assert page.evaluate(outlines) == 0
    page.check("#footprints")
    products = page.locator("#products li").count()
    assert products >= 2 and page.evaluate(outlines) == products
    page.uncheck("#footprints")
    assert page.evaluate(outlines) == 0

    page.select_option("#layer", "date")
    page.wait_for_selector("#map[data-layer=date]")
    wait_for_tiles(page, "bottom")
    wait_for_tiles(page, "top")
    assert page.locator("#legend .ramp").count() == 1
    page.screenshot(path=screenshots / "04-swipe-date.png")
    statuses = [status for status, _ in page.tile_responses]
    assert statuses and set(statuses) <= {200, 204}
    # On a map that shows no product, the outlines say where products are.
    open_page(page)
    page.wait_for_function(f"() => ({outlines})() === {products}")
    assert page.errors == []


def test_draw_the_area_on_the_map(page: Any) -> None:
    open_page(page)
    page.click("#draw")
    assert page.get_attribute("#draw", "aria-pressed") == "true"
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 500, box["y"] + 350, steps=5)
    page.mouse.up()
    west, south, east, north = (float(page.input_value(f"#{n}"))
                                for n in ("west", "south", "east", "north"))
    assert west < east and south < north
    assert page.get_attribute("#draw", "aria-pressed") == "false"
    # Two clicks draw one too.
    page.click("#draw")
    page.mouse.click(box["x"] + 200, box["y"] + 150)
    page.mouse.click(box["x"] + 260, box["y"] + 260)
    assert float(page.input_value("#east")) - float(page.input_value("#west")) > 0
    assert float(page.input_value("#west")) < west


def test_a_refused_order_points_at_the_input(page: Any) -> None:
    open_page(page)
    enter_area(page, [AREA[2], AREA[1], AREA[0], AREA[3]])  # west east swapped
    page.click("#order")
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    assert page.text_content("#order-error").strip()  # the problem's detail, shown
    assert page.get_attribute("#west", "aria-invalid") == "true"
    assert page.is_hidden("#job")
    # A valid area typed next clears the stale error and the mark on the input (issue 16).
    enter_area(page, AREA)
    page.wait_for_function("() => !document.getElementById('order-error').textContent")
    assert page.get_attribute("#west", "aria-invalid") is None


@pytest.mark.parametrize(("kind", "fill", "expected"), [
    ("month", {"#period-month": "2024-07"}, "2024-07"),
    ("quarter", {"#period-quarter-year": "2024", "#period-quarter": "Q3"}, "2024-Q3"),
    ("year", {"#period-year": "2024"}, "2024"),
    ("custom", {"#period-start": "2024-07-01", "#period-end": "2024-07-20"},
     "2024-07-01/2024-07-20"),
])
def test_the_period_picker_speaks_the_apis_periods(page: Any, kind: str, fill: dict[str, str],
                                                   expected: str) -> None:
    sent = refuse_orders(page, {"detail": "seen"})
    open_page(page)
    page.select_option("#period-kind", kind)
    for selector, value in fill.items():
        if selector == "#period-quarter":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#order")
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    assert sent[0]["inputs"]["period"] == expected
    assert sent[0]["inputs"]["resolution"] == 20
    assert sent[0]["inputs"]["bands"] == ["blue", "green", "red", "nir"]


def test_the_cloud_mask_picker_offers_the_chains_and_sends_the_choice(
        page: Any, screenshots: Path) -> None:
    sent = refuse_orders(page, {"detail": "seen", "field": "cloud_mask"})
    open_page(page)
    options = page.locator("#cloud-mask option").all_text_contents()
    assert options[0] == "auto" and {"scl", "scl+cnn", "scl+cnn+temporal+haze", "maja"} <= set(
        options)
    assert page.input_value("#cloud-mask") == "auto"
    assert page.is_hidden("#cloud-mask")  # folded under "More" until asked for
    page.click("details > summary")
    page.select_option("#cloud-mask", "scl+cnn")
    help_text = page.text_content("#cloud-mask-help")
    assert "scl: " in help_text and "cnn: " in help_text
    page.screenshot(path=screenshots / "05-cloud-mask.png")
    page.click("#order")
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    assert sent[0]["inputs"]["cloud_mask"] == "scl+cnn"
    # The API's refusal names the input: the page marks the picker.
    assert page.get_attribute("#cloud-mask", "aria-invalid") == "true"


def test_an_untouched_picker_sends_auto_and_a_folded_refusal_unfolds(page: Any) -> None:
    sent = refuse_orders(page, {"detail": "no maja here", "field": "cloud_mask"})
    open_page(page)
    page.click("#order")
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    assert sent[0]["inputs"]["cloud_mask"] == "auto"
    assert page.is_visible("#cloud-mask")  # "More" opened to show the input at fault
    assert page.text_content("#order-error") == "no maja here"


def test_the_jobs_progress_sits_beside_the_order_button(
        chromium: Any, viewer_server: Server, screenshots: Path) -> None:
    # A laptop's screen; a job that stays at 40 % (the service's answers, replayed).
    page = new_page(chromium, viewer_server.url, width=1280, height=800)
    running = {"jobID": "job-at-40", "processID": "mosaic", "type": "process",
               "status": "running", "progress": 40, "message": "reading scenes"}
    page.route("**/processes/mosaic/execution", lambda route: route.fulfill(
        status=201, json=running, headers={"Location": "jobs/job-at-40"}))
    page.route("**/jobs/job-at-40", lambda route: route.fulfill(json=running))
    try:
        open_page(page)
        page.click("#order")
        page.wait_for_selector("#job[data-status=running]")
        assert page.text_content("#job-status").startswith("Computing (40 %)")
        order, progress, status = (page.locator(s).bounding_box()
                                   for s in ("#order", "#job-progress", "#job-status"))
        # On the button's row, right of it ...
        assert progress["x"] >= order["x"] + order["width"]
        assert order["y"] <= progress["y"] + progress["height"] / 2 <= order["y"] + order[
            "height"]
        # ... and seen without scrolling.
        assert page.evaluate("() => [window.scrollY, document.querySelector('.panel')"
                             ".scrollTop]") == [0, 0]
        for box in (order, progress, status):
            assert box["y"] >= 0 and box["y"] + box["height"] <= 800, box
        page.screenshot(path=screenshots / "09-progress-beside-order.png")
    finally:
        page.context.close()


def draw_polygon(page: Any, corners: list[tuple[int, int]]) -> None:
    """Click the corners on the map (px from its top left), then the first again to close."""
    box = page.locator("#map").bounding_box()
    page.click("#draw-polygon")
    for x, y in [*corners, corners[0]]:
        page.mouse.click(box["x"] + x, box["y"] + y)


def test_drawing_a_valid_area_clears_a_stale_error(page: Any) -> None:
    open_page(page)
    enter_area(page, [AREA[2], AREA[1], AREA[0], AREA[3]])  # west east swapped: the API's 422
    page.click("#order")
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    assert page.get_attribute("#west", "aria-invalid") == "true"
    box = page.locator("#map").bounding_box()
    page.click("#draw")
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 450, box["y"] + 320, steps=5)
    page.mouse.up()
    assert page.text_content("#order-error") == ""
    assert page.get_attribute("#west", "aria-invalid") is None
    # The same after a polygon, with the API's refusal naming the geometry.
    refuse_orders(page, {"detail": "not that polygon", "field": "geometry"})
    draw_polygon(page, [(300, 200), (480, 220), (420, 360)])
    page.click("#order")
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    assert page.get_attribute("#draw-polygon", "aria-invalid") == "true"
    draw_polygon(page, [(320, 210), (470, 230), (400, 340)])
    assert page.text_content("#order-error") == ""
    assert page.get_attribute("#draw-polygon", "aria-invalid") is None


def test_a_bow_tie_polygon_is_refused_in_the_page(page: Any, screenshots: Path) -> None:
    sent = refuse_orders(page, {"detail": "seen"})
    open_page(page)
    before = [page.input_value(f"#{n}") for n in ("west", "south", "east", "north")]
    # Two edges cross: (300, 200)-(500, 350) and (500, 200)-(300, 350).
    draw_polygon(page, [(300, 200), (500, 350), (500, 200), (300, 350)])
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    assert "crosses itself" in page.text_content("#order-error")
    assert page.get_attribute("#draw-polygon", "aria-invalid") == "true"
    assert page.get_attribute("#draw-polygon", "aria-pressed") == "false"
    page.screenshot(path=screenshots / "10-bow-tie-refused.png")
    # Refused before any request, and the area is still the one before.
    assert not [url for url in page.requests if "execution" in url] and sent == []
    assert [page.input_value(f"#{n}") for n in ("west", "south", "east", "north")] == before
    assert page.is_hidden("#polygon-note")

    # A polygon whose edges do not cross is the order's area, sent as its geometry.
    draw_polygon(page, [(300, 200), (500, 200), (520, 350), (280, 380)])
    assert page.text_content("#order-error") == ""
    assert page.is_visible("#polygon-note")
    page.screenshot(path=screenshots / "11-polygon-drawn.png")
    page.click("#order")
    page.wait_for_function("() => document.getElementById('order-error').textContent")
    inputs = sent[0]["inputs"]
    assert "bbox" not in inputs and inputs["geometry"]["type"] == "Polygon"
    ring = inputs["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    bounds = [float(page.input_value(f"#{n}")) for n in ("west", "south", "east", "north")]
    assert bounds == [min(p[0] for p in ring), min(p[1] for p in ring),
                      max(p[0] for p in ring), max(p[1] for p in ring)]
    # Typing the area again makes it a rectangle.
    page.fill("#north", str(bounds[3] + 0.001))
    page.dispatch_event("#north", "change")
    assert page.is_hidden("#polygon-note")


def test_a_polygon_drawn_on_the_map_is_ordered(page: Any) -> None:
    open_page(page)
    draw_polygon(page, [(420, 260), (560, 240), (600, 380), (450, 400)])
    page.select_option("#method", "composite")
    page.click("#order")
    page.wait_for_selector("#job[data-status=successful]", timeout=JOB_TIMEOUT_MS)
    page.wait_for_selector("#products li.current")
    product = page.evaluate(CURRENT_PRODUCT)
    item = page.evaluate("id => fetch(`products/${id}`).then(r => r.json())", product)
    assert item["geometry"]["type"] == "Polygon"
    assert len(item["geometry"]["coordinates"][0]) == 5
    assert page.errors == []
