"""Helpers shared by the tests that start servers: a free loopback port, a clean stop."""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A loopback TCP port nobody listens on (as of now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Terminate a server process, killing it if it does not end in ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
