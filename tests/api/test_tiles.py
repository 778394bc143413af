"""Tiles of products through TiTiler: decoded images, layers, TileJSON, errors, lookups.

Three small products (synthesis, composite, median) are built with the engine from the demo
catalogue into a products folder of their own; the app runs in-process (no lifespan: the
tiles need no job store or worker).
"""

from __future__ import annotations

import io
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from PIL import Image
from rio_tiler.io import STACReader
from schemathesis.core.result import Ok

from api.app import create_app
from api.problems import NotFound
from api.settings import Settings
from api.tiles.products import ProductCatalogue
from api.tiles.reader import ProductReader
from api.tiles.styles import PRESETS, REFLECTANCE, Stretch, stretch_range
from api.views import tilejson_url
from catalog.demo import DEMO_BBOX, DEMO_PERIOD, ensure_demo
from catalog.model import BAND_ID
from catalog.search import search
from engine.contract import Order
from engine.methods import METHODS
from engine.period import parse_period
from engine.pipeline import build_product
from tests.api.support import assert_problem

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
#: About 2.4 x 2.2 km in the demo; 20 m pixels.
BBOX = (DEMO_BBOX[0] + 0.05, DEMO_BBOX[1] + 0.05, DEMO_BBOX[0] + 0.08, DEMO_BBOX[1] + 0.07)
PRODUCTS = {"syn": "synthesis", "comp": "composite", "med": "median"}
#: Zoom of the test tiles: ~1.8 km tiles, so the centre tile is mostly product.
ZOOM = 14


@dataclass(frozen=True)
class Tiles:
    client: TestClient
    products_dir: Path

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params)


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory, demo: Path) -> Iterator[Tiles]:
    data_dir = tmp_path_factory.mktemp("tiles-data")
    period = parse_period(DEMO_PERIOD)
    items = search(str(ensure_demo(demo.parent)), BBOX, *period.search_interval())
    for product_id, method in PRODUCTS.items():
        order = Order(bbox=BBOX, period=period, method=method, resolution=20)
        build_product(order, items, data_dir / "products" / product_id)
    # No `with`: the lifespan (job store, workers, demo preparation) is not needed for tiles.
    yield Tiles(TestClient(create_app(Settings(data_dir=data_dir))), data_dir / "products")


def item_of(tiles: Tiles, product_id: str) -> dict[str, Any]:
    return dict(json.loads((tiles.products_dir / product_id / "item.json").read_text()))


def centre_tile(tiles: Tiles, product_id: str) -> tuple[morecantile.Tile, tuple[int, int]]:
    """The tile at the product's centre, and the pixel of the centre in it."""
    west, south, east, north = item_of(tiles, product_id)["bbox"]
    lon, lat = (west + east) / 2, (south + north) / 2
    tile = WEB_MERCATOR.tile(lon, lat, ZOOM)
    bounds = WEB_MERCATOR.xy_bounds(tile)
    x, y = WEB_MERCATOR.xy(lon, lat)
    col = int((x - bounds.left) / (bounds.right - bounds.left) * 256)
    row = int((bounds.top - y) / (bounds.top - bounds.bottom) * 256)
    return tile, (col, row)


def tile_path(product_id: str, tile: morecantile.Tile, suffix: str = "") -> str:
    return (f"/products/{product_id}/tiles/tiles/WebMercatorQuad/"
            f"{tile.z}/{tile.x}/{tile.y}{suffix}")


def decode(response: Any, mode: str = "RGBA") -> np.ndarray:
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (256, 256)
    assert image.mode == mode
    return np.asarray(image)


# ---------------------------------------------------------------- images


def test_a_tile_without_parameters_is_a_true_colour_png(tiles: Tiles) -> None:
    tile, (col, row) = centre_tile(tiles, "syn")
    response = tiles.get(tile_path("syn", tile))
    assert response.headers["content-type"] == "image/png"
    rgba = decode(response)
    opaque = rgba[..., 3] == 255
    assert opaque.mean() > 0.5  # the centre tile is mostly product
    assert rgba[row, col, 3] == 255
    rgb = rgba[opaque][:, :3].astype(float)
    # Stretched from the product's own 2nd-98th percentiles: neither dark nor washed out,
    # and in colour (the three bands differ).
    assert 40 < rgb.mean() < 200
    assert rgb.std() > 20
    assert np.abs(rgb[:, 0] - rgb[:, 2]).mean() > 5


