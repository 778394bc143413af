"""Helpers of the distributed tests: a real dask cluster of subprocesses, a COG HTTP server.

The cluster is what a deployment runs (``dask scheduler`` and ``dask worker`` processes, as in
compose.yaml), on 127.0.0.1 with free ports, always torn down. The HTTP server serves files
with byte ranges, as object storage does to GDAL's /vsicurl, and counts what it served
(``tests/benchmarks/chunk_cost.py`` counts a chunk's bytes and requests with it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from distributed import Client

from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
#: How long a scheduler and its workers may take to come up on a loaded 2-core machine.
START_TIMEOUT = 90.0


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the scheduler exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"no scheduler on port {port} after {timeout} s")


@dataclass
class DaskProcesses:
    """A scheduler and its workers, each a subprocess (workers without a nanny)."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    logs: Path
    killed: list[int] = field(default_factory=list)

    def worker_pids(self, client: Client) -> dict[str, int]:
        """Worker address -> pid of the process serving it."""
        pids: dict[str, int] = client.run(os.getpid)
        return pids

    def kill(self, pid: int) -> None:
        """SIGKILL one worker process: no goodbye to the scheduler, as in a node loss."""
        process = next(p for p in self.workers if p.pid == pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        self.killed.append(pid)

    @staticmethod
    def busiest(observer: Client, pids: dict[str, int]) -> tuple[str, int]:
        """The worker with the most tasks in flight (a loss that costs work), and how many.

        ``pids``: `worker_pids`, taken before.
        """
        processing = observer.processing()
        address = max(pids, key=lambda a: len(processing.get(a, ())))
        return address, len(processing.get(address, ()))

    def log_text(self) -> str:
        """Every process's log, for failure messages."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.logs.glob("*.log")))


@contextmanager
def dask_processes(folder: Path, n_workers: int = 2, nthreads: int = 1) -> Iterator[DaskProcesses]:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes; stop them after.

    Workers run without a nanny, so a killed worker stays dead (the test sees a node loss,
    not a restart), with one thread each and their scratch space in ``folder``. Their
    environment is this one (same interpreter, same packages), with the project root on
    ``PYTHONPATH`` so that functions of the tests can be shipped with `Client.run`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                     os.environ.get("PYTHONPATH")]))}
    env.pop("GDAL_HTTP_HEADERS", None)  # the GDAL test needs workers without it
    started: list[subprocess.Popen[bytes]] = []
    handles = []

    def spawn(name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (folder / f"{name}.log").open("wb")
        handles.append(log)
        process = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=folder, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    try:
        scheduler = spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--no-dashboard"])
        _wait_for_port(port, scheduler, START_TIMEOUT)
        workers = [
            spawn(f"worker-{i}", ["worker", address, "--host", "127.0.0.1", "--no-nanny",
                                  "--nthreads", str(nthreads), "--nworkers", "1",
                                  "--no-dashboard", "--memory-limit", "2GiB",
                                  "--local-directory", str(folder / f"worker-{i}"),
                                  "--name", f"worker-{i}"])
            for i in range(n_workers)
        ]
        with Client(address, set_as_default=False, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(n_workers, timeout=START_TIMEOUT)
        yield DaskProcesses(address, scheduler, workers, folder)
    finally:
        for process in reversed(started):  # workers first, then the scheduler
            stop(process)
        for handle in handles:
            handle.close()


def close_engine_client(address: str) -> None:
    """Close the engine's cached client of ``address`` before its scheduler goes away."""
    from engine import cluster

    with cluster._lock:
        client = cluster._clients.pop(address, None)
    if client is not None:
        client.close()


# --- a COG server with byte ranges ---------------------------------------------------------


@dataclass
class Served:
    """What the server answered: one entry a request."""

    path: str
    status: int
    nbytes: int
    headers: dict[str, str]
    method: str


class _Server(ThreadingHTTPServer):
    # Object storage accepts every connection; socketserver's backlog of 5 would leave
    # concurrent readers' requests unanswered until their read timeout.
    request_queue_size = 1024


class RangeServer:
    """Serve ``root`` over HTTP on 127.0.0.1 with single byte ranges (as S3 answers GDAL).

    URLs are ``/<prefix>/<path in root>``: distinct prefixes give distinct URLs for the same
    files, so GDAL's per-process caches of one run never answer for another. With
    ``required_header`` set, a request without that exact header gets 403, as a bucket
    answers a request without credentials.
    """

    def __init__(self, root: Path, required_header: tuple[str, str] | None = None,
                 delay_s: float = 0.0) -> None:
        self.root = root.resolve()
        self.required_header = required_header
        self.delay_s = delay_s  # added before every answer: object storage's first-byte time
        self.log: list[Served] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, entry: Served) -> None:
        """Keep one request's outcome (thread-safe)."""
        with self._lock:
            self.log.append(entry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as object storage

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, body: bool) -> None:
                if server.delay_s:
                    time.sleep(server.delay_s)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if server.required_header is not None:
                    name, value = server.required_header
                    if headers.get(name.lower()) != value:
                        self._send(403, b"missing credentials", headers, body)
                        return
                parts = self.path.split("?")[0].lstrip("/").split("/", 1)
                target = (server.root / parts[-1]).resolve()
                if len(parts) != 2 or server.root not in target.parents or not target.is_file():
                    self._send(404, b"not found", headers, body)
                    return
                size = target.stat().st_size
                spec = headers.get("range")
                if spec is None:
                    self._send(200, target.read_bytes(), headers, body)
                    return
                first_text, _, last_text = spec.removeprefix("bytes=").partition("-")
                if "," in spec or not first_text:
                    self._send(416, b"one range only", headers, body)
                    return
                first = int(first_text)
                last = min(int(last_text) if last_text else size - 1, size - 1)
                if first >= size:
                    self._send(416, b"range not satisfiable", headers, body, size=size)
                    return
                with target.open("rb") as handle:
                    handle.seek(first)
                    data = handle.read(last - first + 1)
                self._send(206, data, headers, body,
                           extra={"Content-Range": f"bytes {first}-{last}/{size}"})

            def _send(self, status: int, data: bytes, request_headers: dict[str, str],
                      body: bool, extra: dict[str, str] | None = None,
                      size: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data)))
                if size is not None:
                    self.send_header("Content-Range", f"bytes */{size}")
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(data)
                server.record(Served(self.path, status, len(data) if body else 0,
                                     request_headers, self.command))

            def do_GET(self) -> None:
                self._answer(body=True)

            def do_HEAD(self) -> None:
                self._answer(body=False)

        return Handler


def http_items(items_path: Path, base_url: str, out: Path) -> Path:
    """A copy of an ndjson item file whose relative asset hrefs point at ``base_url``."""
    lines = []
    for line in items_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        for asset in item["assets"].values():
            href = asset["href"]
            if not href.startswith(("http://", "https://", "/")):
                asset["href"] = f"{base_url}/{href.removeprefix('./')}"
        item["links"] = []
        lines.append(json.dumps(item))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
