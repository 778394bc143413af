"""Property-based requests from the OpenAPI document: no input ever gets a 5xx.

Runs on its own server (DELETE and POST change state) with a small area limit and queue, so
that generated orders stay cheap. Only `not_a_server_error` is checked: the other checks
(schema conformance of every 4xx, ...) are not what this test pins down.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.api.support import Server


@pytest.fixture(scope="module")
def fuzz_schema(make_server: type[Server]) -> schemathesis.BaseSchema:
    server = make_server("fuzz", max_area_km2="20", max_queue="4").start()
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("fuzz_schema")
#: Tile routes (TiTiler's factories) have no product to find on this server: a few examples
#: each show they answer 4xx, the tile tests do the rest. Their POST routes take GeoJSON
#: bodies whose generation alone took 20 s an operation: left to the tile tests.
TILES = "/tiles/"


@schema.exclude(path_regex=TILES).parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])


@schema.include(path_regex=TILES, method="GET").parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_tile_request_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
