"""CPU accounting from /proc, so figures from a shared machine can be read fairly.

Latency on a noisy 2-core machine moves with whatever else runs; CPU time per request does
much less. A `Snapshot` records the CPU seconds used so far by the gunicorn workers, by the
Postgres backends serving the bench database, by this process (the load generator), and by
the whole machine; the difference of two snapshots says who used the CPUs in between.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _process_cpu_s(pid: int | str) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / TICK


def _machine_busy_s() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def db_backends(db_name: str) -> list[int]:
    """Postgres backend processes connected to `db_name` (their title names the database)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {db_name} " in title:
            pids.append(int(entry.name))
    return pids


@dataclass
class Snapshot:
    wall: float
    workers: dict[int, float] = field(default_factory=dict)
    db: dict[int, float] = field(default_factory=dict)
    client: float = 0.0
    machine: float = 0.0

    @classmethod
    def take(cls, *, server_pid: int, db_name: str) -> Snapshot:
        times = os.times()
        return cls(
            wall=time.perf_counter(),
            workers={pid: _process_cpu_s(pid) for pid in children(server_pid)},
            db={pid: _process_cpu_s(pid) for pid in db_backends(db_name)},
            client=times.user + times.system,
            machine=_machine_busy_s(),
        )


def usage(before: Snapshot, after: Snapshot, *, requests: int) -> dict:
    """CPU used between two snapshots: per request (ms) and as shares of the machine."""

    def delta(a: dict[int, float], b: dict[int, float]) -> float:
        return sum(cpu - a.get(pid, 0.0) for pid, cpu in b.items())

    workers = delta(before.workers, after.workers)
    db = delta(before.db, after.db)
    client = after.client - before.client
    machine = after.machine - before.machine
    wall = after.wall - before.wall
    capacity = wall * (os.cpu_count() or 1)
    others = max(0.0, machine - workers - db - client)
    return {
        "server_cpu_ms_per_req": round(workers * 1000 / requests, 2) if requests else None,
        "db_cpu_ms_per_req": round(db * 1000 / requests, 2) if requests else None,
        "client_cpu_ms_per_req": round(client * 1000 / requests, 2) if requests else None,
        # Share of all CPUs used by processes that are not part of the bench: the noise.
        "others_cpu_share": round(others / capacity, 2) if capacity else None,
        "machine_busy_share": round(machine / capacity, 2) if capacity else None,
    }


def busy_share(seconds: float = 1.0) -> float:
    """Share of all CPUs that were busy over the next `seconds`."""
    before, started = _machine_busy_s(), time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    return (_machine_busy_s() - before) / (elapsed * (os.cpu_count() or 1))


def wait_for_quiet(*, threshold: float, max_wait_s: float) -> float:
    """Wait (at most max_wait_s) until the machine is busy less than `threshold`; return the
    last busy share seen. Called while the bench itself is idle, so what it sees is others."""
    deadline = time.monotonic() + max_wait_s
    while True:
        share = busy_share()
        if share < threshold or time.monotonic() >= deadline:
            return round(share, 2)
