"""The preview's HTTP face: TileJSON, tiles, 204 with the reason, bounded cache, bad input."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import morecantile
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.preview import Abandoned, check_request
from api.routes.preview import REASON, preview_service
from api.settings import Settings
from api.tiles.responses import TILEJSON_FIELDS
from catalog.demo import DEMO_BBOX, DEMO_PERIOD
from engine.period import parse_period

CENTRE = ((DEMO_BBOX[0] + DEMO_BBOX[2]) / 2, (DEMO_BBOX[1] + DEMO_BBOX[3]) / 2)
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def client(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("preview")
    (data_dir / "demo").symlink_to(demo, target_is_directory=True)
    settings = Settings(data_dir=data_dir, preview_cache_tiles=2, preview_min_zoom=11)
    with TestClient(create_app(settings)) as http:
        yield http


def tile_url(z: int, dx: int = 0, fmt: str = "png") -> str:
    t = WEB_MERCATOR.tile(*CENTRE, z)
    return f"/preview/tiles/{z}/{t.x + dx}/{t.y}.{fmt}"


def params(**extra: Any) -> dict[str, Any]:
    return {"period": DEMO_PERIOD, "cloud_mask": "scl", **extra}


def test_the_tilejson_is_standard_and_says_from_which_zoom(client: TestClient) -> None:
    document = client.get("/preview/tilejson.json",
                          params={"period": "2024-q3", "method": "median"}).json()
    assert set(document) <= {*TILEJSON_FIELDS, "tileSize"}
    assert document["tilejson"] == "3.0.0"
    assert document["minzoom"] == 11 and document["tileSize"] == 256
    assert "without the CNN" in document["description"]
    # The demo is an item file: the bounds are its scenes', so a map asks for nothing else.
    west, south, east, north = document["bounds"]
    assert west <= DEMO_BBOX[0] and east >= DEMO_BBOX[2] and east - west < 1
    assert south <= DEMO_BBOX[1] and north >= DEMO_BBOX[3] and north - south < 1
    (url,) = document["tiles"]
    # The period is written canonically; the tile answers at that URL.
    assert "period=2024-Q3" in url and "method=median" in url and "{z}/{x}/{y}.png" in url
    t = WEB_MERCATOR.tile(*CENTRE, 13)
    path = url.split("testserver", 1)[1].format(z=13, x=t.x, y=t.y)
    assert client.get(path).status_code == 200


def test_a_tile_is_an_image_of_the_asked_size_and_format(client: TestClient) -> None:
    for fmt, size in (("png", 256), ("webp", 512)):
        response = client.get(tile_url(13, fmt=fmt), params=params(tilesize=size))
        assert response.status_code == 200
        assert response.headers["content-type"] == f"image/{fmt}"
        image = Image.open(io.BytesIO(response.content))
        assert image.size == (size, size)
    # The demo covers the tile: opaque almost everywhere; transparent where there is nothing.
    alpha = Image.open(io.BytesIO(client.get(tile_url(13), params=params()).content))
    assert alpha.mode == "RGBA"
    histogram = alpha.getchannel("A").histogram()
    assert histogram[255] > 0.95 * 256 * 256


def test_a_quality_layer_draws_with_its_classes(client: TestClient) -> None:
    response = client.get(tile_url(13), params=params(layer="flag"))
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 16) or []}
    land, water = (0x4d, 0xaf, 0x4a), (0x21, 0x66, 0xac)  # api.tiles.styles' flag classes
    assert land in colours and colours <= {land, water, (0xd0, 0xd4, 0xda), (0x7f, 0xe3, 0xff),
                                           (0, 0, 0)}


def test_below_the_minimum_zoom_a_tile_is_204_with_the_reason(client: TestClient) -> None:
    response = client.get(tile_url(10), params=params())
    assert response.status_code == 204 and response.content == b""
    assert "below the preview's minimum zoom 11" in response.headers[REASON]


def test_where_the_period_has_no_scene_a_tile_is_204_with_the_reason(
        client: TestClient) -> None:
    response = client.get("/preview/tiles/13/100/100.png", params=params())
    assert response.status_code == 204
    assert "no scene of 2024-07" in response.headers[REASON]


def test_rendered_tiles_are_kept_within_the_cache_bound(client: TestClient) -> None:
    service = preview_service(SimpleNamespace(app=client.app))  # type: ignore[arg-type]
    urls = [tile_url(14, dx) for dx in (0, 1, 2)]
    before = service.computed
    for url in urls:
        assert client.get(url, params=params(method="median")).status_code == 200
    assert service.computed == before + 3
    assert service.cached_tiles == 2  # L3A_PREVIEW_CACHE_TILES
    first = client.get(urls[2], params=params(method="median"))
    assert service.computed == before + 3  # the newest is kept: no new computation
    again = client.get(urls[0], params=params(method="median"))
    assert service.computed == before + 4  # the oldest was dropped
    assert first.content and again.content


@pytest.mark.parametrize(("query", "field"), [
    ({"period": "2024-13"}, "period"),
    ({"method": "mean"}, "method"),
    ({"layer": "method"}, "layer"),  # the composite's layer, not the synthesis'
    ({"layer": "ndvi"}, "layer"),
    ({"tilesize": 300}, "tilesize"),
    ({"cloud_mask": "fog"}, "cloud_mask"),
    ({"cloud_mask": "maja"}, "cloud_mask"),  # the demo is Sen2Cor's
])
def test_bad_parameters_are_problems_naming_them(client: TestClient, query: dict[str, Any],
                                                 field: str) -> None:
    response = client.get(tile_url(13), params=params(**query))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_a_tile_outside_its_zoom_grid_is_refused(client: TestClient) -> None:
    response = client.get("/preview/tiles/11/2048/0.png", params=params())
    assert response.status_code == 422 and response.json()["field"] == "x"


def test_the_layers_of_a_method_and_their_legends(client: TestClient) -> None:
    layers = client.get("/preview/layers", params={"period": DEMO_PERIOD,
                                                   "method": "composite"}).json()["layers"]
    ids = [layer["id"] for layer in layers]
    assert ids[:2] == ["rgb", "falsecolor"] and "method" in ids and "flag" not in ids
    rgb = layers[0]["legend"]
    assert rgb["kind"] == "rgb" and rgb["rescale"] == [0.0, 3000.0]
    # Counts stretch over the scenes a window may hold, the same on every tile and legend.
    count = next(layer for layer in layers if layer["id"] == "count")["legend"]
    period = parse_period(DEMO_PERIOD)
    assert count["rescale"] == [0.0, round((2 * period.half_window_days + 1) / 2.5)]
    assert count["rescale"][1] >= 12  # a month's window holds the demo's 12 scenes


def test_a_tile_whose_client_left_before_its_turn_is_not_computed(client: TestClient) -> None:
    service = preview_service(SimpleNamespace(app=client.app))  # type: ignore[arg-type]
    request = check_request(parse_period(DEMO_PERIOD), "median", "rgb", "scl", 256, "png")
    t = WEB_MERCATOR.tile(*CENTRE, 14)
    computed, abandoned = service.computed, service.abandoned
    with pytest.raises(Abandoned):
        service.tile(request, 14, t.x + 5, t.y, still_wanted=lambda: False)
    assert (service.computed, service.abandoned) == (computed, abandoned + 1)
    # Wanted, it is computed and kept; kept, it is answered whoever asks.
    image = service.tile(request, 14, t.x + 5, t.y)
    assert service.computed == computed + 1
    assert service.tile(request, 14, t.x + 5, t.y, still_wanted=lambda: False) == image


def test_a_format_the_preview_does_not_draw_is_refused(client: TestClient) -> None:
    response = client.get(tile_url(13, fmt="jpg"), params=params())
    assert response.status_code == 422 and response.json()["field"] == "format"


def test_a_search_is_kept_for_its_time_to_live(demo: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import catalog.search
    from api import preview

    (tmp_path / "demo").symlink_to(demo, target_is_directory=True)
    service = preview.PreviewService(Settings(data_dir=tmp_path, preview_search_ttl_s=600))
    searched: list[Any] = []
    real = catalog.search.search

    def counted(*args: Any, **kwargs: Any) -> Any:
        searched.append(args)
        return real(*args, **kwargs)

    clock = [1000.0]
    monkeypatch.setattr(catalog.search, "search", counted)
    monkeypatch.setattr(preview.time, "monotonic", lambda: clock[0])
    period = parse_period(DEMO_PERIOD)
    first = service.extent(period)
    clock[0] += 599
    assert service.extent(period) == first and len(searched) == 1
    clock[0] += 2  # past L3A_PREVIEW_SEARCH_TTL_S: new scenes would show
    assert service.extent(period) == first and len(searched) == 2
    assert first is not None
