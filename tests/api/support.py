"""Real l3a servers on loopback for the API tests and benchmarks, and order helpers.

Each server is ``python -m api.cli serve`` (the ``l3a serve`` command) in a subprocess with
its own ``L3A_DATA_DIR``. The demo catalogue takes about half a minute to generate, so it is
generated once per session and linked into every data dir (``ensure_demo`` reuses a folder
that exists).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from catalog.demo import DEMO_BBOX, DEMO_PERIOD
from tests.processes import free_port

EXECUTE = "/processes/mosaic/execution"
FINAL = ("successful", "failed", "dismissed")
ROOT = Path(__file__).resolve().parents[2]


class Server:
    """One ``l3a serve`` process; start it again on the same data dir after a kill."""

    def __init__(self, data_dir: Path, demo: Path, **settings: str) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        link = data_dir / "demo"
        if not link.exists():
            link.symlink_to(demo, target_is_directory=True)
        self.env = {**os.environ, "L3A_DATA_DIR": str(data_dir),
                    **{f"L3A_{k.upper()}": v for k, v in settings.items()}}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self, timeout: float = 60.0) -> Server:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/api", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # graceful: the lifespan re-queues jobs
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    @property
    def products(self) -> Path:
        return self.data_dir / "products"


def small_bbox(i: int, size: float = 0.036) -> list[float]:
    """The ``i``-th of 35 distinct ~3 x 3 km boxes inside the demo (0 <= i < 35)."""
    west, south = DEMO_BBOX[0] + 0.02, DEMO_BBOX[1] + 0.02
    col, row = i % 5, i // 5
    w, s = west + col * 0.044, south + row * 0.022
    return [round(w, 6), round(s, 6), round(w + size, 6), round(s + size * 0.72, 6)]


#: Most of the demo at 10 m (~1900 x 1900 px): a job that runs for several seconds.
LARGE_BBOX = [DEMO_BBOX[0] + 0.01, DEMO_BBOX[1] + 0.01, DEMO_BBOX[2] - 0.01,
              DEMO_BBOX[3] - 0.01]


def order(**inputs: Any) -> dict[str, Any]:
    """An execute request body on the demo: July 2024, 60 m, SCL masks, unless told otherwise.

    The web layer's tests order with the items' own mask: the CNN would add seconds to each
    of their many builds and test nothing of the web layer (`tests/api/test_cloud_mask.py`
    orders with the default chain, the engine's tests test the chains).
    """
    return {"inputs": {"period": DEMO_PERIOD, "resolution": 60, "cloud_mask": "scl",
                       **inputs}}


def wait_final(client: httpx.Client, job_id: str, timeout: float = 120.0,
               interval: float = 0.2,
               on_poll: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Poll the job until it ends; ``on_poll`` sees each unfinished state."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in FINAL:
            return dict(job)
        if on_poll is not None:
            on_poll(job)
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']}: {job}")
        time.sleep(interval)


def wait_running(client: httpx.Client, job_id: str, min_progress: int = 6,
                 timeout: float = 120.0) -> dict[str, Any]:
    """Wait until the job computes blocks (past the search), not merely started."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] >= min_progress:
            return dict(job)
        if job["status"] in FINAL or time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never ran long enough: {job}")
        time.sleep(0.05)


def ensure_demo_folder(root: Path) -> Path:
    """Generate the demo catalogue once under ``root``; return its folder."""
    from catalog.demo import ensure_demo

    return ensure_demo(root).parent


def assert_problem(response: httpx.Response, status: int,
                   field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem of ``status``, with a title, detail and type (and ``field``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"] and problem["type"]
    if field is not None:
        assert problem["field"] == field, problem
    return dict(problem)
