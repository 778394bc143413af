"""FastAPI dependencies that plug l3a products into titiler's factory slots.

One request resolves the product once (`get_product`) and the layer once (`get_style`);
FastAPI caches both within the request, and every slot of the factory reads them:

- ``path_dependency`` -> the product's ``item.json`` (a path from a directory scan);
- ``reader_dependency`` -> the parsed item, so STACReader reads no JSON per request;
- ``layer_dependency`` -> the preset's assets;
- ``dataset_dependency`` -> the preset's nodata when the file has none;
- ``colormap_dependency`` -> the preset's colormap unless ``colormap_name`` / ``colormap``;
- ``render_dependency`` -> the product's stretch unless ``rescale``.

No dependency takes a URL or a path from the client.

This module has no ``from __future__ import annotations``: FastAPI reads the signatures of
the dependency classes at run time, and older FastAPI versions do not resolve string
annotations on classes.
"""

from collections.abc import Sequence
from typing import Annotated, Literal

import numpy as np
from fastapi import Depends, HTTPException, Path, Query, Request
from rio_tiler.colormap import cmap as default_colormaps
from rio_tiler.types import ColorMapType
from titiler.core.dependencies import (
    ColorMapParams,
    DatasetParams,
    DefaultDependency,
    ImageRenderingParams,
)
from titiler.core.errors import BadRequestError

from api.problems import NotFound
from api.tiles.products import Product, ProductCatalogue
from api.tiles.reader import ProductReader
from api.tiles.styles import (
    STATS_MAX_SIZE,
    LayerName,
    Preset,
    ReadAssets,
    available,
    default_preset,
    value_range,
)

#: Where `api.tiles.routes.register_tiles` keeps the app's `ProductCatalogue`.
CATALOGUE_STATE = "l3a_tile_products"


def product_catalogue(request: Request) -> ProductCatalogue:
    """The app's products, read once per version of their item (tiles and product routes)."""
    catalogue: ProductCatalogue = getattr(request.app.state, CATALOGUE_STATE)
    return catalogue


def get_product(
    request: Request,
    product_id: Annotated[str, Path(description="Product id (the id of its job).")],
) -> Product:
    """Return the product a request names (404 problem when there is none)."""
    return product_catalogue(request).get(product_id)


ProductDep = Annotated[Product, Depends(get_product)]


class Style:
    """A product and the preset a request draws it with; the stretch is read on demand."""

    def __init__(self, product: Product, preset: Preset) -> None:
        """Pair ``preset`` with ``product`` (no I/O)."""
        self.product = product
        self.preset = preset

    def rescale(self) -> tuple[float, float] | None:
        """Return the preset's value range over this product (computed once per version)."""
        return layer_range(self.product, self.preset)


def get_style(
    product: ProductDep,
    layer: Annotated[
        LayerName | None,
        Query(description="Named layer: `rgb` (default when the product has red, green "
              "and blue), `falsecolor`, a reflectance band, or a quality layer (`date`, "
              "`count`, `weight`, `flag`, `method`, `medoid_distance`, `scl`). "
              "See `/products/{product_id}/tiles/layers`."),
    ] = None,
) -> Style:
    """Return the style of a request: the asked layer, or the product's default one."""
    presets = {p.name: p for p in available(product)}
    preset = presets.get(layer) if layer else default_preset(product)
    if preset is None:
        raise NotFound(f"product {product.id!r} has no layer {layer!r}; it has "
                       f"{', '.join(presets) or 'none'}")
    return Style(product, preset)


StyleDep = Annotated[Style, Depends(get_style)]


def item_path(product: ProductDep) -> str:
    """Path dependency: the product's ``item.json``, as STACReader's ``input``."""
    return str(product.item_path)


class ProductReaderParams(DefaultDependency):
    """Reader options: the parsed item (absolute hrefs) and the product (its memo).

    So no JSON is read and no grid is recomputed per request (`api.tiles.reader`).
    """

    def __init__(self, product: ProductDep) -> None:
        """Take the item of ``product``."""
        self.item = product.stac
        self.product = product


