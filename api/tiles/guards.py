"""Checks of tile requests that titiler leaves to the reader, where they become 500s.

titiler validates types, not ranges: a zoom of -2601, a tile column beyond the matrix, a
latitude of 1e300, a bbox whose edges are swapped, an empty asset name, a 10^5-pixel tile
or a two-band algorithm on a one-band layer all reach rio-tiler, PROJ or numpy and fail
there with errors that are not the client's to read (found by fuzzing the routes with
schemathesis against a real product). These checks answer them 400 or 404 first.

`check_request` runs before every tile route (a router dependency) and reads raw parameters
only; malformed values are left to FastAPI's validation (422).
"""

import itertools
import math
from typing import Annotated, Any

import morecantile
import numpy as np
from color_operations import parse_operations
from fastapi import Depends, Request
from titiler.core.algorithm import algorithms as available_algorithms
from titiler.core.algorithm.base import BaseAlgorithm
from titiler.core.dependencies import PartFeatureParams
from titiler.core.errors import BadRequestError, TileNotFoundError

from api.problems import NotFound
from api.tiles.deps import ProductDep, StyleDep
from api.tiles.products import Product
from catalog.normalize import coordinates

#: Largest side of an image a request may ask for, pixels. titiler bounds none of its size
#: parameters: ``?tilesize=100000`` would allocate 10^10 pixels. Beyond this, the COG
#: download is the right tool.
MAX_IMAGE_SIDE = 4096
#: Largest tile buffer or padding, pixels (they add to the tile's side).
MAX_TILE_MARGIN = 64
SIZE_LIMITS = {"tilesize": MAX_IMAGE_SIDE, "max_size": MAX_IMAGE_SIDE,
               "width": MAX_IMAGE_SIDE, "height": MAX_IMAGE_SIDE,
               "buffer": MAX_TILE_MARGIN, "padding": MAX_TILE_MARGIN}
#: Parameters that are an image's side (buffer and padding may be fractions).
IMAGE_SIDES = ("tilesize", "max_size", "width", "height")
#: The asset value titiler's /info and /asset_statistics read as "every asset".
ALL_ASSETS = ":all:"


def check_request(request: Request, product: ProductDep, style: StyleDep) -> None:
    """Refuse requests that would fail inside the reader (a dependency of every tile route).

    Raises:
        BadRequestError: an image too large or empty, coordinates out of range or in the
            wrong order, a nodata the layer's type cannot hold, statistics options numpy
            refuses (400).
        TileNotFoundError: a tile address or zoom outside its TileMatrixSet (404).
        NotFound: an asset the product does not have (404).

    """
    query = request.query_params
    params = {**query, **request.path_params}
    _check_sizes(params)
    _check_tile(params)
    _check_coordinates(params, geographic="coord_crs" not in query)
    assets = query.getlist("assets")
    _check_assets(assets, product)
    read = [a.split("|", 1)[0] for a in assets if a != ALL_ASSETS] or list(style.preset.assets)
    _check_nodata(query.get("nodata"), product, read)
    _check_statistics_options(query.getlist("p"), query.get("histogram_bins"),
                              query.get("histogram_range"))
    _check_color_formula(query.get("color_formula"))


#: Values a color formula is tried on: the 0-1 range its operations work in, three bands.
_FORMULA_SAMPLE = np.linspace(0.0, 1.0, 48).reshape(3, 4, 4)


def _check_color_formula(formula: str | None) -> None:
    """A formula whose operations refuse their arguments (titiler checks only its syntax).

    ``sigmoidal rgb 99999 99999`` parses, then fails on every tile (its bias must be in
    [0, 1]): it is tried here on a few values first.
    """
    if not formula:
        return
    values = _FORMULA_SAMPLE.copy()
    try:
        with np.errstate(all="ignore"):
            for operation in parse_operations(formula):
                values = operation(values)
    except Exception as exc:  # color-operations raises ValueError, and others on odd input
        raise BadRequestError(f"color_formula {formula!r}: {exc}") from None