def test_the_default_stretch_is_the_products_percentiles(tiles: Tiles) -> None:
    tile, _ = centre_tile(tiles, "syn")
    layers = tiles.get("/products/syn/tiles/layers").json()
    low, high = next(x for x in layers["layers"] if x["id"] == "rgb")["legend"]["rescale"]
    explicit = tiles.get(tile_path("syn", tile), rescale=f"{low},{high}")
    assert tiles.get(tile_path("syn", tile)).content == explicit.content


def test_a_tile_beside_the_product_is_empty_204(tiles: Tiles) -> None:
    tile, _ = centre_tile(tiles, "syn")
    away = morecantile.Tile(tile.x + 20, tile.y + 20, tile.z)
    response = tiles.get(tile_path("syn", away))
    assert response.status_code == 204
    assert response.content == b""


QUALITY_LAYERS = [
    ("syn", "date"), ("syn", "count"), ("syn", "weight"), ("syn", "flag"),
    ("comp", "date"), ("comp", "count"), ("comp", "method"), ("comp", "medoid_distance"),
    ("comp", "scl"), ("med", "count"),
]


@pytest.mark.parametrize(("product_id", "layer"), QUALITY_LAYERS)
def test_every_quality_layer_renders_with_its_colormap(tiles: Tiles, product_id: str,
                                                       layer: str) -> None:
    tile, _ = centre_tile(tiles, product_id)
    rgba = decode(tiles.get(tile_path(product_id, tile), layer=layer))
    opaque = rgba[..., 3] == 255
    assert opaque.any()
    colours = {tuple(c) for c in rgba[opaque][:, :3].tolist()}
    preset = PRESETS[layer]
    if preset.classes:  # categorical: only the palette's colours
        palette = {tuple(int(c.color[i:i + 2], 16) for i in (1, 3, 5)) for c in preset.classes}
        assert colours <= palette
    else:  # a colour ramp, not grey
        assert any(len(set(c)) > 1 for c in colours)


@pytest.mark.parametrize(("layer", "mode"), [("falsecolor", "RGBA"), ("nir", "LA"),
                                           ("red", "LA")])
def test_reflectance_layers_render(tiles: Tiles, layer: str, mode: str) -> None:
    tile, _ = centre_tile(tiles, "comp")
    pixels = decode(tiles.get(tile_path("comp", tile), layer=layer), mode)
    assert (pixels[..., -1] == 255).any()  # a grey band is grey + alpha


def test_a_format_suffix_picks_the_encoding(tiles: Tiles) -> None:
    tile, _ = centre_tile(tiles, "syn")
    response = tiles.get(tile_path("syn", tile, ".jpeg"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).mode == "RGB"


def test_preview_and_bbox_images(tiles: Tiles) -> None:
    west, south, east, north = item_of(tiles, "comp")["bbox"]
    preview = tiles.get("/products/comp/tiles/preview.png", layer="method")
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/png"
    part = tiles.get(f"/products/comp/tiles/bbox/{west},{south},{(west + east) / 2},"
                     f"{(south + north) / 2}.png", layer="rgb")
    assert part.status_code == 200
    assert Image.open(io.BytesIO(part.content)).mode == "RGBA"


# ---------------------------------------------------------------- metadata


@pytest.mark.parametrize("product_id", list(PRODUCTS))
def test_tilejson_bounds_are_the_products(tiles: Tiles, product_id: str) -> None:
    # The link the job results and STAC items carry (api.views) is the one served.
    path = tilejson_url("", product_id)
    tilejson = tiles.get(path, tilesize=256).json()
    assert tilejson["bounds"] == pytest.approx(item_of(tiles, product_id)["bbox"], abs=1e-4)
    template = tilejson["tiles"][0]
    assert f"/products/{product_id}/tiles/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}?" in template
    assert "tilesize=256" in template
    # 20 m pixels: the native zoom is 12 or 13.
    assert 12 <= tilejson["maxzoom"] <= 13


def test_tilejson_is_standard_tilejson_3(tiles: Tiles) -> None:
    from api.tiles.responses import TILEJSON_FIELDS

    default = tiles.get(tilejson_url("", "syn"))
    document = default.json()
    assert set(document) <= {*TILEJSON_FIELDS, "tileSize"}  # no raster_layers, minmax...
    assert document["tilejson"] == "3.0.0"
    assert document["tileSize"] == 512 and "tilesize=512" in document["tiles"][0]
    assert default.headers["content-length"] == str(len(default.content))
    assert tiles.get(tilejson_url("", "syn"), tilesize=256).json()["tileSize"] == 256
    # Every zoom is served (from the overviews): a map must not hide the layer below the
    # product's native zoom.
    assert document["minzoom"] == 0 and document["maxzoom"] >= 12
    west, south, east, north = item_of(tiles, "syn")["bbox"]
    low = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 3)
    assert tiles.get(tile_path("syn", low, ".png")).status_code == 200


