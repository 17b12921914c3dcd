"""A closed-loop HTTP load generator: C client threads, each sends its next request as soon as
the previous answer is read. Latency is measured from just before sending to the last byte.

Each thread keeps one `http.client.HTTPConnection`. Gunicorn's sync workers close the
connection after every response, so in practice every request pays a loopback TCP connect
(well under a millisecond), as any client of such a server does.
"""

from __future__ import annotations

import http.client
import itertools
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A request: (method, path, body bytes or None[, extra headers]) built from its sequence number.
Request = tuple[str, str, bytes | None] | tuple[str, str, bytes | None, dict[str, str]]
RequestFactory = Callable[[int], Request]


@dataclass
class Sample:
    seq: int
    status: int
    latency_s: float
    body: bytes


@dataclass
class LoadResult:
    clients: int
    elapsed_s: float
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for sample in self.samples:
            counts[sample.status] = counts.get(sample.status, 0) + 1
        return counts

    def summary(self) -> dict:
        latencies = sorted(s.latency_s * 1000 for s in self.samples)
        return {
            "requests": len(self.samples),
            "clients": self.clients,
            "elapsed_s": round(self.elapsed_s, 3),
            "req_per_s": round(len(self.samples) / self.elapsed_s, 1) if self.elapsed_s else None,
            "median_ms": _round(statistics.median(latencies)) if latencies else None,
            "p90_ms": _round(percentile(latencies, 90)),
            "p99_ms": _round(percentile(latencies, 99)),
            "mean_ms": _round(statistics.fmean(latencies)) if latencies else None,
            "min_ms": _round(latencies[0]) if latencies else None,
            "max_ms": _round(latencies[-1]) if latencies else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses().items())},
            "client_errors": len(self.errors),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats drifting
    return sorted_values[int(rank) - 1]


def run(
    *,
    host: str,
    port: int,
    headers: dict[str, str],
    factory: RequestFactory,
    requests: int,
    clients: int,
    first_seq: int = 0,
    keep_bodies: bool = False,
    timeout: float = 60.0,
) -> LoadResult:
    """Send `requests` requests from `clients` threads; sequence numbers start at first_seq."""
    counter = itertools.count(first_seq)
    last = first_seq + requests
    lock = threading.Lock()
    result = LoadResult(clients=clients, elapsed_s=0.0)
    start_line = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        start_line.wait()
        while True:
            with lock:
                seq = next(counter)
            if seq >= last:
                break
            method, path, body, *extra = factory(seq)
            request_headers = {**headers, **extra[0]} if extra else headers
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=request_headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                with lock:
                    result.errors.append(f"{seq}: {exc.__class__.__name__}: {exc}")
                continue
            latency = time.perf_counter() - started
            # Error bodies are always kept, to show what went wrong.
            keep = keep_bodies or response.status >= 300
            sample = Sample(seq, response.status, latency, payload if keep else b"")
            with lock:
                result.samples.append(sample)
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    result.elapsed_s = time.perf_counter() - started
    return result