async def check_feature(request: Request) -> None:
    """Refuse a ``/feature`` or ``/statistics`` body the reader would fail on (400).

    titiler validates a GeoJSON Feature's shape; a null geometry, an empty MultiPolygon,
    positions far off the globe, or a point for an image (no area to draw) reach rasterio
    and fail there.
    """
    if request.method != "POST":
        return
    try:
        body = await request.json()
    except ValueError:
        return  # FastAPI's validation answers 422
    features = body.get("features") if isinstance(body, dict) else None
    for feature in features if isinstance(features, list) else [body]:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            return  # FastAPI's validation answers 422
        _check_geometry(feature.get("geometry"), image="/feature" in request.url.path,
                        geographic="coord_crs" not in request.query_params)


def _check_geometry(geometry: Any, image: bool, geographic: bool) -> None:
    if not isinstance(geometry, dict):
        raise BadRequestError("the feature has no geometry")
    kind = geometry.get("type")
    if image and kind not in ("Polygon", "MultiPolygon"):
        raise BadRequestError(f"an image of a feature needs a Polygon or MultiPolygon, not "
                              f"a {kind}")
    positions = list(coordinates(geometry))
    if not positions:
        raise BadRequestError(f"the feature's {kind} has no positions")
    if not all(math.isfinite(v) for p in positions for v in p):
        raise BadRequestError("coordinates must be finite numbers")
    if geographic and not all(-180 <= p[0] <= 180 and -90 <= p[1] <= 90 for p in positions):
        raise BadRequestError("longitudes must be in [-180, 180] and latitudes in [-90, 90] "
                              "(or give coord_crs)")


