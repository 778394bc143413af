"""The OGC API - Processes landing page (``/api``) and the conformance classes of the service.

``/`` is the web viewer for browsers and the STAC landing page (a Catalog that also links
the processes) for JSON clients: see `api.stac`.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.models import Conformance, LandingPage, Link
from api.services import BaseUrl
from api.views import OGC_REL

router = APIRouter(tags=["Capabilities"])

#: The media type of the OpenAPI document, with the version the app generates.
OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.1"

#: Not ``conf/oas30``: the service describes itself in OpenAPI 3.1 (FastAPI's), which that
#: class (OpenAPI 3.0) does not cover.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
    # The products as a STAC API (`api.stac`).
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


@router.get("/api", response_model=LandingPage, response_model_exclude_none=True,
            summary="Landing page")
def landing(base: BaseUrl) -> LandingPage:
    """Link to everything the API offers."""
    return LandingPage(
        title="l3a",
        description="Sentinel-2 Level-3A mosaics on demand (OGC API - Processes).",
        links=[
            Link(href=f"{base}/api", rel="self", type="application/json", title="this page"),
            Link(href=f"{base}/openapi.json", rel="service-desc",
                 type=OPENAPI_TYPE, title="OpenAPI"),
            Link(href=f"{base}/docs", rel="service-doc", type="text/html",
                 title="API documentation"),
            Link(href=f"{base}/conformance", rel=f"{OGC_REL}/conformance",
                 type="application/json", title="conformance classes"),
            Link(href=f"{base}/processes", rel=f"{OGC_REL}/processes",
                 type="application/json", title="processes"),
            Link(href=f"{base}/jobs", rel=f"{OGC_REL}/job-list", type="application/json",
                 title="jobs"),
            Link(href=f"{base}/products", rel="data", type="application/geo+json",
                 title="finished products (STAC ItemCollection)"),
            Link(href=f"{base}/", rel="root", type="application/json",
                 title="the products as a STAC API (landing Catalog)"),
            Link(href=f"{base}/search", rel="search", type="application/geo+json",
                 title="STAC item search"),
        ],
    )


@router.get("/conformance", response_model=Conformance, summary="Conformance classes")
def conformance() -> Conformance:
    """List the OGC conformance classes this API implements."""
    return Conformance(conformsTo=CONFORMANCE)
