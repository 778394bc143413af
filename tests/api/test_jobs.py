"""Job control: listing and paging, dismissal of running and finished jobs."""

from __future__ import annotations

import time

import httpx

from tests.api.support import (
    EXECUTE,
    LARGE_BBOX,
    Server,
    order,
    small_bbox,
    wait_final,
    wait_running,
)


def no_folder_for(server: Server, job_id: str, timeout: float = 30.0) -> bool:
    """True once neither the product nor a staging folder of the job exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leftovers = [p for p in server.products.iterdir() if job_id in p.name]
        if not leftovers:
            return True
        time.sleep(0.2)
    return False


def test_dismissing_a_running_job_stops_it_and_leaves_no_product(
        api: httpx.Client, server: Server) -> None:
    response = api.post(EXECUTE, json=order(bbox=LARGE_BBOX, resolution=10))
    assert response.status_code == 201, response.text
    job_id = response.json()["jobID"]
    wait_running(api, job_id)
    dismissed = api.delete(f"/jobs/{job_id}")
    assert dismissed.status_code == 200
    assert dismissed.json()["status"] == "dismissed"
    assert no_folder_for(server, job_id)
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "dismissed"  # still listed, and stays so
    assert api.get(f"/products/{job_id}").status_code == 404
    assert api.get(f"/jobs/{job_id}/results").status_code == 404


def test_a_new_identical_order_after_dismissal_is_a_new_job(api: httpx.Client) -> None:
    body = order(bbox=small_bbox(5), bands=["blue"])
    first = api.post(EXECUTE, json=body).json()["jobID"]
    api.delete(f"/jobs/{first}")
    again = api.post(EXECUTE, json=body)
    assert again.status_code == 201
    assert again.json()["jobID"] != first
    assert wait_final(api, again.json()["jobID"])["status"] == "successful"


def test_dismissing_a_finished_job_removes_its_product(api: httpx.Client,
                                                       server: Server) -> None:
    response = api.post(EXECUTE, json=order(bbox=small_bbox(6), bands=["green"]))
    job_id = response.json()["jobID"]
    assert wait_final(api, job_id)["status"] == "successful"
    assert (server.products / job_id / "item.json").exists()
    assert api.delete(f"/jobs/{job_id}").json()["status"] == "dismissed"
    assert not (server.products / job_id).exists()
    assert api.get(f"/products/{job_id}").status_code == 404
    # Dismissal is idempotent.
    assert api.delete(f"/jobs/{job_id}").status_code == 200


def test_job_list_filters_by_status_and_pages_with_links(api: httpx.Client) -> None:
    ids = [api.post(EXECUTE, json=order(bbox=small_bbox(7 + i), bands=["red", "nir"]))
           .json()["jobID"] for i in range(3)]
    for job_id in ids:
        wait_final(api, job_id)
    page = api.get("/jobs", params={"status": "successful", "limit": 2}).json()
    assert len(page["jobs"]) == 2
    assert all(job["status"] == "successful" for job in page["jobs"])
    assert page["numberMatched"] >= 3
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert "status=successful" in nxt and "offset=2" in nxt
    second = httpx.get(nxt).json()
    assert {j["jobID"] for j in second["jobs"]}.isdisjoint(j["jobID"] for j in page["jobs"])
    everything = api.get("/jobs", params={"limit": 1000}).json()["jobs"]
    listed = [j["jobID"] for j in everything]
    assert [i for i in listed if i in ids] == ids[::-1]  # newest first
    both = api.get("/jobs", params=[("status", "failed"), ("status", "dismissed")]).json()
    assert {j["status"] for j in both["jobs"]} <= {"failed", "dismissed"}
