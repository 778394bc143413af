"""Every bad input gets a 4xx ``application/problem+json`` that names the field at fault."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.support import EXECUTE, assert_problem, order, small_bbox

BBOX = small_bbox(3)
W, S, E, N = BBOX
POLYGON = {"type": "Polygon", "coordinates": [[[W, S], [E, S], [E, N], [W, N], [W, S]]]}


def without_bbox(**inputs: Any) -> dict[str, Any]:
    body = order(**inputs)
    body["inputs"].pop("bbox", None)
    return body


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("inverted bbox", order(bbox=[E, S, W, N]), "bbox"),
    ("south above north", order(bbox=[W, N, E, S]), "bbox"),
    ("longitude out of range", order(bbox=[-200.0, S, E, N]), "bbox"),
    ("latitude out of range", order(bbox=[W, -95.0, E, N]), "bbox"),
    ("bbox of three numbers", order(bbox=[W, S, E]), "bbox"),
    ("bbox of strings", order(bbox=["a", "b", "c", "d"]), "bbox"),
    ("area over the limit", order(bbox=[0.0, 40.0, 5.0, 45.0]), "bbox"),
    # A geodesic polygon of these corners goes the short way round: 0 km² (issue 15).
    ("the whole world", order(bbox=[-180.0, -90.0, 180.0, 90.0], period="2024"), "bbox"),
    ("a thin band round the world", order(bbox=[-180.0, 43.6, 180.0, 43.8]), "bbox"),
    ("a band round the world as a polygon", without_bbox(geometry={
        "type": "Polygon", "coordinates": [[[-180, 43.6], [180, 43.6], [180, 43.8],
                                            [-180, 43.8], [-180, 43.6]]]}), "geometry"),
    # 1,243 km², within the limit, but 20 degrees of longitude at 60 N: in the UTM zone of
    # its centre, a grid of 111,193 x 7,247 px, 65 times its area in pixels.
    ("an area one UTM zone cannot hold", order(bbox=[-10.0, 60.0, 10.0, 60.01]), "bbox"),
    ("no area at all", without_bbox(), "bbox"),
    ("bbox and geometry", order(bbox=BBOX, geometry=POLYGON), "geometry"),
    ("open polygon ring", without_bbox(geometry={
        "type": "Polygon", "coordinates": [[[W, S], [E, S], [E, N], [W, N]]]}), "geometry"),
    ("not a polygon", without_bbox(geometry={"type": "Point", "coordinates": [W, S]}),
     "geometry"),
    ("a self-intersecting ring (a bow tie)", without_bbox(geometry={
        "type": "Polygon", "coordinates": [[[W, S], [E, N], [E, S], [W, N], [W, S]]]}),
     "geometry"),
    ("a ring of two points", without_bbox(geometry={
        "type": "Polygon", "coordinates": [[[W, S], [E, N], [W, S], [W, S]]]}), "geometry"),
    ("empty period", order(bbox=BBOX, period=""), "period"),
    ("blank period", order(bbox=BBOX, period="   "), "period"),
    ("month 13", order(bbox=BBOX, period="2024-13"), "period"),
    ("unparseable period", order(bbox=BBOX, period="last summer"), "period"),
    ("inverted dates", order(bbox=BBOX, period="2024-07-31/2024-07-01"), "period"),
    ("future period", order(bbox=BBOX, period="2999-01"), "period"),
    ("period over a year", order(bbox=BBOX, period="2023-01-01/2024-06-30"), "period"),
    ("all of history", order(bbox=BBOX, period="0001-01-01/9999-12-31"), "period"),
    ("window before the calendar", order(bbox=BBOX, period="0001-01"), "period"),
    ("unknown method", order(bbox=BBOX, method="mean"), "method"),
    ("unknown band", order(bbox=BBOX, bands=["red", "purple"]), "bands"),
    ("no band", order(bbox=BBOX, bands=[]), "bands"),
    ("band twice", order(bbox=BBOX, bands=["red", "RED"]), "bands"),
    ("band the demo lacks", order(bbox=BBOX, bands=["red", "coastal"]), "bands"),
    ("another band the demo lacks", order(bbox=BBOX, bands=["nir09"]), "bands"),
    ("resolution not offered", order(bbox=BBOX, resolution=30), "resolution"),
    ("geographic crs", order(bbox=BBOX, crs=4326), "crs"),
    ("unknown crs", order(bbox=BBOX, crs=999_999), "crs"),
    ("unknown source", order(bbox=BBOX, source="nowhere"), "source"),
    ("client url not allowed", order(bbox=BBOX, source="https://example.com/stac"),
     "source"),
    ("server path as source", order(bbox=BBOX, source="/etc/passwd"), "source"),
    ("cloud cover over 100", order(bbox=BBOX, max_cloud=150), "max_cloud"),
    ("negative dilation", order(bbox=BBOX, cloud_dilation=-1), "cloud_dilation"),
    ("dilation too large", order(bbox=BBOX, cloud_dilation=5000), "cloud_dilation"),
    ("unknown input", order(bbox=BBOX, colour="blue"), "colour"),
    ("unknown top-level member", {**order(bbox=BBOX), "mode": "sync"}, "mode"),
    ("no inputs", {}, "inputs"),
    ("raw response unsupported", {**order(bbox=BBOX), "response": "raw"}, "response"),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_order_is_422_naming_the_field(api: httpx.Client, body: dict, field: str) -> None:
    assert_problem(api.post(EXECUTE, json=body), 422, field)


@pytest.mark.parametrize(("text", "field"), [
    ('{"inputs": {', "body"),
    ("[1, 2, 3]", "body"),
    ('{"inputs": {"bbox": [NaN, 43.7, 1.3, 43.72], "period": "2024-07"}}', "bbox"),
    ('{"inputs": {"bbox": [1.3, 43.7, Infinity, 43.72], "period": "2024-07"}}', "bbox"),
], ids=["truncated JSON", "not an object", "NaN", "Infinity"])
def test_malformed_json_is_422(api: httpx.Client, text: str, field: str) -> None:
    response = api.post(EXECUTE, content=text, headers={"content-type": "application/json"})
    assert_problem(response, 422, field)


@pytest.mark.parametrize("path", [
    "/jobs/no-such-job", "/jobs/no-such-job/results", "/processes/no-such-process",
    "/products/no-such-product", "/products/no-such-product/assets/red", "/no/such/route",
])
def test_unknown_resources_are_404_problems(api: httpx.Client, path: str) -> None:
    assert_problem(api.get(path), 404, None)


def test_unknown_process_execution_is_404(api: httpx.Client) -> None:
    assert_problem(api.post("/processes/ndvi/execution", json=order(bbox=BBOX)), 404, None)


def test_dismissing_an_unknown_job_is_404(api: httpx.Client) -> None:
    assert_problem(api.delete("/jobs/no-such-job"), 404, None)


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=100000", "offset=-1",
                                   "offset=99999999999999999999"])
def test_bad_job_list_parameters_are_422(api: httpx.Client, query: str) -> None:
    assert_problem(api.get(f"/jobs?{query}"), 422, query.split("=")[0])