class LayerParams(DefaultDependency):
    """The assets of the request's layer (titiler's ``assets`` / ``expression`` slot)."""

    def __init__(self, style: StyleDep) -> None:
        """Read the assets of ``style``'s preset."""
        # A list, not a tuple: titiler's /statistics compares it with [":all:"].
        self.assets: list[str] = list(style.preset.assets)
        # rio-tiler reads the assets of a request in a new thread pool (one per request).
        # For local COGs a fresh thread costs more than the read it runs (measured: a
        # single-asset tile took 26 ms through the pool, 13 ms without; three assets 63
        # and 41 ms): read them one after the other in the request's own thread.
        self.threads = 1


class LayerDatasetParams(DefaultDependency):
    """titiler's dataset options, with the preset's nodata when none is given."""

    def __init__(self, style: StyleDep,
                 params: Annotated[DatasetParams, Depends(DatasetParams)]) -> None:
        """Copy ``params``; fill ``nodata`` from the preset."""
        self.__dict__.update(params.__dict__)
        if params.nodata is None and style.preset.nodata is not None:
            self.nodata = style.preset.nodata


class LayerRenderingParams(DefaultDependency):
    """titiler's rendering options, with the product's stretch when no ``rescale`` is given."""

    def __init__(self, style: StyleDep,
                 params: Annotated[ImageRenderingParams,
                                   Depends(ImageRenderingParams)]) -> None:
        """Copy ``params``; fill ``rescale`` from the product's statistics."""
        self.__dict__.update(params.__dict__)
        if params.rescale is None:
            stretch = style.rescale()  # None for categorical layers
            if stretch is not None:
                self.rescale = [stretch]


#: rio-tiler's colormap names, as titiler's own dependency declares them.
ColormapName = Literal[tuple(default_colormaps.list())]  # type: ignore[valid-type]


def checked_colormap(
    colormap_name: Annotated[ColormapName | None,  # type: ignore[valid-type]
                             Query(description="Colormap name")] = None,
    colormap: Annotated[str | None, Query(description="JSON encoded custom Colormap")] = None,
) -> ColorMapType | None:
    """Titiler's colormap parameters, with a colormap it cannot use answered 400, not 500.

    (``{"a": 1}`` parses as JSON, then fails on its key and value inside titiler.)
    """
    try:
        parsed: ColorMapType | None = ColorMapParams(colormap_name=colormap_name,
                                                     colormap=colormap)
    except HTTPException:
        raise
    except Exception as exc:  # int() of a key, rio-tiler's colour parsing, unpacking
        raise BadRequestError(f"colormap: not a colormap ({exc})") from None
    if parsed is not None and colormap:
        _check_colours(parsed)
    return parsed


def _check_colours(colormap: ColorMapType) -> None:
    colours = colormap.values() if isinstance(colormap, dict) else [c for _, c in colormap]
    for colour in colours:
        if not all(isinstance(v, int) and 0 <= v <= 255 for v in colour):
            raise BadRequestError(f"colormap: colour {list(colour)} is not 3 or 4 values "
                                  "in 0-255")


def layer_colormap(
    style: StyleDep,
    explicit: Annotated[ColorMapType | None, Depends(checked_colormap)],
) -> ColorMapType | None:
    """Colormap dependency: the client's ``colormap_name`` / ``colormap``, else the preset's."""
    return explicit or style.preset.colormap()


def layer_range(product: Product, preset: Preset) -> tuple[float, float] | None:
    """Return the value range of ``preset`` over ``product``, memoised on the product.

    The product's lock makes the first computation single-flight: a map asks for a dozen
    tiles at once, and only one of them should read the statistics.
    """
    key = f"range:{preset.name}"
    with product.lock:
        if key not in product.memo:
            product.memo[key] = value_range(preset, product.properties, _read_assets(product))
        found: tuple[float, float] | None = product.memo[key]
        return found


def _read_assets(product: Product) -> ReadAssets:
    """Return decimated masked reads of ``product``'s assets through rio-tiler (overviews)."""

    def read(assets: Sequence[str], nodata: float | None) -> np.ma.MaskedArray:
        options = {} if nodata is None else {"nodata": nodata}
        with ProductReader(str(product.item_path), item=product.stac, product=product) as src:
            image = src.preview(assets=list(assets), max_size=STATS_MAX_SIZE, threads=1,
                                **options)
        array: np.ma.MaskedArray = image.array
        return array

    return read
