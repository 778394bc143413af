"""Twenty clients order at once: each order is accepted and finishes, or is told 429."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.support import EXECUTE, Server, order, small_bbox, wait_final

CLIENTS = 20


def test_twenty_concurrent_orders_are_none_lost(server: Server) -> None:
    def place(i: int) -> httpx.Response:
        with server.client() as client:
            return client.post(EXECUTE, json=order(bbox=small_bbox(10 + i), method="q25",
                                                   bands=["red"]))

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(place, range(CLIENTS)))
    assert {r.status_code for r in responses} <= {201, 429}, [r.text for r in responses]
    for r in responses:
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) > 0
            assert r.headers["content-type"] == "application/problem+json"
    accepted = [r.json()["jobID"] for r in responses if r.status_code == 201]
    assert len(accepted) >= 10  # the queue holds 16
    assert len(set(accepted)) == len(accepted)
    with server.client() as client:
        listed = {j["jobID"] for j in client.get("/jobs", params={"limit": 1000}).json()["jobs"]}
        assert set(accepted) <= listed
        finals = [wait_final(client, job_id, timeout=180) for job_id in accepted]
    assert [j["status"] for j in finals] == ["successful"] * len(accepted), finals
