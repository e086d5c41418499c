"""Resolving sources for the collector's connections, many in one transaction.

Every `open` of a shipper's file, every backlog body and every intake's first append
asks the store which source its head names (Store.resolve_sources), on the writer's
thread. One at a time that is a transaction each, ~5 ms of the writer's time: a fleet
of 2,000 shippers reconnecting after a collector restart kept the writer busy for
~10 s before their first lines could be committed, and their acks waited behind it.
Here the asks that arrive while the writer is busy wait together and go as one job, one
transaction: a lone ask goes at once, as before; the batch gives each ask the source
resolving them one by one would have given (store/resolve.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["SourceResolver", "MAX_ASKS"]

# asks resolved in one writer job at most: 1,000 take ~40 ms of the writer's thread
MAX_ASKS = 1000

Ask = tuple[str, bytes, dict[str, Any]]


class SourceResolver:
    """``resolve`` one head; the asks waiting meanwhile are resolved together.

    ``run_on_writer(fn)``: ``fn()`` on the writer's thread (Writer.run_in_thread with
    flush=False: resolving reads and sets what no commit writes); ``resolve_many(asks)``
    the store's answer, one SourceInfo or exception per ask."""

    def __init__(self, run_on_writer: Callable[[Callable[[], Any]], Awaitable[Any]],
                 resolve_many: Callable[[list[Ask]], list[Any]]) -> None:
        self._run = run_on_writer
        self._resolve_many = resolve_many
        self._waiting: list[tuple[Ask, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.jobs = 0  # writer jobs run (each one transaction)
        self.asks = 0  # asks they resolved

    async def resolve(self, client_id: str, head: bytes, kw: dict[str, Any]) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(((client_id, head, kw), fut))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="logship-resolve")
        return await fut

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_ASKS], self._waiting[MAX_ASKS:]
            batch = [(ask, fut) for ask, fut in batch if not fut.done()]  # the asker went away
            if not batch:
                continue
            asks = [ask for ask, _ in batch]
            try:
                results = await self._run(lambda: self._resolve_many(asks))
            except asyncio.CancelledError:  # shutdown: nobody is left to answer
                for _, fut in batch + self._waiting:
                    fut.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - the store failed (StoreUnavailable): each ask is told
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.jobs += 1
            self.asks += len(asks)
            for (_, fut), result in zip(batch, results):
                if fut.done():
                    continue
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
