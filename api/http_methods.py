"""HEAD and OPTIONS on every route, and an ``Allow`` header that lists every method of a path.

FastAPI answers a HEAD on a GET route 405 (Starlette's plain routes add HEAD, FastAPI's do
not), so GDAL, ``curl -I`` and link checkers see an error where a download is; GDAL then
falls back to GET and, for a URL without a file extension, probes sidecar files. And when
several routes share a path (``GET`` and ``DELETE /jobs/{id}``), a 405 names only the
methods of the first one. This middleware, in front of the app:

- answers HEAD by running the GET and sending its status and headers (``Content-Length``,
  ``Accept-Ranges``, ``Content-Range`` included) without the body;
- answers OPTIONS on a path some route serves with 204 and ``Allow``: the methods of every
  route matching the path, with HEAD wherever GET is (a CORS preflight, which carries
  ``Access-Control-Request-Method``, is left to the CORS middleware);
- sets ``Allow`` on a 405 to that same list.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

Message = MutableMapping[str, Any]


class HttpMethods:
    """ASGI middleware: HEAD as GET without a body, OPTIONS, and a complete ``Allow``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request (only HTTP requests are touched)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS" and not any(  # a CORS preflight is the CORS middleware's
                k.lower() == b"access-control-request-method" for k, _ in scope["headers"]):
            allowed = allowed_methods(scope)
            if allowed:
                await _empty(send, 204, allowed)
                return
        if method == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send, scope))
            return
        await self.app(scope, receive, _complete_allow(send, scope))


def allowed_methods(scope: Scope) -> list[str]:
    """The methods the app's OpenAPI document gives the request's path, HEAD beside GET.

    The OpenAPI document is the public list of every route and method (FastAPI nests
    included routers in private classes); paths outside it (the viewer's files) get [].
    """
    app = scope.get("app")
    if app is None or not hasattr(app, "openapi"):
        return []
    methods = {method.upper() for pattern, verbs in _path_patterns(app)
               if pattern.fullmatch(scope["path"]) for method in verbs}
    if "GET" in methods:
        methods.add("HEAD")
    if methods:
        methods.add("OPTIONS")
    return sorted(methods)


def _path_patterns(app: Any) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    """Each OpenAPI path as a regular expression ({name} is one path segment), its methods.

    Kept on the app (its routes do not change once it serves).
    """
    patterns: list[tuple[re.Pattern[str], tuple[str, ...]]] | None = getattr(
        app.state, "http_method_patterns", None)
    if patterns is None:
        patterns = [
            (re.compile("".join(_segment(part) for part in re.split(r"(\{[^}]+\})", path))),
             tuple(m for m in verbs if m in _HTTP_METHODS))
            for path, verbs in app.openapi().get("paths", {}).items()
        ]
        app.state.http_method_patterns = patterns
    return patterns


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def _segment(part: str) -> str:
    return "[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part)


def _without_body(send: Send, scope: Scope) -> Callable[[Message], Awaitable[None]]:
    async def head_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send(message)

    return head_send


def _complete_allow(send: Send, scope: Scope) -> Callable[[Message], Awaitable[None]]:
    async def allow_send(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            allowed = allowed_methods(scope)
            if allowed:
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"allow"]
                message = {**message,
                           "headers": [*headers, (b"allow", ", ".join(allowed).encode())]}
        await send(message)

    return allow_send


async def _empty(send: Send, status: int, allowed: list[str]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"allow", ", ".join(allowed).encode()),
                            (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
