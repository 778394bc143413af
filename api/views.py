"""How jobs and products look to clients: statusInfo documents, results, public STAC items.

Pure functions of a job (or a product folder) and the service's base URL, so the routes stay
a few lines each and every link is built in one place.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from api.jobs.store import Job, JobStatus
from api.models import Link, StatusInfo

PROCESS_ID = "mosaic"
OGC_REL = "http://www.opengis.net/def/rel/ogc/1.0"
GEOJSON = "application/geo+json"
JSON = "application/json"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
TILE_MATRIX_SET = "WebMercatorQuad"
#: What a method name must look like to name a collection (it becomes a path segment).
COLLECTION_SUFFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")


def tilejson_url(base: str, product_id: str) -> str:
    """Return the TileJSON URL of a product (served by the tiles module)."""
    return f"{base}/products/{product_id}/tiles/{TILE_MATRIX_SET}/tilejson.json"


def status_info(job: Job, base: str) -> StatusInfo:
    """Return the OGC statusInfo of a job."""
    href = f"{base}/jobs/{job.id}"
    links = [Link(href=href, rel="self", type=JSON, title="this job"),
             Link(href=href, rel="monitor", type=JSON, title="job status")]
    if job.status == JobStatus.SUCCESSFUL:
        links.append(Link(href=f"{href}/results", rel=f"{OGC_REL}/results", type=JSON,
                          title="results"))
        if job.product_id:
            links.append(Link(href=f"{base}/products/{job.product_id}", rel="item",
                              type=GEOJSON, title="the product's STAC item"))
    return StatusInfo(
        processID=job.process_id, jobID=job.id, status=job.status,
        message=job.message, created=job.created, started=job.started,
        finished=job.finished, updated=job.updated, progress=job.progress, links=links,
    )


def collection_id(item: Mapping[str, Any]) -> str:
    """Return the STAC collection of a product: ``l3a-<method>`` (``l3a-other`` if unnamed)."""
    method = item.get("properties", {}).get("l3a:method")
    if not isinstance(method, str) or not COLLECTION_SUFFIX.fullmatch(method):
        method = "other"
    return f"l3a-{method}"


def public_item(product_item: Mapping[str, Any], base: str,
                self_href: str | None = None) -> dict[str, Any]:
    """Return a copy of a product's item with absolute asset URLs of this service and links.

    The item belongs to its method's collection (`collection_id`); its root is the STAC
    landing page ``/``. ``self_href`` replaces ``/products/<id>`` as the ``self`` link (the
    STAC API serves the item under its collection too).
    """
    item = copy.deepcopy(dict(product_item))
    pid = item["id"]
    for key, asset in item.get("assets", {}).items():
        asset["href"] = f"{base}/products/{pid}/assets/{key}"
    cid = collection_id(item)
    item["collection"] = cid
    item["links"] = [
        {"rel": "self", "href": self_href or f"{base}/products/{pid}", "type": GEOJSON},
        {"rel": "parent", "href": f"{base}/collections/{cid}", "type": JSON},
        {"rel": "collection", "href": f"{base}/collections/{cid}", "type": JSON},
        {"rel": "root", "href": f"{base}/", "type": JSON},
        {"rel": "tilejson", "href": tilejson_url(base, pid), "type": JSON,
         "title": "TileJSON (Web Mercator tiles)"},
        {"rel": "job", "href": f"{base}/jobs/{item['properties'].get('l3a:job_id', pid)}",
         "type": JSON},
        *[link for link in item.get("links", []) if link.get("rel") == "derived_from"],
    ]
    return item


def results(item: Mapping[str, Any], base: str) -> dict[str, Any]:
    """Return the OGC results document of a product: a link per output."""
    pid = item["id"]
    out: dict[str, Any] = {
        key: {"href": f"{base}/products/{pid}/assets/{key}", "type": asset.get("type", COG),
              "title": asset.get("title")}
        for key, asset in item.get("assets", {}).items()
    }
    out["item"] = {"href": f"{base}/products/{pid}", "type": GEOJSON,
                   "title": "STAC item of the product"}
    out["tilejson"] = {"href": tilejson_url(base, pid), "type": JSON,
                       "title": "TileJSON of the product (Web Mercator tiles)"}
    return out


def page_links(base: str, path: str, params: Mapping[str, Any], limit: int, offset: int,
               total: int, media_type: str = JSON) -> list[Link]:
    """The ``self``, ``next`` and ``prev`` links of a page of a list of ``total`` entries."""
    def href(at: int) -> str:
        query = urlencode({**params, "limit": limit, "offset": at}, doseq=True)
        return f"{base}{path}?{query}"

    links = [Link(href=href(offset), rel="self", type=media_type)]
    if offset + limit < total:
        links.append(Link(href=href(offset + limit), rel="next", type=media_type))
    if offset > 0:
        links.append(Link(href=href(max(0, offset - limit)), rel="prev", type=media_type))
    return links
