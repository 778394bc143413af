"""Property-based requests from the OpenAPI document: no 5xx, and answers as documented.

Runs on its own server (DELETE and POST change state) with a small area limit and queue, so
that generated orders stay cheap. Every schemathesis check runs (`CHECKS`: status codes,
content types, bodies and headers as the document says, invalid data rejected, ``Allow``),
but one: `positive_data_acceptance` expects every schema-valid request to succeed, and some
are refused on purpose for what a schema cannot say (an EPSG code no CRS database knows,
``bbox`` and ``intersects`` together on GET, a paging token this service never gave).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.support import Server


@pytest.fixture(scope="module")
def fuzz_schema(make_server: type[Server]) -> schemathesis.BaseSchema:
    server = make_server("fuzz", max_area_km2="20", max_queue="4").start()
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("fuzz_schema")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection,
          allow_header_conformance]
#: Tile routes (TiTiler's factories) have no product to find on this server: a few examples
#: each show they answer 4xx, the tile tests do the rest. Their POST routes take GeoJSON
#: bodies whose generation alone took 20 s an operation: left to the tile tests.
TILES = "/tiles/"


@schema.exclude(path_regex=TILES).parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


@schema.include(path_regex=TILES, method="GET").parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_tile_answer_is_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
