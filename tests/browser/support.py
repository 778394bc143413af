"""Pages of the browser tests, recording what they ask."""

from __future__ import annotations

from typing import Any


def new_page(chromium: Any, base_url: str, width: int = 1400, height: int = 900) -> Any:
    """A fresh page in its own context (close ``page.context``) that records what it asked
    and any script error."""
    context = chromium.new_context(viewport={"width": width, "height": height},
                                   base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.errors = []
    page.requests = []
    page.tile_responses = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("response", lambda response: page.tile_responses.append(
        (response.status, response.url)) if "/tiles/tiles/" in response.url else None)
    return page


def open_page(page: Any) -> None:
    """Open the page and wait until it is ready to use (its forms filled)."""
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
