"""titiler's TileJSON made standard TileJSON 3.0.0.

titiler's TileJSON adds fields of its own (``raster_layers``, ``band_descriptions``,
``data_type``, ``minmax``), gives no ``tileSize`` although its tile URLs ask for 512 px
tiles (a map then draws them at half size, or asks for four times too many), and its
``minzoom`` is the product's native zoom: a web map hides a layer below its minzoom, so a
small product vanished as soon as the user zoomed out, although every zoom is served (from
the product's overviews, at a cost bounded by the tile's size).

`StandardTileJSON` rewrites those documents on the way out: only the fields of the TileJSON
3.0.0 specification, with ``tileSize`` from its tile URL and ``minzoom`` 0.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

Message = MutableMapping[str, Any]

#: The members TileJSON 3.0.0 defines (https://github.com/mapbox/tilejson-spec).
TILEJSON_FIELDS = ("tilejson", "tiles", "vector_layers", "attribution", "bounds", "center",
                   "data", "description", "fillzoom", "grids", "legend", "maxzoom", "minzoom",
                   "name", "scheme", "template", "version")
#: The tile size titiler's tile URLs ask for when the request names none.
DEFAULT_TILE_SIZE = 512


def standard_tilejson(document: dict[str, Any]) -> dict[str, Any]:
    """A titiler TileJSON with only standard members, its tile size, and minzoom 0."""
    out = {key: document[key] for key in TILEJSON_FIELDS
           if key in document and document[key] is not None}
    tiles = out.get("tiles") or [""]
    sizes = parse_qs(urlsplit(tiles[0]).query).get("tilesize", [str(DEFAULT_TILE_SIZE)])
    out["tileSize"] = int(sizes[0]) if sizes[0].isdigit() else DEFAULT_TILE_SIZE
    out["minzoom"] = 0
    if "center" in out and len(out["center"]) == 3:
        out["center"] = [*out["center"][:2], out.get("maxzoom", out["center"][2])]
    return out


class StandardTileJSON:
    """ASGI middleware: standard TileJSON documents (other answers pass untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; rewrite its answer if it is a TileJSON document."""
        # The products' tiles only: the preview's TileJSON is the service's own.
        if (scope["type"] == "http" and scope["path"].startswith("/products/")
                and scope["path"].endswith("/tilejson.json")):
            await self._tilejson(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _tilejson(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = bytearray()

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False) or start is None:
                return
            headers = dict(start.get("headers", []))
            payload = bytes(body)
            if start["status"] == 200 and headers.get(b"content-type", b"").startswith(
                    b"application/json"):
                payload = json.dumps(standard_tilejson(json.loads(payload))).encode()
            rest = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*rest,
                                             (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload, "more_body": False})

        await self.app(scope, receive, buffered)
