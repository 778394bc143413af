"""Errors of the tiler as HTTP answers: titiler's table, in the service's problem shape.

titiler maps rio-tiler and rasterio exceptions to status codes (`DEFAULT_STATUS_CODES`). We
take that table with three changes:

- its catch-all ``Exception: 500`` row is left out: the service's own handler
  (`api.problems`) answers unexpected errors, and must keep doing so for every route;
- a tile outside the product is **204 No Content** (an empty tile, as titiler's mosaic
  tiler answers), not 404: a web map asks for every tile of its view, and the ones beside
  the product are not errors;
- a few rio-tiler errors the table does not list, all caused by request parameters, are 400
  rather than 500.

Bodies are ``application/problem+json`` like the rest of the API. A 5xx body says nothing
about the server (rasterio messages carry file paths); the error is logged instead.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import Response
from rio_tiler.errors import (
    AssetAsBandError,
    InvalidBounds,
    InvalidBufferSize,
    InvalidColorMapName,
    MaxArraySizeError,
    PointOutsideBounds,
    TileOutsideBounds,
)
from titiler.core.errors import DEFAULT_STATUS_CODES

from api.problems import problem_response

log = logging.getLogger(__name__)

#: Exception class -> HTTP status, for every route of the app (looked up along the MRO).
TILE_ERRORS: dict[type[Exception], int] = {
    **{cls: code for cls, code in DEFAULT_STATUS_CODES.items() if cls is not Exception},
    TileOutsideBounds: 204,
    PointOutsideBounds: 404,
    InvalidBounds: 400,
    InvalidBufferSize: 400,
    InvalidColorMapName: 400,
    AssetAsBandError: 400,
    MaxArraySizeError: 400,
}

_TITLES = {400: "Bad request", 404: "Not found", 500: "Internal error"}


async def _answer(request: Request, exc: Exception) -> Response:
    status = _status(exc)
    if status == 204:
        return Response(status_code=204)
    if status >= 500:
        log.error("tiler error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(status, _TITLES.get(status, "Error"),
                                "the tiler could not read the product; the error was logged")
    return problem_response(status, _TITLES.get(status, "Error"), str(exc))


def _status(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in TILE_ERRORS:
            return TILE_ERRORS[cls]
    return 500


def install(app: FastAPI) -> None:
    """Register the table's handlers on ``app``."""
    for cls in TILE_ERRORS:
        app.add_exception_handler(cls, _answer)
