"""The products as a STAC API: landing page, collections, items and item search.

This package owns the routes STAC clients (pystac-client, QGIS, stac-browser...) use:

- ``GET /``: content-negotiated. Browsers (an ``Accept`` header preferring ``text/html``)
  get the web viewer (`api.viewer`); everyone else (``?f=json``, ``Accept`` preferring JSON,
  ``*/*``, or no ``Accept`` at all as pystac sends) gets the landing page as a STAC Catalog,
  which also carries the OGC API - Processes links, so that OGC clients (OWSLib) opening the
  service's root find ``/processes`` and ``/jobs``; ``?f=html`` forces the viewer;
- ``GET /collections`` and ``/collections/{collection_id}``: one collection per mosaicking
  method (``l3a-synthesis``, ``l3a-composite``...), its extent that of its products;
- ``GET /collections/{collection_id}/items`` and ``.../items/{item_id}``: the products;
- ``GET`` and ``POST /search``: item search by bbox, intersects, datetime, ids, collections.

The items are the products' items as ``GET /products/{id}`` serves them (`api.views`), with
their collection. The conformance classes are listed in `api.routes.landing` (one list).
Products are read through the app's `api.tiles.products.ProductCatalogue`, found through the
job store (successful jobs): there is no separate index to keep in step.
"""

from api.stac.routes import router

__all__ = ["router"]
