"""Rendering a payload off the event loop: in the collector's parse workers.

An OTLP export's render (protobuf decoded and written as export lines) is pure CPU on
one payload: on the event loop it takes the core that answers every other request,
and with two cores the loop rendering while the writer waits for the workers left
most of one core idle. A big payload is rendered in one of the parse workers the
collector forked at start (store/pool.py; no second pool): the loop only reads bodies
and answers. Small payloads, a collector without workers (`parse_workers = 0`), and a
pool that broke (a worker died) render on the loop, as before: the same function, the
same result. What comes back must be cheap to bring back: a bulk body's render is
columns of plain values, not an object per item (collector/intake/esbulk.py Rendered).

A render function given here must be module-level (it is pickled by name), and so
must its arguments, its result and its exceptions (BadRequest pickles: one message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from logship.store.parsing import gc_paused

from ..state import CollectorState

__all__ = ["render", "AWAY_BYTES"]

T = TypeVar("T")

# a body this big or bigger is rendered in a worker: below it, the round trip to a
# worker (pickling both ways, a wake-up) costs about what rendering it on the loop does
AWAY_BYTES = 32 << 10


def _pool(state: CollectorState) -> Any:
    """The collector's parse workers when they can take a job, else None."""
    pool = getattr(state.store, "pool", None)
    if pool is None or pool.broken or not pool.live():
        return None
    return pool


async def render(state: CollectorState, size: int, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``: in a parse worker when the payload is ``size`` >= AWAY_BYTES bytes
    and the workers are up, else here on the loop (also when the pool breaks meanwhile:
    a worker that died is no answer for the client)."""
    pool = _pool(state) if size >= AWAY_BYTES else None
    fut = None
    if pool is not None:
        try:
            fut = pool.submit_call(fn, *args)
        except (BrokenProcessPool, RuntimeError):  # broken, or shut down meanwhile: render here
            fut = None
    if fut is not None:
        try:
            return await asyncio.wrap_future(fut)  # type: ignore[no-any-return]
        except BrokenProcessPool:  # the worker died with the job: render here
            pass
    with gc_paused():  # as in a worker (store/pool.py call_in_worker)
        return fn(*args)
