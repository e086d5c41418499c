"""The collector's only door into store/: the calls the writer thread makes.

Everything goes through store.Store (the one ingest path). This module only shapes
the calls the way the writer batches them; it holds no storage logic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["IngestCall", "StorePort", "StoreAdapter", "open_store"]

log = logging.getLogger("logship.collector.store")


@dataclass(frozen=True, slots=True)
class IngestCall:
    source_id: str
    start: int
    data: bytes
    final: bool
    kind: str
    span: int | None = None  # a TRUNCATED line: data is its start, span its full length


class StorePort(Protocol):
    def resolve_source(self, client_id: str, head: bytes, **kw: Any) -> Any: ...
    def ingest_many(self, calls: list[IngestCall]) -> list[Any]: ...
    def source(self, source_id: str) -> Any: ...
    def close(self) -> None: ...


class StoreAdapter:
    """Wraps a store.Store for the writer thread."""

    def __init__(self, store: Any) -> None:
        self.store = store
        # each source's parser lives on between group commits (its context with it)
        self.parsers: dict[str, Any] = {}

    def resolve_source(self, client_id: str, head: bytes, **kw: Any) -> Any:
        return self.store.resolve_source(client_id, head, **kw)

    def ingest_many(self, calls: list[IngestCall]) -> list[Any]:
        """All calls in ONE transaction (store.group: a group commit); results in call order.

        If the group fails it is rolled back and the calls are retried one Store.ingest
        each, so one bad source cannot keep the others from committing; its result is
        the exception.
        """
        from store.group import GroupCall, ingest_group

        if len(self.parsers) > 20_000:
            self.parsers.clear()
        try:
            return ingest_group(self.store, [GroupCall(c.source_id, c.start, c.data, c.final, c.kind, c.span)
                                             for c in calls], self.parsers)
        except Exception as exc:  # noqa: BLE001 - isolate the failing call below
            self.parsers.clear()  # their contexts may be ahead of what was rolled back
            log.warning("group commit of %d calls rolled back (%s); retrying one by one", len(calls), exc)
        out: list[Any] = []
        for c in calls:
            try:
                out.append(self._one(c))
            except Exception as exc:  # noqa: BLE001 - one source's failure is reported, others go on
                out.append(exc)
        return out

    def _one(self, c: IngestCall) -> Any:
        return self.store.ingest(c.source_id, c.start, c.data, final=c.final, kind=c.kind, span=c.span)

    def source(self, source_id: str) -> Any:
        return self.store.source(source_id)

    def close(self) -> None:
        self.store.close()


def open_store(path: Path, memory_limit: str, max_line_bytes: int) -> StoreAdapter:
    from store import Store  # heavy (duckdb, pyarrow): only the collector process imports it

    return StoreAdapter(Store(path, memory_limit=memory_limit, max_line_bytes=max_line_bytes))