def _number(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _check_sizes(params: dict[str, str]) -> None:
    for name, limit in SIZE_LIMITS.items():
        value = _number(params.get(name, "nan"))
        if value is None or math.isnan(value):
            continue
        if value > limit:
            raise BadRequestError(f"{name}={params[name]}: at most {limit} pixels; download "
                                  "the COG for full-resolution data")
        if value < 1 and name in IMAGE_SIDES:
            raise BadRequestError(f"{name}={params[name]}: at least 1 pixel")


def _check_tile(params: dict[str, str]) -> None:
    try:
        tms = morecantile.tms.get(params["tileMatrixSetId"])
    except (KeyError, morecantile.errors.InvalidIdentifier):
        return  # no TileMatrixSet in the route, or FastAPI's validation answers 422
    zooms = {n: _number(params[n]) for n in ("z", "minzoom", "maxzoom") if n in params}
    for name, zoom in zooms.items():
        if zoom is not None and not tms.minzoom <= zoom <= tms.maxzoom:
            raise TileNotFoundError(f"{name} {params[name]} is not a zoom of {tms.id} "
                                    f"({tms.minzoom}-{tms.maxzoom})")
    try:
        z, x, y = (int(params[k]) for k in ("z", "x", "y"))
    except (KeyError, ValueError):
        return  # not a tile route, or FastAPI's validation answers 422
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise TileNotFoundError(f"tile {z}/{x}/{y} is not in {tms.id}")


def _check_coordinates(params: dict[str, str], geographic: bool) -> None:
    values: dict[str, float] = {}
    for name in ("minx", "miny", "maxx", "maxy", "lon", "lat"):
        if name in params:
            value = _number(params[name])
            if value is None:
                return  # malformed: FastAPI's validation answers 422
            values[name] = value
    if not values:
        return  # not a bbox or point route
    if not all(math.isfinite(v) for v in values.values()):
        raise BadRequestError("coordinates must be finite numbers")
    if "minx" in values and not (values["minx"] < values["maxx"]
                                 and values["miny"] < values["maxy"]):
        raise BadRequestError("the bbox must be minx,miny,maxx,maxy with min < max")
    if geographic:  # lon/lat (no coord_crs): PROJ fails beyond the globe
        xs = [v for n, v in values.items() if n in ("minx", "maxx", "lon")]
        ys = [v for n, v in values.items() if n in ("miny", "maxy", "lat")]
        if not (all(-180 <= v <= 180 for v in xs) and all(-90 <= v <= 90 for v in ys)):
            raise BadRequestError("longitudes must be in [-180, 180] and latitudes in "
                                  "[-90, 90] (or give coord_crs)")


def _check_assets(assets: list[str], product: Product) -> None:
    for value in assets:
        name = value.split("|", 1)[0]
        if value != ALL_ASSETS and name not in product.files:
            raise NotFound(f"product {product.id!r} has no asset {name!r}; it has "
                           f"{', '.join(product.files)}")


def _check_nodata(value: str | None, product: Product, assets: list[str]) -> None:
    """A no-data value must be one the layer's type can hold (numpy refuses the rest).

    NaN and infinities are values of float layers only; integers must be in range.
    """
    number = _number(value) if value is not None else None
    if number is None:
        return
    for asset in assets:
        kind = _data_type(product, asset)
        try:
            dtype = np.dtype(kind)
        except TypeError:
            continue  # unknown type: let the reader decide
        if np.issubdtype(dtype, np.floating):
            fits = not math.isfinite(number) or abs(number) <= np.finfo(dtype).max
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            fits = math.isfinite(number) and info.min <= number <= info.max
        else:
            continue
        if not fits:
            raise BadRequestError(f"nodata={value} is not a {kind} value (asset {asset!r})")


def _data_type(product: Product, asset: str) -> str:
    bands = product.item.get("assets", {}).get(asset, {}).get("raster:bands") or [{}]
    return str(bands[0].get("data_type", "unknown"))


def _check_statistics_options(percentiles: list[str], bins: str | None,
                              value_range: str | None) -> None:
    for value in percentiles:
        number = _number(value)
        if number is not None and not 0 <= number <= 100:
            raise BadRequestError(f"percentile p={value} is not in [0, 100]")
    if bins:
        parsed = [_number(v) for v in bins.split(",")]
        edges = [e for e in parsed if e is not None]
        if len(edges) < len(parsed):
            return  # FastAPI's validation answers 422
        if len(edges) == 1 and not edges[0] >= 1:
            raise BadRequestError(f"histogram_bins={bins}: at least 1 bin")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise BadRequestError("histogram_bins edges must increase")
    if value_range:
        low, high, *_ = [_number(v) for v in value_range.split(",")] + [None, None]
        if low is not None and high is not None and not low <= high:
            raise BadRequestError("histogram_range must be min,max with min <= max")


def checked_algorithm(
    style: StyleDep,
    algorithm: Annotated[BaseAlgorithm | None, Depends(available_algorithms.dependency)],
) -> BaseAlgorithm | None:
    """The ``algorithm`` dependency of titiler, refusing (400) what the layer lacks bands for.

    (``normalizedIndex`` on a one-band layer would index a second band that is not there.)
    """
    bands = len(style.preset.assets)
    if algorithm is not None and algorithm.input_nbands and algorithm.input_nbands > bands:
        raise BadRequestError(f"this algorithm needs {algorithm.input_nbands} bands; layer "
                              f"{style.preset.name!r} has {bands}")
    return algorithm


class BoundedPartParams(PartFeatureParams):
    """titiler's ``/bbox`` and ``/feature`` sizes, capped at `MAX_IMAGE_SIDE` by default.

    Without a size, titiler reads the box at the product's full resolution, however large
    the box: ``max_size`` then defaults to the cap (rio-tiler never enlarges with it).
    """

    def __post_init__(self) -> None:
        """Cap the output when no size is asked."""
        super().__post_init__()  # type: ignore[no-untyped-call]
        if self.max_size is None and not (self.width or self.height):
            self.max_size = MAX_IMAGE_SIDE
