"""Products: the finished mosaics as STAC, and their COGs with HTTP range requests.

Client input never becomes a path. A product id is looked up in the job store (it must be a
successful job's); an asset key is looked up in that product's STAC item, whose href names a
file of the product folder. Anything else, ``..`` and encoded slashes included, is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from api.models import Link
from api.problems import PROBLEM_RESPONSE, NotFound
from api.routes.jobs import MAX_OFFSET
from api.services import BaseUrl, Services, ServicesDep
from api.tiles.deps import product_catalogue
from api.tiles.products import Product
from api.views import COG, GEOJSON, page_links, public_item
from engine.parts import VRT_TYPE

router = APIRouter(tags=["Products"])



class GeoJSONResponse(JSONResponse):
    """JSON with the GeoJSON media type (STAC items and item collections)."""

    media_type = GEOJSON


def _product(request: Request, services: Services, product_id: str) -> Product:
    """A successful job's product (its item read once per version, shared with the tiles).

    Raises:
        NotFound: no such successful job, or its folder or item is gone.

    """
    job = services.store.product_job(product_id)
    if job is None or job.product_id is None:
        raise NotFound(f"no product {product_id!r}")
    return product_catalogue(request).get(job.product_id)


@router.get("/products", response_class=GeoJSONResponse, summary="List the products",
            responses={200: {"content": {GEOJSON: {}}, "description": "STAC ItemCollection"}})
def list_products(
    request: Request,
    services: ServicesDep,
    base: BaseUrl,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> GeoJSONResponse:
    """List finished products as a STAC ItemCollection, newest first."""
    jobs, total = services.store.products(limit, offset)
    features = []
    catalogue = product_catalogue(request)
    for job in jobs:
        try:
            product = catalogue.get(job.product_id or job.id)
        except NotFound:  # removed from disk behind the service's back: leave it out
            continue
        features.append(public_item(product.item, base))
    links = page_links(base, "/products", {}, limit, offset, total, GEOJSON)
    links.append(Link(href=f"{base}/", rel="root", type="application/json"))
    return GeoJSONResponse({
        "type": "FeatureCollection", "features": features, "numberMatched": total,
        "numberReturned": len(features),
        "links": [link.model_dump(exclude_none=True) for link in links],
    })


@router.get("/products/{product_id}", response_class=GeoJSONResponse,
            summary="A product's STAC item",
            responses={200: {"content": {GEOJSON: {}}, "description": "STAC item"},
                       404: PROBLEM_RESPONSE})
def get_product(product_id: str, request: Request, services: ServicesDep,
                base: BaseUrl) -> GeoJSONResponse:
    """Return a product's STAC item, its asset hrefs absolute URLs of this service."""
    return GeoJSONResponse(public_item(_product(request, services, product_id).item, base))


@router.get("/products/{product_id}/assets/{key}", response_class=FileResponse,
            summary="Download an asset (COG, or a layer's mosaic of parts; HTTP range "
                    "requests supported)",
            responses={200: {"content": {COG: {}}, "description": "the COG"},
                       206: {"content": {COG: {}}, "description": "the requested range"},
                       404: PROBLEM_RESPONSE})
def get_asset(product_id: str, key: str, request: Request,
              services: ServicesDep) -> FileResponse:
    """Return one asset of a product; ``Range: bytes=...`` gives a 206 partial content.

    ``key`` is an asset key, or the name of a file that an asset names: a product built in
    parts has a mosaic per layer (a VRT) naming its overview levels and its parts' files
    relative to itself, so that a client reading the mosaic at this URL finds them beside it.
    """
    product = _product(request, services, product_id)
    # Looked up, never built: the catalogue keeps only hrefs naming a file of the folder,
    # and the files those name.
    path = product.files.get(key)
    if path is not None:
        media = str(product.item["assets"][key].get("type", COG))
        name = f"{product_id}-{key}{path.suffix}"
    else:
        path = product.named.get(key)
        if path is None:
            raise NotFound(f"product {product_id!r} has no asset {key!r}")
        media, name = VRT_TYPE if path.suffix == ".vrt" else COG, f"{product_id}-{key}"
    return FileResponse(path, media_type=media, filename=name,
                        content_disposition_type="inline")
