"""SIGTERM stops the service within a grace period, whatever its build is doing (issue 15)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.jobs.process import CANCEL_GRACE_S
from tests.api.support import EXECUTE, Server, order, small_bbox, wait_running
from tests.catalog._support import SilentServer


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    """A host that accepts connections and never answers."""
    with SilentServer() as server:
        yield server


def test_sigterm_stops_a_server_whose_build_is_stuck_in_a_read_and_keeps_the_order(
        make_server: type[Server], demo: Path, tmp_path: Path,
        silent: SilentServer) -> None:
    # The demo's items with every asset on the silent host: the build waits in its first
    # read and never reaches a block boundary, where it would see a cancellation.
    url = f"{silent.url}/silent.tif"
    lines = (demo / "items.ndjson").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    for item in items:
        for asset in item["assets"].values():
            asset["href"] = url
    stuck = tmp_path / "stuck.ndjson"
    stuck.write_text("\n".join(json.dumps(item) for item in items) + "\n")
    server = make_server("sigterm", sources=json.dumps({"stuck": str(stuck)}),
                         gdal_options=json.dumps({"GDAL_HTTP_TIMEOUT": "600",
                                                  "GDAL_HTTP_LOW_SPEED_TIME": "600"}))
    server.start()
    with server.client() as client:
        job = client.post(EXECUTE, json=order(bbox=small_bbox(0), source="stuck")).json()
        wait_running(client, job["jobID"], min_progress=1)
    deadline = time.monotonic() + 60
    while not silent.connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert silent.connections, "the build never reached the silent host"
    assert server.proc is not None
    start = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(CANCEL_GRACE_S + 30)
    stopped_in = time.monotonic() - start
    server.proc = None
    print(f"SIGTERM to exit: {stopped_in:.1f} s")
    # The build's process has the cancel grace to stop by itself, then it is killed.
    assert stopped_in < CANCEL_GRACE_S + 10, stopped_in
    server.start()
    with server.client() as client:
        again = client.get(f"/jobs/{job['jobID']}").json()
    server.kill()  # its build would wait on the silent host again
    assert again["status"] in ("accepted", "running"), again
    assert "queued again" in again["message"] or again["status"] == "running", again
