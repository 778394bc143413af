"""Operator settings seen from outside: API key, CORS, public URL, client-given sources."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import EXECUTE, Server, order, small_bbox, wait_final

KEY = "s3cret-key"
ORIGIN = "https://viewer.example"
PUBLIC = "https://l3a.example/base"


@pytest.fixture(scope="module")
def guarded(make_server: type[Server]) -> Server:
    return make_server(
        "guarded", api_key=KEY, cors_origins=f'["{ORIGIN}"]', public_url=PUBLIC + "/",
        allow_client_urls="true",
    ).start()


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}], ids=["none", "wrong"])
def test_orders_and_dismissals_need_the_api_key(guarded: Server, headers: dict) -> None:
    with guarded.client(headers=headers) as client:
        for response in (client.post(EXECUTE, json=order(bbox=small_bbox(0))),
                         client.delete("/jobs/anything")):
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
        assert client.get("/jobs").status_code == 200  # reading needs no key


def test_with_the_key_links_use_the_public_url(guarded: Server) -> None:
    with guarded.client(headers={"X-API-Key": KEY}) as client:
        response = client.post(EXECUTE, json=order(bbox=small_bbox(0), bands=["red"]))
        assert response.status_code == 201
        assert response.headers["location"].startswith(f"{PUBLIC}/jobs/")
        job = wait_final(client, response.json()["jobID"])
        item = client.get(f"/products/{job['jobID']}").json()
    assert item["assets"]["red"]["href"] == f"{PUBLIC}/products/{job['jobID']}/assets/red"


def test_cors_allows_the_configured_origin_only(guarded: Server) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-api-key"}
    allowed = httpx.options(f"{guarded.url}{EXECUTE}", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(f"{guarded.url}{EXECUTE}",
                          headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    simple = httpx.get(f"{guarded.url}/jobs", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN


def test_unreachable_client_source_fails_the_job_with_a_message(guarded: Server) -> None:
    with guarded.client(headers={"X-API-Key": KEY}) as client:
        response = client.post(EXECUTE, json=order(bbox=small_bbox(1),
                                                    source="http://127.0.0.1:9/stac"))
        assert response.status_code == 201, response.text
        job = wait_final(client, response.json()["jobID"], timeout=60)
    assert job["status"] == "failed"
    assert "127.0.0.1:9" in job["message"]
    # The catalogue failed, not the order: the job's results say so with a 5xx.
    with guarded.client(headers={"X-API-Key": KEY}) as client:
        results = client.get(f"/jobs/{job['jobID']}/results")
    assert results.status_code == 500 and "catalogue error" in results.json()["detail"]


def test_no_cors_headers_by_default(server: Server) -> None:
    response = httpx.get(f"{server.url}/jobs", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
