"""A crash (kill -9) loses no order and leaves no job stuck in ``running``."""

from __future__ import annotations

from tests.api.support import (
    EXECUTE,
    LARGE_BBOX,
    Server,
    order,
    small_bbox,
    wait_final,
    wait_running,
)


def test_jobs_survive_kill_9_and_finish_after_restart(make_server: type[Server]) -> None:
    server = make_server("crash").start()
    with server.client() as client:
        running = client.post(EXECUTE, json=order(bbox=LARGE_BBOX, resolution=10)).json()
        queued = client.post(EXECUTE, json=order(bbox=small_bbox(30))).json()
        wait_running(client, running["jobID"])
        assert client.get(f"/jobs/{queued['jobID']}").json()["status"] == "accepted"
    server.kill()
    server.start()  # same data dir, new process
    with server.client() as client:
        listed = {j["jobID"]: j for j in client.get("/jobs").json()["jobs"]}
        assert {running["jobID"], queued["jobID"]} <= set(listed)
        for job_id in (running["jobID"], queued["jobID"]):
            job = wait_final(client, job_id, timeout=180)
            assert job["status"] == "successful", job
            assert client.get(f"/products/{job_id}").status_code == 200
    # The interrupted build's staging folder was cleaned, and nothing else is left over.
    assert sorted(p.name for p in server.products.iterdir()) == sorted(
        [running["jobID"], queued["jobID"]])


def test_graceful_shutdown_requeues_the_running_job(make_server: type[Server]) -> None:
    server = make_server("shutdown").start()
    with server.client() as client:
        job = client.post(EXECUTE, json=order(bbox=LARGE_BBOX, resolution=20,
                                              method="median")).json()
        wait_running(client, job["jobID"])
    server.stop()
    server.start()
    with server.client() as client:
        assert wait_final(client, job["jobID"], timeout=180)["status"] == "successful"

