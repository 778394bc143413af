"""Helpers of the catalogue tests: data paths, item loading, loopback servers.

The real items are the test data in tests/data (`tests.data`).

Every server here listens on 127.0.0.1 only: the tests need no network.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests import data as test_data

#: The paths of the real items in the test data (`tests.data`).
STAC_ITEMS = test_data.STAC_ITEMS
TWL = test_data.TWL
TWL_NDJSON = test_data.TWL_NDJSON
C1_ITEM = STAC_ITEMS / "earthsearch-c1" / "S2B_T38XNF_20250422T091553_L2A.json"
PC_SITE2 = STAC_ITEMS / "odc-stac" / "site2-2020_jun_jul-35MNM.geojson"
#: A bbox over the 33TWL tile, the month of its items, and their ids in date order.
TWL_BBOX = (15.2, 45.2, 16.2, 45.9)
AUGUST = (datetime(2023, 8, 1, tzinfo=UTC), datetime(2023, 8, 31, 23, 59, 59, tzinfo=UTC))
TWL_IDS = [  # by date
    "S2B_33TWL_20230810_0_L2A",  # 69 % cloud
    "S2B_33TWL_20230813_0_L2A",  # 1.7 %
    "S2A_33TWL_20230815_0_L2A",  # 0.2 %
    "S2A_33TWL_20230818_0_L2A",  # 45.7 %
    "S2B_33TWL_20230820_0_L2A",  # 8.1 %
]


def read_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def real_item_files() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every (file, item) of the real item folders, FeatureCollections unpacked.

    Earth Search items of mapchete-eo are stored without a file extension, one of them in a
    folder of its own; collections and XML side files are not items.
    """
    for path in sorted(STAC_ITEMS.rglob("*")):
        if not path.is_file() or path.name in ("LICENSE", "NOTICE") or path.suffix == ".xml":
            continue
        document = read_json(path)
        if document.get("type") == "FeatureCollection":
            for feature in document["features"]:
                yield path, feature
        elif document.get("type") == "Feature":
            yield path, document


def twl_items() -> list[dict[str, Any]]:
    """The five 33TWL items of items.ndjson, as written (relative hrefs)."""
    lines = TWL_NDJSON.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def twl_item(day: str) -> dict[str, Any]:
    """A deep copy of the 33TWL item of one day (``"20230815"``)."""
    matches = [item for item in twl_items() if day in item["id"]]
    assert len(matches) == 1, day
    return copy.deepcopy(matches[0])


def with_absolute_hrefs(item: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A copy of an item whose relative hrefs are made absolute against ``folder``."""
    result = copy.deepcopy(item)
    for asset in result["assets"].values():
        href = asset["href"]
        if not href.startswith(("/", "http://", "https://", "s3://")):
            asset["href"] = str((folder / href).resolve())
    return result


def write_ndjson(path: Path, items: list[Any]) -> Path:
    """Write items one a line."""
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


class FakeApi:
    """A minimal STAC API on loopback whose answers a test scripts.

    ``conforms_to``: the landing page's conformance classes. ``search_answers``: (status, body)
    answers of POST /search, consumed in order, the last one repeated. ``requests``: every
    (method, path, parsed JSON body) received.
    """

    def __init__(self) -> None:
        self.conforms_to = [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
        ]
        self.search_answers: list[tuple[int, Any]] = [(200, feature_collection([]))]
        self.landing: tuple[int, Any] | None = None  # override of the landing page answer
        self.requests: list[tuple[str, str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The landing page URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def landing_page(self) -> dict[str, Any]:
        """The landing page JSON of this fake API."""
        return {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "fake",
            "description": "a scripted STAC API",
            "conformsTo": self.conforms_to,
            "links": [
                {"rel": "self", "href": self.url, "type": "application/json"},
                {"rel": "root", "href": self.url, "type": "application/json"},
                {
                    "rel": "search",
                    "href": f"{self.url}/search",
                    "type": "application/geo+json",
                    "method": "POST",
                },
            ],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                api.requests.append(("GET", self.path, None))
                if self.path.split("?")[0] in ("", "/"):
                    self._answer(*(api.landing or (200, api.landing_page())))
                else:
                    self._answer(404, {"code": "NotFound"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                api.requests.append(("POST", self.path, body))
                answer = api.search_answers[0]
                if len(api.search_answers) > 1:
                    api.search_answers.pop(0)
                self._answer(*answer)

        return Handler


def feature_collection(items: list[Any]) -> dict[str, Any]:
    """A one-page search answer."""
    return {"type": "FeatureCollection", "features": items, "links": []}


class SilentServer:
    """Accepts TCP connections on loopback and never answers: a hung server."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        """An http URL to this server."""
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def connections(self) -> int:
        """Connections accepted and held so far."""
        return len(self._held)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)  # hold it open, say nothing

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for connection in self._held:
            connection.close()
        self._sock.close()
