"""Tiles of every product through TiTiler: ``/products/{product_id}/tiles/...``.

One `MultiBaseTilerFactory` serves all products. Its *path dependency* maps the product id
of the URL to the product's local ``item.json`` (`api.tiles.products`: looked up in a scan
of the products directory, never joined from client input), and rio-tiler's `STACReader`
reads the product's COGs as the item's assets. titiler's default ``?url=`` dependency is not
mounted anywhere in the service.

Endpoints (all under ``/products/{product_id}/tiles``; ``{tms}`` is ``WebMercatorQuad`` or
another morecantile TileMatrixSet):

- ``/{tms}/tilejson.json``: TileJSON (bounds, zooms, the tile URL template);
- ``/tiles/{tms}/{z}/{x}/{y}[.png|.jpg|.webp|.tif|...]``: a tile (PNG by default; a tile
  beside the product is 204);
- ``/preview[.fmt]``, ``/bbox/{minx},{miny},{maxx},{maxy}.{fmt}``, ``/feature``: images;
- ``/point/{lon},{lat}``: values; ``/statistics``: statistics of a layer; ``/info``,
  ``/assets``, ``/asset_statistics``: titiler's asset views;
- ``/layers``: l3a's named layers of the product with their legends.

Every image endpoint draws a *layer* (``?layer=rgb|falsecolor|<band>|date|count|weight|flag|
method|medoid_distance|scl``; default true colour) with a stretch taken from the product's own
statistics (`api.tiles.styles`); ``rescale``, ``colormap_name``, ``colormap``,
``color_formula`` and ``algorithm`` are titiler's and override the preset.
"""

from __future__ import annotations

from typing import Any

from attrs import define
from fastapi import APIRouter, Depends, FastAPI, Request
from rio_tiler.models import ImageData
from titiler.core.factory import MultiBaseTilerFactory
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image

from api.settings import Settings
from api.tiles import errors as tile_errors
from api.tiles.deps import (
    CATALOGUE_STATE,
    LayerDatasetParams,
    LayerParams,
    LayerRenderingParams,
    ProductDep,
    ProductReaderParams,
    item_path,
    layer_colormap,
    layer_range,
)
from api.tiles.guards import BoundedPartParams, check_feature, check_request, checked_algorithm
from api.tiles.products import ProductCatalogue
from api.tiles.reader import ProductReader
from api.tiles.responses import StandardTileJSON
from api.tiles.styles import available, default_preset, legend

#: Mount point of the tiler; `api.views.tilejson_url` builds links that match it.
PREFIX = "/products/{product_id}/tiles"


def register_tiles(app: FastAPI, settings: Settings) -> None:
    """Mount the tile endpoints of every product on ``app``.

    Args:
        app: the service's app (its problem handlers are installed already).
        settings: the service's settings (for the products directory).

    """
    setattr(app.state, CATALOGUE_STATE, ProductCatalogue(settings.products_dir))
    factory = tiler_factory(settings.public_url)
    app.include_router(factory.router, prefix=PREFIX, tags=["Tiles"],
                       dependencies=[Depends(check_request), Depends(check_feature)])
    app.include_router(layers_router(), prefix=PREFIX, tags=["Tiles"])
    app.add_middleware(StandardTileJSON)
    tile_errors.install(app)


@define(kw_only=True)
class ProductTilerFactory(MultiBaseTilerFactory):
    """titiler's multi-asset factory, its links on the service's public URL when one is set.

    titiler builds the TileJSON's tile URLs from the request's own base URL; behind a proxy
    that serves the service under another host or path, clients could not reach them. The
    rest of the API builds its links on ``L3A_PUBLIC_URL`` (`api.services.base_url`): so do
    these.
    """

    public_url: str | None = None

    def url_for(self, request: Request, name: str, **path_params: Any) -> str:
        """Return titiler's URL for ``name``, on the public URL when one is set."""
        url: str = super().url_for(request, name, **path_params)
        base = str(request.base_url).rstrip("/")
        if self.public_url and url.startswith(base):
            return self.public_url.rstrip("/") + url[len(base):]
        return url


def tiler_factory(public_url: str | None = None) -> MultiBaseTilerFactory:
    """Return titiler's multi-asset factory wired to l3a products (see `api.tiles.deps`)."""
    return ProductTilerFactory(
        public_url=public_url,
        # rio-tiler's STACReader (grid memoised): the item ProductReaderParams hands it has
        # absolute hrefs to files of the product folder, so it opens nothing else.
        reader=ProductReader,
        path_dependency=item_path,
        reader_dependency=ProductReaderParams,
        layer_dependency=LayerParams,
        dataset_dependency=LayerDatasetParams,
        colormap_dependency=layer_colormap,
        render_dependency=LayerRenderingParams,
        img_part_dependency=BoundedPartParams,
        process_dependency=checked_algorithm,
        render_func=render_png_by_default,
        router_prefix=PREFIX,
        # titiler's map.html loads its JavaScript from a CDN: the service works offline and
        # has its own page at "/".
        add_viewer=False,
    )


def render_png_by_default(image: ImageData, output_format: ImageType | None = None,
                          **kwargs: Any) -> tuple[bytes, str]:
    """Render like titiler, but PNG when no format is asked.

    titiler picks JPEG for a tile without masked pixels and PNG otherwise: a map would then
    mix lossy and lossless tiles of one layer, and quality layers would get JPEG artefacts.
    JPEG is answered as ``image/jpeg``.
    """
    content, media_type = render_image(image, output_format=output_format or ImageType.png,
                                       **kwargs)
    # titiler names JPEG "image/jpg" (its .jpg format), which is no registered media type.
    return content, "image/jpeg" if media_type == "image/jpg" else media_type


def layers_router() -> APIRouter:
    """Return the ``/layers`` route: the named layers of a product and their legends."""
    router = APIRouter()

    @router.get("/layers", summary="The named layers of a product",
                responses={404: {"description": "no such product"}})
    def layers(product: ProductDep) -> dict[str, Any]:
        """List the layers a product can be drawn as (``?layer=`` values), with legends."""
        default = default_preset(product)
        return {
            "product_id": product.id,
            "default": default.name if default else None,
            "layers": [
                {"id": p.name, "title": p.title, "assets": list(p.assets),
                 "legend": legend(p, layer_range(product, p))}
                for p in available(product)
            ],
        }

    return router
