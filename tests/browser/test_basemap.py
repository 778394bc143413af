"""The map's basemap in a real browser: online tiles when they load, else the offline one.

The offline basemap is Natural Earth's countries, shipped with the page: checked with the
pixels of its land and sea where France, Spain, the Atlantic and the Mediterranean are.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from PIL import Image

from tests.api.support import Server
from tests.browser.support import (
    LAND,
    SEA,
    close_to,
    colour_near,
    map_shot,
    new_page,
    open_page,
    zoom_out_to,
)

pytestmark = pytest.mark.browser

#: The colour of every tile of the test's own tile server.
TILE = (214, 96, 168)
#: Places around the demo (near Toulouse) seen at zoom 6: (lon, lat), on land or at sea.
ON_LAND = {"inland France": (0.2, 45.3), "Massif Central": (3.0, 45.2),
           "inland Spain": (-3.5, 40.9)}
AT_SEA = {"Bay of Biscay": (-3.5, 45.8), "Gulf of Lion": (4.3, 42.6)}
ZOOM = 6


class TileServer:
    """A loopback XYZ tile server: the same small PNG for every path, paths recorded."""

    def __init__(self) -> None:
        buffer = io.BytesIO()
        tile = Image.new("RGB", (256, 256), TILE)
        tile.paste((150, 60, 120), (0, 0, 256, 1))  # a darker edge: the tiles' grid shows
        tile.paste((150, 60, 120), (0, 0, 1, 256))
        tile.save(buffer, format="PNG")
        png = buffer.getvalue()
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def tile_server() -> Iterator[TileServer]:
    server = TileServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def online_server(tmp_path_factory: pytest.TempPathFactory, demo: Path,
                  tile_server: TileServer) -> Iterator[Server]:
    """A service whose basemap is the loopback tile server (``L3A_BASEMAP_URL``)."""
    server = Server(tmp_path_factory.mktemp("basemap-data"), demo,
                    basemap_url=tile_server.url + "/{z}/{x}/{y}.png",
                    basemap_attribution="Test tiles &copy; l3a").start()
    yield server
    server.stop()


def pixel_of(lon: float, lat: float, centre: tuple[float, float], zoom: int,
             size: tuple[int, int]) -> tuple[int, int]:
    """Where (lon, lat) is on a Web Mercator map of `size` px centred on `centre`."""
    def project(lon: float, lat: float) -> tuple[float, float]:
        scale = 256 * 2**zoom
        y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
        return (lon + 180) / 360 * scale, (1 - y / math.pi) / 2 * scale

    (x, y), (cx, cy) = project(lon, lat), project(*centre)
    return round(size[0] / 2 + x - cx), round(size[1] / 2 + y - cy)


def order_area_centre(page: Any) -> tuple[float, float]:
    """The centre of the prefilled area, where the page centres the map (in Web Mercator)."""
    w, s, e, n = page.evaluate("() => fetch('viewer/config.json').then(r => r.json())")["bbox"]
    mercator = [math.log(math.tan(math.pi / 4 + math.radians(v) / 2)) for v in (s, n)]
    return (w + e) / 2, math.degrees(2 * math.atan(math.exp(sum(mercator) / 2)) - math.pi / 2)


def test_offline_the_page_draws_countries_coasts_and_their_names(
        page: Any, screenshots: Path) -> None:
    open_page(page)
    # OpenStreetMap, the default basemap, fails here: the page draws its own, once.
    page.wait_for_selector("#map[data-basemap=offline]")
    osm = [url for url in page.requests if urlparse(url).hostname == "tile.openstreetmap.org"]
    assert osm
    # Zoomed in on the order, France's name is out of view: the map names it at the top.
    assert page.locator(".country-label.here").inner_text() == "France"
    page.screenshot(path=screenshots / "06-offline-basemap-order.png")

    zoom_out_to(page, ZOOM)
    shot = map_shot(page)
    page.screenshot(path=screenshots / "07-offline-basemap-france.png")
    centre = order_area_centre(page)
    for place, (lon, lat) in ON_LAND.items():
        colour = colour_near(shot, pixel_of(lon, lat, centre, ZOOM, shot.size))
        assert close_to(colour, LAND), (place, colour)
    for place, (lon, lat) in AT_SEA.items():
        colour = colour_near(shot, pixel_of(lon, lat, centre, ZOOM, shot.size))
        assert close_to(colour, SEA), (place, colour)
    # Coastlines and borders are drawn: colours other than land and sea, along the lines.
    colours = shot.getcolors(shot.width * shot.height) or []
    lines = sum(n for n, c in colours if not close_to(c, LAND, 12) and not close_to(c, SEA, 12))
    assert lines > 2000
    # Country names, in view.
    box = page.locator("#map").bounding_box()
    for name in ("France", "Spain"):
        label = page.locator(".country-label:not(.here) span", has_text=re.compile(f"^{name}$"))
        assert label.is_visible()
        where = label.bounding_box()
        assert box["x"] < where["x"] and where["x"] + where["width"] < box["x"] + box["width"]
        assert box["y"] < where["y"] and where["y"] + where["height"] < box["y"] + box["height"]
    assert "Natural Earth" in page.text_content(".leaflet-control-attribution")
    # The basemap lies under the preview, the products' panes and the drawn area.
    z = page.evaluate("() => Object.fromEntries(['basemap', 'basemap-labels', 'preview', 'bottom',"
                      " 'top', 'overlay'].map(p => [p, Number(getComputedStyle("
                      "document.querySelector(`.leaflet-${p}-pane`)).zIndex)]))")
    assert (z["basemap"] < z["basemap-labels"] < z["preview"] < z["bottom"] < z["top"]
            < z["overlay"])
    # Once switched, the page asks OpenStreetMap nothing more (zooming out asked no tile).
    assert [u for u in page.requests if urlparse(u).hostname == "tile.openstreetmap.org"] == osm
    assert sum("countries-50m.json" in url for url in page.requests) == 1
    assert page.errors == []


def test_without_a_basemap_url_the_offline_basemap_comes_at_once(page: Any) -> None:
    # L3A_BASEMAP_URL="" in the page's config: no tile is asked at all.
    def no_basemap(route: Any) -> None:
        config = route.fetch().json()
        route.fulfill(json={**config, "basemap": {"url": "", "attribution": ""}})

    page.route("**/viewer/config.json", no_basemap)
    open_page(page)
    page.wait_for_selector("#map[data-basemap=offline]")
    assert not [url for url in page.requests if "openstreetmap" in url]
    assert page.locator(".country-label.here").inner_text() == "France"
    assert page.errors == []


def test_the_configured_tiles_are_the_basemap_when_they_load(
        chromium: Any, online_server: Server, tile_server: TileServer,
        screenshots: Path) -> None:
    assert httpx.get(f"{online_server.url}/viewer/config.json").json()["basemap"] == {
        "url": tile_server.url + "/{z}/{x}/{y}.png", "attribution": "Test tiles &copy; l3a"}
    page = new_page(chromium, online_server.url)
    try:
        open_page(page)
        # The preview of the demo would cover the basemap: off, to see the basemap's tiles.
        page.uncheck("#preview")
        page.wait_for_selector("#map:not([data-preview])")
        page.wait_for_selector("#map[data-basemap=online]")
        page.wait_for_function(
            """() => {
                const tiles = [...document.querySelectorAll('.leaflet-tile-pane img')];
                return tiles.length && tiles.every(t => t.complete
                    && t.classList.contains('leaflet-tile-loaded')
                    && getComputedStyle(t).opacity === '1');
            }""")
        zoom = int(page.get_attribute("#map", "data-zoom"))
        assert tile_server.paths and all(p.startswith(f"/{zoom}/") for p in tile_server.paths)
        shot = map_shot(page)
        page.screenshot(path=screenshots / "08-online-basemap.png")
        for xy in [(50, 150), (shot.width - 50, 150), (shot.width // 2, shot.height - 60)]:
            assert close_to(colour_near(shot, xy), TILE), xy
        assert page.text_content(".leaflet-control-attribution").endswith("Test tiles © l3a")
        # The offline basemap is not drawn, nor even fetched.
        assert page.locator(".country-label").count() == 0
        assert page.locator(".leaflet-basemap-pane canvas").count() == 0
        assert not [u for u in page.requests if "world-atlas" in u or "topojson" in u]
        assert page.errors == []
    finally:
        page.context.close()
