"""A loopback HTTP server of a folder that answers byte ranges slowly, as object storage does.

Why: a COG read over HTTP costs a round trip per request, 10-100 ms from a cloud VM to S3,
and a loader that reads tile after tile, or opens every file anew, spends its time waiting.
On a local disk that cost is invisible. This server makes it visible and countable: every
answer waits `RangeServer.delay` first, and the requests and body bytes are counted.

What GDAL's ``/vsicurl`` needs, and what this gives it: a HEAD with ``Content-Length`` and
``Accept-Ranges: bytes`` (GDAL learns the file size from it), then GETs with one
``Range: bytes=a-b`` each, answered ``206 Partial Content`` with ``Content-Range``. HTTP/1.1
keep-alive, so that a reader pays the delay per request, not a TCP handshake too. A request
of several ranges at once is refused (416): GDAL asks them one by one unless told otherwise,
and a silently wrong body would be worse than a loud refusal.

Bounded, so that a benchmark that hangs cannot leave it running: it stops itself after
``lifetime`` seconds and after ``max_requests`` requests (later ones get 503), and it listens
on 127.0.0.1 only.

Usage::

    with RangeServer(folder, delay=0.02) as server:
        url = server.url_for("item/B04.tif")   # http://127.0.0.1:PORT/item/B04.tif
        ...
        server.stats.requests, server.stats.bytes_sent

Standalone: ``python -m tests.benchmarks.range_server FOLDER [--delay 0.02]``.
"""

from __future__ import annotations

import argparse
import contextlib
import mimetypes
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

#: One round trip to object storage in the same region, roughly.
DEFAULT_DELAY = 0.02
#: Longer than any benchmark case (each has its own timeout, well below).
DEFAULT_LIFETIME = 600.0
#: Far more than a case needs (about 2,500 for the benchmark's 2048 px workload).
DEFAULT_MAX_REQUESTS = 200_000
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Stats:
    """What the server answered so far: requests by method, and body bytes sent."""

    requests: int
    heads: int
    gets: int
    bytes_sent: int


class _Counters:
    """Request and byte counts, shared by the handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heads = self._gets = self._other = self._bytes = 0

    def request(self, method: str) -> int:
        """Count a request; return how many there were, this one included."""
        with self._lock:
            if method == "HEAD":
                self._heads += 1
            elif method == "GET":
                self._gets += 1
            else:
                self._other += 1
            return self._heads + self._gets + self._other

    def sent(self, n: int) -> None:
        with self._lock:
            self._bytes += n

    def snapshot(self) -> Stats:
        with self._lock:
            return Stats(self._heads + self._gets + self._other, self._heads, self._gets,
                         self._bytes)


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """The inclusive byte range a ``Range`` header asks of a file of ``size`` bytes.

    Returns None without a header (the whole file), ``(first, last)`` for one satisfiable
    range (``last`` clamped to the file), or ``"unsatisfiable"`` for anything else: several
    ranges, a malformed header, or a range past the end.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return "unsatisfiable"
    first_text, last_text = match.groups()
    if not first_text:  # a suffix: the last N bytes
        if not last_text or int(last_text) == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - int(last_text)), size - 1)
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        return "unsatisfiable"
    return (first, min(last, size - 1))