def test_jpg_tiles_are_image_jpeg(tiles: Tiles) -> None:
    tile, _ = centre_tile(tiles, "syn")
    response = tiles.get(tile_path("syn", tile, ".jpg"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:3] == b"\xff\xd8\xff"


def test_tile_links_use_the_public_url(tiles: Tiles) -> None:
    public = "https://maps.example.org/l3a"
    app = create_app(Settings(data_dir=tiles.products_dir.parent, public_url=public))
    tilejson = TestClient(app).get(tilejson_url("", "syn")).json()
    assert tilejson["tiles"][0].startswith(
        f"{public}/products/syn/tiles/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}?")


def test_layers_lists_what_the_product_has(tiles: Tiles) -> None:
    syn = {x["id"]: x for x in tiles.get("/products/syn/tiles/layers").json()["layers"]}
    comp = {x["id"]: x for x in tiles.get("/products/comp/tiles/layers").json()["layers"]}
    assert {"rgb", "falsecolor", "date", "count", "weight", "flag"} <= set(syn)
    assert "method" not in syn and "weight" not in comp
    assert {"method", "medoid_distance", "scl"} <= set(comp)
    assert syn["date"]["legend"]["rescale"] == [-23.0, 23.0]  # the period's half window
    assert [c["name"] for c in syn["flag"]["legend"]["classes"]] == [
        "cloud", "snow", "water", "land"]


def test_statistics_of_a_layer(tiles: Tiles) -> None:
    count = tiles.get("/products/syn/tiles/statistics", layer="count").json()
    assert list(count) == ["b1"]
    assert count["b1"]["min"] >= 1  # count 0 means no observation: masked
    rgb = tiles.get("/products/syn/tiles/statistics").json()
    assert len(rgb) == 3
    assert all(0 < band["percentile_2"] < band["percentile_98"] < 10_000
               for band in rgb.values())


def test_point_values(tiles: Tiles) -> None:
    west, south, east, north = item_of(tiles, "comp")["bbox"]
    lon, lat = (west + east) / 2, (south + north) / 2
    body = tiles.get(f"/products/comp/tiles/point/{lon},{lat}", layer="count").json()
    assert len(body["values"]) == 1 and body["values"][0] >= 1
    outside = tiles.get(f"/products/comp/tiles/point/{lon + 1},{lat}")
    assert outside.status_code == 404


# ---------------------------------------------------------------- errors and lookups


def test_an_unknown_product_is_a_404_problem(tiles: Tiles) -> None:
    assert_problem(tiles.get("/products/nope/tiles/WebMercatorQuad/tilejson.json"), 404)
    assert_problem(tiles.get("/products/nope/tiles/tiles/WebMercatorQuad/14/8000/5000"), 404)


def test_a_layer_the_product_lacks_is_a_404_and_an_unknown_one_422(tiles: Tiles) -> None:
    tile, _ = centre_tile(tiles, "syn")
    missing = assert_problem(tiles.get(tile_path("syn", tile), layer="method"), 404)
    assert "method" in missing["detail"]
    assert_problem(tiles.get(tile_path("syn", tile), layer="bogus"), 422)


def test_titilers_errors_keep_their_codes(tiles: Tiles) -> None:
    tile, _ = centre_tile(tiles, "syn")
    # A colormap on three bands: rio-tiler's InvalidFormat, 400 in titiler's table.
    assert_problem(tiles.get(tile_path("syn", tile), colormap_name="viridis"), 400)


@pytest.mark.parametrize("query", [{"tilesize": 100_000}, {"buffer": 10_000},
                                   {"padding": 1000}])
def test_huge_tiles_are_refused(tiles: Tiles, query: dict[str, int]) -> None:
    tile, _ = centre_tile(tiles, "syn")
    assert_problem(tiles.get(tile_path("syn", tile), **query), 400)


def test_image_sizes_are_bounded(tiles: Tiles) -> None:
    assert_problem(tiles.get("/products/syn/tiles/preview/100000x100000.png"), 400)
    assert_problem(tiles.get("/products/syn/tiles/preview.png", max_size=50_000), 400)
    # A box far larger than the product, with no size: at most 4096 px, not its full
    # resolution (~10^4 x 10^4 px at 20 m).
    west, south, east, north = item_of(tiles, "syn")["bbox"]
    response = tiles.get(f"/products/syn/tiles/bbox/{west - 1},{south - 1},{east + 1},"
                         f"{north + 1}.png", layer="count")
    assert response.status_code == 200
    assert max(Image.open(io.BytesIO(response.content)).size) <= 4096


#: Requests titiler lets through to rio-tiler, PROJ or numpy, where they were 500s (found by
#: fuzzing the routes against a real product): each is a client error now.
REFUSED = [
    ("/tiles/WebMercatorQuad/-1/0/0", {}, 404),
    ("/tiles/WebMercatorQuad/25/0/0", {}, 404),
    ("/tiles/WebMercatorQuad/3/8/0", {}, 404),
    ("/tiles/WebMercatorQuad", {"minzoom": -80, "maxzoom": 5226}, 404),
    ("/point/0.0,1e300", {}, 400),
    ("/point/200,10", {}, 400),
    ("/bbox/2,44,1,43.png", {}, 400),
    ("/info", {"assets": ""}, 404),
    ("/asset_statistics", {"assets": "nope"}, 404),
    ("/preview.png", {"nodata": "nan"}, 400),  # int16 reflectance holds no NaN
    ("/preview.png", {"nodata": 2e16}, 400),
    ("/statistics", {"p": 200}, 400),
    ("/statistics", {"histogram_bins": 0}, 400),
    ("/statistics", {"histogram_bins": "0,100,50"}, 400),
    ("/statistics", {"histogram_range": "10,0"}, 400),
    ("/preview.png", {"layer": "red", "algorithm": "normalizedIndex"}, 400),
]


@pytest.mark.parametrize(("route", "query", "status"), REFUSED)
def test_requests_the_reader_would_choke_on_are_client_errors(
        tiles: Tiles, route: str, query: dict[str, Any], status: int) -> None:
    assert_problem(tiles.get(f"/products/syn/tiles{route}", **query), status)


@pytest.mark.parametrize(("route", "query"), [
    ("/preview.png", {"layer": "date", "nodata": "nan"}),  # float32: NaN is fine
    ("/preview.png", {"layer": "falsecolor", "algorithm": "normalizedIndex"}),
    ("/statistics", {"p": [5, 95], "histogram_bins": "0,500,1000"}),
    ("/info", {"assets": ["red", "date"]}),
])
def test_the_same_options_within_range_work(tiles: Tiles, route: str,
                                            query: dict[str, Any]) -> None:
    assert tiles.get(f"/products/syn/tiles{route}", **query).status_code == 200


#: Query values titiler parses, then fails on inside the tile (500s before issue 15).
REFUSED_STYLES = [
    {"colormap": '{"a": 1}'},  # a key that is no pixel value
    {"colormap": '{"1": [300, 0, 0, 255]}'},  # a colour beyond 8 bits
    {"colormap": "[1, 2]"},  # neither a mapping nor intervals
    {"color_formula": "sigmoidal rgb 99999 99999"},  # a bias outside [0, 1]
    {"color_formula": "gamma rgb 0"},
]


@pytest.mark.parametrize("query", REFUSED_STYLES)
def test_styles_titiler_cannot_apply_are_400(tiles: Tiles, query: dict[str, str]) -> None:
    assert_problem(tiles.get("/products/syn/tiles/preview.png", layer="count", **query), 400)


def test_the_same_styles_within_range_render(tiles: Tiles) -> None:
    red = tiles.get("/products/syn/tiles/preview.png", layer="count",
                    colormap=json.dumps({str(v): [255, 0, 0, 255] for v in range(256)}))
    assert red.status_code == 200, red.text
    image = np.asarray(Image.open(io.BytesIO(red.content)).convert("RGBA"))
    drawn = image[..., 3] > 0
    assert drawn.any() and (image[..., 0][drawn] == 255).all()
    assert (image[..., 1][drawn] == 0).all()
    assert tiles.get("/products/syn/tiles/preview.png",
                     color_formula="sigmoidal rgb 10 0.5").status_code == 200


def _feature(geometry: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {}, "geometry": geometry}


def _square(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                [west, north], [west, south]]]}


