"""`search` through STAC APIs on loopback: a real one (rustac serve) and scripted ones."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3.exceptions
from pystac_client.exceptions import APIError

import catalog.search
import catalog.stac_api
from catalog.errors import (
    CatalogError,
    InvalidQuery,
    InvalidResponse,
    SourceError,
    SourceTimeout,
    SourceUnreachable,
    TruncatedResultsWarning,
)
from catalog.presets import PRESETS, Preset, sign_planetary_computer
from catalog.search import locate_source, search
from catalog.stac_api import _as_catalog_error, server_filter
from tests.catalog._support import (
    AUGUST,
    TWL,
    TWL_BBOX,
    TWL_IDS,
    TWL_NDJSON,
    FakeApi,
    feature_collection,
    twl_item,
    with_absolute_hrefs,
)

HIGH_CLOUD = TWL_IDS[0]  # 69 % cloud cover
FAST = {"timeout": 2.0, "max_retries": 0}  # loopback answers at once


# --------------------------------------------------------------------------------------------
# A real STAC API: rustac serve
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "period", "max_cloud"),
    [
        (TWL_BBOX, AUGUST, None),
        (TWL_BBOX, AUGUST, 50.0),
        (TWL_BBOX, AUGUST, 5.0),
        ((16.0, 45.9, 16.3, 46.0), (datetime(2023, 8, 12), datetime(2023, 8, 19)), None),
        ((0.0, 0.0, 1.0, 1.0), AUGUST, None),
    ],
)
def test_api_and_local_file_give_the_same_items_in_the_same_order(
    rustac_url: str,
    bbox: tuple[float, float, float, float],
    period: tuple[datetime, datetime],
    max_cloud: float | None,
) -> None:
    through_api = search(rustac_url, bbox, *period, max_cloud=max_cloud, **FAST)
    from_file = search(str(TWL_NDJSON), bbox, *period, max_cloud=max_cloud)
    assert [i.id for i in through_api] == [i.id for i in from_file]
    for api_item, file_item in zip(through_api, from_file, strict=True):
        # The server holds absolute hrefs, the file relative ones: they resolve the same.
        assert api_item.bands == file_item.bands
        assert api_item.masks == file_item.masks
        assert api_item.acquisition_key == file_item.acquisition_key
        assert api_item.source == rustac_url


def test_max_cloud_is_applied_client_side_against_rustac(rustac_url: str) -> None:
    # rustac does not advertise the query extension (and returns nothing when sent one):
    # the filter must be ours.
    all_items = search(rustac_url, TWL_BBOX, *AUGUST, **FAST)
    assert HIGH_CLOUD in [i.id for i in all_items] and len(all_items) == 5
    clear = search(rustac_url, TWL_BBOX, *AUGUST, max_cloud=50, **FAST)
    assert HIGH_CLOUD not in [i.id for i in clear]
    assert [i.id for i in clear] == TWL_IDS[1:]  # 08-18 has 45.7 % < 50
    assert all(i.cloud_cover is not None and i.cloud_cover < 50 for i in clear)


def test_collection_filter_against_rustac(rustac_url: str) -> None:
    assert len(search(rustac_url, TWL_BBOX, *AUGUST, collection="sentinel-2-l2a", **FAST)) == 5
    assert search(rustac_url, TWL_BBOX, *AUGUST, collection="sentinel-2-c1-l2a", **FAST) == []


def test_max_items_bounds_the_search_and_warns(rustac_url: str) -> None:
    with pytest.warns(TruncatedResultsWarning, match=r"max_items=2"):
        items = search(rustac_url, TWL_BBOX, *AUGUST, max_items=2, **FAST)
    assert len(items) == 2


def test_paging_collects_every_page(rustac_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog.stac_api, "PAGE_SIZE", 2)  # 5 items -> 3 pages
    assert len(search(rustac_url, TWL_BBOX, *AUGUST, **FAST)) == 5


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydantic, inside planetary_computer
def test_a_signer_signs_every_item_before_normalization(
    rustac_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import planetary_computer

    signed: list[str] = []

    def fake_sign(item: dict[str, Any]) -> dict[str, Any]:  # no network in tests
        signed.append(item["id"])
        copy = {**item, "assets": {k: {**a, "href": a["href"] + "?sig=x"}
                                   for k, a in item["assets"].items()}}  # fmt: skip
        return copy

    monkeypatch.setattr(planetary_computer, "sign", fake_sign)
    test_preset = Preset("pc-test", rustac_url, "sentinel-2-l2a", "test", sign_planetary_computer)
    monkeypatch.setattr(catalog.search, "PRESETS", {"pc-test": test_preset})
    items = search("pc-test", TWL_BBOX, *AUGUST, **FAST)
    assert sorted(signed) == sorted(i.id for i in items) and len(items) == 5
    assert all(i.bands["red"].href.endswith("B04.tif?sig=x") for i in items)


# --------------------------------------------------------------------------------------------
# Scripted APIs: what is sent, retries, error answers
# --------------------------------------------------------------------------------------------


def _api_item(day: str) -> dict[str, Any]:
    return with_absolute_hrefs(twl_item(day), TWL)


@pytest.mark.parametrize(
    ("extension", "sent"),
    [
        ("https://api.stacspec.org/v1.0.0/item-search#query", "query"),
        ("https://api.stacspec.org/v1.0.0-rc.2/item-search#filter", "filter"),
        (None, None),
    ],
)
def test_cloud_filter_is_sent_only_when_advertised(
    fake_api: FakeApi, extension: str | None, sent: str | None
) -> None:
    if extension:
        fake_api.conforms_to.append(extension)
    # The server returns a 69 % item although asked for < 50: the client filters it anyway.
    fake_api.search_answers = [
        (200, feature_collection([_api_item("20230810"), _api_item("20230815")]))
    ]
    items = search(fake_api.url, TWL_BBOX, *AUGUST, max_cloud=50, collection="sentinel-2-l2a",
                   **FAST)  # fmt: skip
    assert [i.id for i in items] == ["S2A_33TWL_20230815_0_L2A"]
    (body,) = [body for method, path, body in fake_api.requests if method == "POST"]
    assert body["collections"] == ["sentinel-2-l2a"]
    assert body["bbox"] == list(TWL_BBOX)
    assert body["datetime"] == "2023-08-01T00:00:00Z/2023-08-31T23:59:59Z"
    if sent == "query":
        assert body["query"] == {"eo:cloud_cover": {"lt": 50.0}}
        assert "filter" not in body
    elif sent == "filter":
        assert body["filter"] == {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50.0]}
        assert body["filter-lang"] == "cql2-json"
    else:
        assert "query" not in body and "filter" not in body


def test_server_filter_from_conformance() -> None:
    assert server_filter(["https://api.stacspec.org/v1.0.0/item-search#query"]) == "query"
    assert (
        server_filter(["http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"]) == "filter"
    )
    assert server_filter(["https://api.stacspec.org/v1.0.0/item-search"]) is None


def test_transient_errors_are_retried(fake_api: FakeApi) -> None:
    fake_api.search_answers = [
        (503, {"code": "Busy"}),
        (502, {"code": "BadGateway"}),
        (200, feature_collection([_api_item("20230815")])),
    ]
    items = search(fake_api.url, TWL_BBOX, *AUGUST, timeout=2.0, max_retries=2,
                   backoff_factor=0.01)  # fmt: skip
    assert [i.id for i in items] == ["S2A_33TWL_20230815_0_L2A"]
    assert sum(method == "POST" for method, _, _ in fake_api.requests) == 3


def test_retries_are_bounded(fake_api: FakeApi) -> None:
    fake_api.search_answers = [(503, {"code": "Busy"})]
    with pytest.raises(InvalidResponse, match=r"HTTP 503") as info:
        search(fake_api.url, TWL_BBOX, *AUGUST, timeout=2.0, max_retries=2, backoff_factor=0.01)
    assert info.value.status_code == 503
    assert sum(method == "POST" for method, _, _ in fake_api.requests) == 3  # 1 + 2 retries


def test_http_error_names_source_and_status(fake_api: FakeApi) -> None:
    fake_api.search_answers = [(500, "unsupported value")]
    with pytest.raises(InvalidResponse) as info:
        search(fake_api.url, TWL_BBOX, *AUGUST, timeout=2.0, max_retries=3, backoff_factor=0.01)
    assert str(info.value) == f"{fake_api.url}: HTTP 500: unsupported value"
    assert sum(method == "POST" for method, _, _ in fake_api.requests) == 1  # 500: no retry


def test_a_landing_page_that_is_not_json(fake_api: FakeApi) -> None:
    fake_api.landing = (200, "<html>hello</html>")
    with pytest.raises(InvalidResponse, match=rf"^{fake_api.url}: "):
        search(fake_api.url, TWL_BBOX, *AUGUST, **FAST)


def test_a_catalog_without_item_search(fake_api: FakeApi) -> None:
    fake_api.conforms_to = ["https://api.stacspec.org/v1.0.0/core"]
    with pytest.raises(InvalidResponse, match=r"not a usable STAC API.*ITEM_SEARCH"):
        search(fake_api.url, TWL_BBOX, *AUGUST, **FAST)


def test_api_items_missing_assets_are_skipped(fake_api: FakeApi) -> None:
    broken = _api_item("20230813")
    del broken["assets"]["scl"]
    fake_api.search_answers = [(200, feature_collection([broken, _api_item("20230815")]))]
    with pytest.warns(UserWarning, match=r"S2B_33TWL_20230813_0_L2A.*'scl'"):
        items = search(fake_api.url, TWL_BBOX, *AUGUST, **FAST)
    assert [i.id for i in items] == ["S2A_33TWL_20230815_0_L2A"]


# --------------------------------------------------------------------------------------------
# Unreachable and silent servers
# --------------------------------------------------------------------------------------------


def test_unreachable_source(closed_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnreachable) as info:
        search(closed_url, TWL_BBOX, *AUGUST, timeout=1.0, max_retries=2, backoff_factor=0.01)
    assert time.monotonic() - started < 5
    assert str(info.value).startswith(f"{closed_url}: cannot connect")
    assert "refused" in str(info.value).lower()
    assert info.value.source == closed_url
    assert isinstance(info.value, SourceError) and isinstance(info.value, CatalogError)


def _wrapped(reason: Exception) -> Exception:
    """The chain requests and pystac-client build around a low-level failure.

    requests raises ConnectionError(MaxRetryError(reason)); pystac-client re-raises it as
    APIError(str(exc)) inside its except block, so the original survives as __context__.
    """
    api_error = APIError("HTTPConnectionPool(host='x', port=1): Max retries exceeded")
    pool_error = urllib3.exceptions.MaxRetryError(None, "/search", reason)  # type: ignore[arg-type]
    api_error.__context__ = requests.exceptions.ConnectionError(pool_error)
    return api_error


@pytest.mark.parametrize(
    ("reason", "kind", "message"),
    [
        # DNS failure: urllib3 wraps socket.gaierror in NameResolutionError (no DNS query here).
        (urllib3.exceptions.NameResolutionError("host.invalid", None, socket.gaierror(-2, "x")),  # type: ignore[arg-type]
         SourceUnreachable, "src: cannot connect (NameResolutionError"),
        (urllib3.exceptions.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
         SourceUnreachable, "src: cannot connect (NewConnectionError"),
        # After the retries, a read timeout arrives as a ConnectionError(MaxRetryError(...)).
        (urllib3.exceptions.ReadTimeoutError(None, "/search", "Read timed out."),  # type: ignore[arg-type]
         SourceTimeout, "src: no answer within 3 s"),
        (urllib3.exceptions.ProtocolError("Connection aborted."),
         SourceUnreachable, "src: connection failed"),
    ],
)  # fmt: skip
def test_transport_failures_are_classified(
    reason: Exception, kind: type[Exception], message: str
) -> None:
    error = _as_catalog_error(_wrapped(reason), "src", 3.0)
    assert type(error) is kind
    assert str(error).startswith(message)


def test_timeout_of_a_silent_server(silent_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(SourceTimeout) as info:
        search(silent_url, TWL_BBOX, *AUGUST, timeout=0.2, max_retries=1, backoff_factor=0.01)
    elapsed = time.monotonic() - started
    # One attempt and one retry of 0.2 s each, plus a tiny backoff: bounded and quick.
    assert 0.35 <= elapsed < 3
    assert str(info.value) == f"{silent_url}: no answer within 0.2 s"
    assert info.value.timeout == 0.2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"timeout": 0}, "timeout"), ({"max_retries": -1}, "max_retries"),
     ({"max_items": 0}, "max_items"), ({"backoff_factor": -1}, "backoff_factor")],
)  # fmt: skip
def test_invalid_request_settings(fake_api: FakeApi, kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidQuery, match=f"^{field}: "):
        search(fake_api.url, TWL_BBOX, *AUGUST, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url", "collection", "signed"),
    [
        ("earth-search", "https://earth-search.aws.element84.com/v1", "sentinel-2-c1-l2a", False),
        ("earth-search-v1-l2a", "https://earth-search.aws.element84.com/v1", "sentinel-2-l2a",
         False),
        ("planetary-computer", "https://planetarycomputer.microsoft.com/api/stac/v1",
         "sentinel-2-l2a", True),
        ("cdse", "https://stac.dataspace.copernicus.eu/v1", "sentinel-2-l2a", False),
    ],
)  # fmt: skip
def test_presets(name: str, url: str, collection: str, signed: bool) -> None:
    resolved = locate_source(name)
    assert (resolved.url, resolved.collection) == (url, collection)
    assert (resolved.signer is sign_planetary_computer) is signed
    assert catalog.search.PRESETS is PRESETS and PRESETS[name].name == name


def test_planetary_computer_is_only_imported_for_its_preset() -> None:
    code = (
        "import sys, catalog.search, catalog.normalize\n"
        "catalog.search.locate_source('planetary-computer')\n"
        "assert 'planetary_computer' not in sys.modules, 'imported too early'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_url_and_path_sources() -> None:
    assert locate_source("https://example.test/stac").url == "https://example.test/stac"
    assert locate_source("https://example.test/stac").collection is None
    assert locate_source(str(TWL_NDJSON)).path == str(TWL_NDJSON)


def test_no_network_warnings_leak_from_pystac_client(fake_api: FakeApi) -> None:
    fake_api.search_answers = [(200, feature_collection([_api_item("20230815")]))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search(fake_api.url, TWL_BBOX, *AUGUST, max_cloud=50, **FAST)


def test_demo_catalogue_through_rustac_equals_the_local_file(
    demo_rustac_url: str, demo_ndjson: Path
) -> None:
    from catalog.demo import DEMO_BBOX

    july = (datetime(2024, 6, 22, tzinfo=UTC), datetime(2024, 8, 7, 23, 59, tzinfo=UTC))
    through_api = search(demo_rustac_url, DEMO_BBOX, *july, **FAST)
    from_file = search(str(demo_ndjson), DEMO_BBOX, *july)
    assert len(from_file) == 12
    assert [i.id for i in through_api] == [i.id for i in from_file]
    assert [i.bands for i in through_api] == [i.bands for i in from_file]
    cloudy = search(demo_rustac_url, DEMO_BBOX, *july, max_cloud=30, **FAST)
    assert 0 < len(cloudy) < 12
    assert all(i.cloud_cover is not None and i.cloud_cover < 30 for i in cloudy)