class _Handler(BaseHTTPRequestHandler):
    """GET and HEAD of files under the server's folder, one byte range at a time."""

    protocol_version = "HTTP/1.1"  # keep-alive: one handshake per connection, not per read
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for
    # the client's delayed ACK of the headers, 40 ms on Linux, twice the delay modelled.
    disable_nagle_algorithm = True
    server: _Server

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: thousands of requests per benchmark case."""

    def _answer(self, body: bool) -> None:
        owner = self.server.owner
        admitted = owner.admit(self.command)
        time.sleep(owner.delay)  # the round trip, before anything is answered
        if not admitted:
            self.close_connection = True
            self._empty(503)
            return
        path = owner.resolve(self.path)
        if path is None:
            self._empty(404)
            return
        size = path.stat().st_size
        wanted = parse_range(self.headers.get("Range"), size)
        if wanted == "unsatisfiable":
            self._empty(416, {"Content-Range": f"bytes */{size}"})
            return
        first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
        length = last - first + 1 if size else 0
        self.send_response(206 if isinstance(wanted, tuple) else 200)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0]
                         or "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        if isinstance(wanted, tuple):
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Last-Modified", self.date_time_string(int(path.stat().st_mtime)))
        self.end_headers()
        if body and length:
            self._send_file(path, first, length)

    def _send_file(self, path: Path, first: int, length: int) -> None:
        """The body, by ``sendfile``: the kernel copies it from the page cache to the socket.

        Object storage does not spend the client's cores to serve it; a Python loop of reads
        and writes here did, on the same 2 cores as the reader it measures (741 MB for the
        plain layout's build).
        """
        owner = self.server.owner
        # Counted before it is sent: a client that has read the body must find it counted.
        # What was not sent, if the client hung up, is taken back.
        owner.counters.sent(length)
        sent = 0
        try:
            with path.open("rb") as f:
                sent = self.connection.sendfile(f, offset=first, count=length)
        finally:
            if sent != length:
                owner.counters.sent(sent - length)

    def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client's idle keep-alive connection must not block the exit
    # Object storage accepts every connection. socketserver's backlog of 5 does not: beyond
    # it, Linux completes a client's handshake and drops its request, and the client waits
    # for its read timeout (30 s, seen with 130 concurrent connections).
    request_queue_size = 1024

    def __init__(self, owner: RangeServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that hang up (curl does, once it has what it wants)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class RangeServer:
    """Serve ``folder`` on 127.0.0.1 with a delay before every answer; a context manager.

    Args:
        folder: what is served; paths outside it are 404.
        delay: seconds waited before every answer (a round trip to object storage).
        lifetime: seconds after `start` at which the server stops itself.
        max_requests: requests answered; the next ones get 503 and the server stops.

    """

    def __init__(self, folder: Path | str, *, delay: float = DEFAULT_DELAY,
                 lifetime: float = DEFAULT_LIFETIME,
                 max_requests: int = DEFAULT_MAX_REQUESTS) -> None:
        self.folder = Path(folder).resolve()
        self.delay, self.lifetime, self.max_requests = delay, lifetime, max_requests
        self.counters = _Counters()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopping = threading.Event()  # set first: answers from now on are 503
        self._stopped = threading.Event()  # set once the listening socket is closed
        self._stop_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url_for(self, relative: str | Path) -> str:
        """The URL of a file given by its path relative to the folder."""
        return f"{self.url}/{quote(Path(relative).as_posix())}"

    @property
    def stats(self) -> Stats:
        """The counts so far."""
        return self.counters.snapshot()

    @property
    def stopped(self) -> bool:
        """Whether the server stopped (asked to, out of lifetime, or out of requests).

        Once True, the listening socket is closed: a new connection is refused.
        """
        return self._stopped.is_set()

    def wait_stopped(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the server to stop; whether it did."""
        return self._stopped.wait(timeout)

    def start(self) -> RangeServer:
        """Listen and serve in a daemon thread; the lifetime starts now."""
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="range-server", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close the listening socket (idempotent, from any thread)."""
        with self._stop_lock:
            if self._stopping.is_set() or self._server is None:
                return
            self._stopping.set()
        if self._timer is not None:
            self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._stopped.set()

    def admit(self, method: str) -> bool:
        """Count a request; False (and the server stops) once it is over budget or stopped."""
        count = self.counters.request(method)
        if self._stopping.is_set():
            return False
        if count > self.max_requests:
            # Not from this handler thread's own call stack into a blocking shutdown.
            threading.Thread(target=self.stop, daemon=True).start()
            return False
        return True

    def resolve(self, request_path: str) -> Path | None:
        """The file a request path names, or None if it is not a file under the folder."""
        relative = unquote(urlsplit(request_path).path).lstrip("/")
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return None
        return path

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main() -> None:
    """Serve a folder until its lifetime ends or Ctrl-C; print the counts on exit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--delay", type=float, default=DEFAULT_DELAY)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME)
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS)
    args = parser.parse_args()
    with RangeServer(args.folder, delay=args.delay, lifetime=args.lifetime,
                     max_requests=args.max_requests) as server:
        print(f"serving {server.folder} at {server.url} (pid {os.getpid()})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.wait_stopped(server.lifetime + 1)
        print(server.stats, flush=True)


if __name__ == "__main__":
    main()