CENTRE = [(BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2]
#: Feature bodies rasterio failed on (500s before issue 15), for the image and statistics.
REFUSED_FEATURES = {
    "null geometry": None,
    "empty MultiPolygon": {"type": "MultiPolygon", "coordinates": []},
    "polygon at 1e20": _square(1e20, 1e20, 1e20 + 1, 1e20 + 1),
    "point at 1e16": {"type": "Point", "coordinates": [1e16, 1e16]},
}


@pytest.mark.parametrize("route", ["/feature.png", "/statistics"])
@pytest.mark.parametrize("geometry", REFUSED_FEATURES.values(), ids=REFUSED_FEATURES.keys())
def test_features_the_reader_would_fail_on_are_400(tiles: Tiles, route: str,
                                                   geometry: Any) -> None:
    response = tiles.client.post(f"/products/syn/tiles{route}", json=_feature(geometry))
    assert_problem(response, 400)


def test_an_image_of_a_point_is_400_its_statistics_200(tiles: Tiles) -> None:
    point = _feature({"type": "Point", "coordinates": CENTRE})
    image = tiles.client.post("/products/syn/tiles/feature.png", json=point)
    assert_problem(image, 400)
    assert "Polygon" in image.json()["detail"]
    assert tiles.client.post("/products/syn/tiles/statistics", json=point).status_code == 200


def test_a_feature_over_the_product_renders(tiles: Tiles) -> None:
    square = _feature(_square(*BBOX))
    assert tiles.client.post("/products/syn/tiles/feature.png", json=square).status_code == 200
    statistics = tiles.client.post("/products/syn/tiles/statistics", json=square)
    assert statistics.status_code == 200, statistics.text


def test_fuzzed_tile_requests_on_a_real_product_get_no_server_error(tiles: Tiles) -> None:
    # The service's schemathesis test fuzzes tile routes on a server without products
    # (every answer a 404); here every GET route is fuzzed with a real product id.
    schema = schemathesis.openapi.from_asgi("/openapi.json", tiles.client.app)
    errors: list[str] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the OpenAPI document itself is valid
        operation = result.ok()
        if operation.method.upper() != "GET" or not operation.path.startswith(
                "/products/{product_id}/tiles"):
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            case.path_parameters = {**(case.path_parameters or {}), "product_id": "comp"}
            if "tileMatrixSetId" in case.path_parameters:
                case.path_parameters["tileMatrixSetId"] = "WebMercatorQuad"
            response = case.call()
            calls.append(response.status_code)
            if response.status_code >= 500:
                errors.append(f"{response.status_code} {response.request.url}")

        fuzz()
    assert len(calls) > 50
    assert errors == []


def test_no_tile_route_takes_a_url_or_a_path(tiles: Tiles) -> None:
    for path, operations in tiles.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if not path.startswith("/products/{product_id}/tiles"):
            continue
        for operation in operations.values():
            names = {p["name"] for p in operation.get("parameters", [])}
            assert not names & {"url", "path", "file", "href"}, (path, names)


def test_a_url_parameter_is_ignored(tiles: Tiles) -> None:
    tile, _ = centre_tile(tiles, "syn")
    plain = tiles.get(tile_path("syn", tile))
    with_url = tiles.get(tile_path("syn", tile), url="/etc/passwd")
    assert with_url.status_code == 200
    assert with_url.content == plain.content
    # Nothing reads it: an id spelled as a path is refused before any file is opened.
    response = tiles.get("/products/%2fetc%2fpasswd/tiles/WebMercatorQuad/tilejson.json")
    assert response.status_code == 404
    assert b"root:" not in response.content


@pytest.mark.parametrize("product_id", [
    "%2e%2e", "..%2f..%2fetc", "%2e%2e%2fsyn", ".build-x", "syn%2f..", "syn%00", "%20syn",
    "..%5c..%5csyn", "x" * 200,
])
def test_ids_that_are_not_plain_names_are_404(tiles: Tiles, product_id: str) -> None:
    response = tiles.get(f"/products/{product_id}/tiles/WebMercatorQuad/tilejson.json")
    assert response.status_code == 404


def test_only_folders_of_the_products_dir_are_products(tmp_path: Path) -> None:
    products = tmp_path / "products"
    (products / "real").mkdir(parents=True)
    (products / "real" / "item.json").write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "real", "geometry": None,
        "properties": {"datetime": "2024-07-15T12:00:00Z"}, "links": [], "assets": {}}))
    (products / "broken").mkdir()
    (products / "broken" / "item.json").write_text('{"assets": {}}')
    (products / ".hidden").mkdir()
    (products / ".hidden" / "item.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "item.json").write_text("{}")
    (products / "linked").symlink_to(outside, target_is_directory=True)
    catalogue = ProductCatalogue(products)
    assert catalogue.get("real").folder == products / "real"
    for product_id in ["linked", ".hidden", "..", "../outside", "real/..", "", "missing",
                       "broken"]:
        with pytest.raises(NotFound):
            catalogue.get(product_id)


def test_a_removed_product_stops_serving(tiles: Tiles, tmp_path: Path) -> None:
    copy = tiles.products_dir / "gone"
    shutil.copytree(tiles.products_dir / "med", copy)
    assert tiles.get("/products/gone/tiles/layers").status_code == 200
    shutil.rmtree(copy)  # as a dismissed job's product is
    assert_problem(tiles.get("/products/gone/tiles/layers"), 404)


def test_the_memoised_grid_is_stacreaders(tiles: Tiles) -> None:
    product = ProductCatalogue(tiles.products_dir).get("comp")
    with STACReader(str(product.item_path), item=product.stac) as plain:
        expected = (plain.bounds, plain.crs, plain.minzoom, plain.maxzoom, plain.assets)
    for _ in range(2):  # computed, then taken from the product's memo
        with ProductReader(str(product.item_path), item=product.stac,
                           product=product) as ours:
            assert (ours.bounds, ours.crs, ours.minzoom, ours.maxzoom, ours.assets) == expected


# ---------------------------------------------------------------- presets


def test_every_band_and_quality_layer_has_a_preset() -> None:
    assert set(BAND_ID) == set(REFLECTANCE)
    period = parse_period(DEMO_PERIOD)
    for name, factory in METHODS.items():
        for layer in factory(period).quality:
            assert layer.key in PRESETS, (name, layer.key)
            if layer.classes:  # legends name the classes as the engine does
                named = {c.value: c.name for c in PRESETS[layer.key].classes}
                assert named == {v: n for v, n in layer.classes.items() if v != 0}


@pytest.mark.parametrize(("stretch", "values", "expected"), [
    (Stretch.PERCENTILES, np.arange(101.0), (2.0, 98.0)),
    (Stretch.ZERO_TO_MAX, np.array([1.0, 3.0, 7.0]), (0.0, 7.0)),
    (Stretch.SYMMETRIC, np.array([-4.0, 1.0, 2.0]), (-3.8, 3.8)),
    (Stretch.PERCENTILES, np.full(10, 5.0), (4.0, 6.0)),  # constant: a range around it
    (Stretch.ZERO_TO_P98, np.array([], dtype=float), (0.0, 1.0)),  # nothing valid
])
def test_stretch_ranges(stretch: Stretch, values: np.ndarray,
                        expected: tuple[float, float]) -> None:
    low, high = stretch_range(stretch, values)
    assert (low, high) == pytest.approx(expected)
    assert math.isfinite(low) and low < high
