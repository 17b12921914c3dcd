"""A real TCP server that accepts connections and never answers: the "endpoint that hangs".

Used to prove that no request waits on a dependency past its deadline. It listens on a free
loopback port, accepts every connection, reads whatever is sent and never writes a byte; the
connections are closed when the server stops.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class HangingServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hanging-server", daemon=True)

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.close()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._connections.append(connection)  # held open, never answered
