"""Local servers the benchmarks start: a free loopback port, and a moto_server on it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_moto(output: IO | int = subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """A moto_server (DynamoDB, S3, ... over HTTP) on a free loopback port, once it accepts
    connections: (the process, its URL). Its output goes to `output`."""
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", HOST, "-p", str(port)],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return server, f"http://{HOST}:{port}"
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
