"""Calls to a dependency that must answer within a deadline, or be given up on.

A request thread hands the call to a small module-level worker pool and waits at most the
deadline for it; past that it gives up (`DeadlineExceeded`) and answers without it, while the
worker finishes on its own: the socket timeouts of the client underneath are sized from the
same deadline, so an abandoned call ends soon after. The pool is bounded and never queues: when
every worker is still busy with abandoned calls (a dependency that hangs), a new call is refused
at once instead of waiting behind them, and the caller degrades.

Only work that does not use the Django database belongs here: a worker thread has its own
database connection, outside the request's transaction (see knowledge.services.kb_retrieve,
which reads the index revision in the request thread and searches in the pool).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")

# Workers for calls in flight at once, per process: a gunicorn sync worker or a Lambda runs one
# request at a time, so a few cover a request's own calls plus some abandoned ones.
POOL_SIZE = 8

_pool = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="deadline")
_slots = threading.BoundedSemaphore(POOL_SIZE)


class DeadlineExceeded(Exception):
    """The call did not answer within its deadline (or no worker was free to make it)."""


def call_within(call: Callable[[], T], *, seconds: float, what: str) -> T:
    """`call()`'s result if it answers within `seconds`; its exception if it raises; else
    `DeadlineExceeded` (the call keeps running in its worker until its own timeouts end it)."""
    return wait(start(call, what=what), seconds=seconds, what=what)


def start(call: Callable[[], T], *, what: str) -> Future[T]:
    """Start `call` in a worker now (several can run side by side); `wait` for its answer.
    Raises `DeadlineExceeded` at once when no worker is free."""
    if not _slots.acquire(blocking=False):
        raise DeadlineExceeded(f"{what}: no worker free (earlier calls have not answered yet)")
    try:
        future = _pool.submit(call)
    except BaseException:
        _slots.release()
        raise
    future.add_done_callback(lambda _: _slots.release())
    return future


def wait(future: Future[T], *, seconds: float, what: str) -> T:
    """The answer of a started call within `seconds` (from now), else `DeadlineExceeded`."""
    try:
        return future.result(timeout=max(0.0, seconds))
    except FutureTimeout:
        future.cancel()
        raise DeadlineExceeded(f"{what} did not answer within {seconds:g} s") from None


def busy_workers() -> int:
    """Workers taken by calls that have not finished (abandoned ones included)."""
    return POOL_SIZE - _slots._value  # noqa: SLF001 - read-only look for tests and /health
