"""The collector's only door into store/: the calls the writer thread makes.

Everything goes through store.Store's one commit path (store/commit.py): the writer
hands a list of store.Item and gets one result per item, either at once
(``ingest_many``) or in three steps it pipelines with the batch before (``stage``,
``finish``, ``write``: the parse workers parse one batch while DuckDB writes the
other). This module holds no storage logic. It also tells a
store that cannot commit (disk full, I/O error: StoreUnavailable) from data that cannot
be stored, and reopens the database after a fatal DuckDB error (DuckDB invalidates the
database instance then: every later statement fails until it is reopened).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Protocol

import duckdb

from logship.kernel.errors import one_line
from logship.store.commit import Commit
from logship.store.item import Item

from .errors import CollectorError

__all__ = ["Item", "StorePort", "StoreAdapter", "StoreUnavailable", "open_store", "unavailable"]

log = logging.getLogger("logship.collector.store")


class StoreUnavailable(CollectorError):
    """The store cannot commit now (disk full, I/O error, invalidated database): not the
    data's fault. `fatal`: the database must be reopened before it can be used again."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


# what DuckDB says when a write reached the disk and the disk said no
_IO_WORDS = ("Could not write file", "No space left on device", "Failed to commit", "Read-only file system",
             "Input/output error", "Connection already closed", "Connection Error")


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    """`exc` as a StoreUnavailable when it is the store's failure (not the data's), else None."""
    if isinstance(exc, StoreUnavailable):
        return exc
    text = one_line(exc)
    if isinstance(exc, duckdb.FatalException) or "database has been invalidated" in text:
        return StoreUnavailable(f"store cannot commit (database invalidated, reopening): {text}", fatal=True)
    if isinstance(exc, duckdb.ConnectionException):
        return StoreUnavailable(f"store cannot commit (connection closed, reopening): {text}", fatal=True)
    if isinstance(exc, (duckdb.IOException, OSError)) or (
            isinstance(exc, duckdb.Error) and any(w in text for w in _IO_WORDS)):
        return StoreUnavailable(f"store cannot commit: {text}")
    return None


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """The store's failures raised as StoreUnavailable; the data's as they are."""
    try:
        yield
    except Exception as exc:
        down = unavailable(exc)
        if down is None:
            raise
        raise down from exc


def _each_alone(call: Callable[[list[Any]], list[Any]], items: list[Any]) -> list[Any]:
    """``call([item])[0]`` for each item, after a call with all of them failed: an item's
    own failure is its result and the others go on; the store's (StoreUnavailable) stops
    them all (trying the rest could not help)."""
    out: list[Any] = []
    for item in items:
        try:
            with _unavailable():
                out.append(call([item])[0])
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - this item's own failure
            out.append(exc)
    return out


class StorePort(Protocol):
    def resolve_source(self, client_id: str, head: bytes, **kw: Any) -> Any: ...
    def resolve_sources(self, asks: list[tuple[str, bytes, dict[str, Any]]]) -> list[Any]: ...
    def ingest_many(self, items: list[Item]) -> list[Any]: ...
    def stage(self, items: list[Item], base: Any = None) -> Any: ...
    def finish(self, commit: Any) -> list[Any]: ...
    def write(self, commit: Any) -> None: ...
    def forget_parsers(self) -> None: ...
    def source(self, source_id: str) -> Any: ...
    def known_end(self, source_id: str) -> int | None: ...
    def reopen(self) -> None: ...
    def probe(self, nbytes: int) -> None: ...
    def close(self) -> None: ...


class StoreAdapter:
    """Wraps a store.Store for the writer thread.

    ``pool``: the collector's parse workers (store/pool.py ParsePool, created before the
    database was opened), or None to parse in the writer thread only."""

    def __init__(self, store: Any, open_fn: Callable[[], Any] | None = None, pool: Any = None) -> None:
        self.store = store
        self.open_fn = open_fn
        self.pool = pool
        # each source's parser lives on between group commits (its context with it)
        self.parsers: dict[str, Any] = {}
        # called with the new DuckDB connection after a reopen (the query runner's)
        self.on_reopen: list[Callable[[duckdb.DuckDBPyConnection], None]] = []

    def resolve_source(self, client_id: str, head: bytes, **kw: Any) -> Any:
        with _unavailable():
            return self.store.resolve_source(client_id, head, **kw)

    def resolve_sources(self, asks: list[tuple[str, bytes, dict[str, Any]]]) -> list[Any]:
        """Store.resolve_sources: all asks in one transaction, one SourceInfo or exception
        each. If that transaction fails for another reason than the store's, each ask is
        resolved alone, so that one ask cannot fail the others (as ingest_many)."""
        try:
            with _unavailable():
                return list(self.store.resolve_sources(asks))
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the failing ask below
            if len(asks) == 1:
                return [exc]
            log.warning("resolving %d sources at once failed (%s); resolving them one by one", len(asks), exc)
        return _each_alone(self.store.resolve_sources, asks)

    def ingest_many(self, items: list[Item]) -> list[Any]:
        """All items in ONE transaction (Store.ingest_items: a group commit); results in item order.

        If the group fails it is rolled back and the items are retried as a commit of
        one each, parsed in this thread (whatever the pool did cannot fail them again),
        so one bad source cannot keep the others from committing; its result is the
        exception.
        A store that cannot commit raises StoreUnavailable instead (retrying the items
        one by one could not help).
        """
        if len(self.parsers) > 20_000:
            self.parsers.clear()
        try:
            with self._failing():
                return self.store.ingest_items(items, self.parsers, pool=self.pool)
        except StoreUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the failing item below
            log.warning("group commit of %d items rolled back (%s); retrying one by one", len(items), exc)
        return _each_alone(self.store.ingest_items, items)

    # --- a commit in three steps (the writer pipelines them: collector/writer.py) -----

    def stage(self, items: list[Item], base: Any = None) -> Any:
        """A Commit of the items, planned on ``base`` (a commit added but not yet
        written, or None) with their parse started in the pool; None when they must
        wait for ``base``'s write (Commit.follows_unwritten). Raises like ingest_many;
        on a failure nothing is written and the parsers are forgotten."""
        commit = Commit(self.store, self.parsers, base)
        if commit.follows_unwritten(items):
            return None
        if len(self.parsers) > 20_000 and base is None:
            self.parsers.clear()
        with self._failing():
            commit.start(items, self.pool)
        return commit

    def finish(self, commit: Any) -> list[Any]:
        """The staged items added, in order; their results (written by ``write``)."""
        with self._failing():
            return commit.finish()  # type: ignore[no-any-return]

    def write(self, commit: Any) -> None:
        """The added items in one transaction."""
        with self._failing():
            commit.write()

    def forget_parsers(self) -> None:
        """Parse contexts may be ahead of the store (a commit failed): read them again."""
        self.parsers.clear()

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        try:
            with _unavailable():
                yield
        except Exception:
            self.parsers.clear()  # their contexts may be ahead of what was rolled back
            raise

    def source(self, source_id: str) -> Any:
        with _unavailable():
            return self.store.source(source_id)

    def known_end(self, source_id: str) -> int | None:
        """Store.known_end: callable from the event loop (no query, no DuckDB call)."""
        return self.store.known_end(source_id)  # type: ignore[no-any-return]

    def reopen(self) -> None:
        """Close the database and open it again (after a fatal error invalidated it).

        Raises StoreUnavailable when it cannot be opened yet (the caller retries later)."""
        if self.open_fn is None:
            raise StoreUnavailable("this store cannot be reopened", fatal=True)
        try:
            self.store.close()
        except duckdb.Error as exc:  # an invalidated database may complain on close too
            log.warning("closing the database before reopening it: %s", one_line(exc))
        self.parsers.clear()
        try:
            self.store = self.open_fn()
        except Exception as exc:
            raise StoreUnavailable(f"cannot reopen the database: {' '.join(str(exc).split())}", fatal=True) from exc
        for cb in self.on_reopen:
            cb(self.store.con)
        log.warning("reopened the database %s", self.store.path)

    def probe(self, nbytes: int) -> None:
        """Can the disk under the database take `nbytes` again? Write, fsync and remove
        a probe file next to it (StoreUnavailable if not)."""
        path = Path(str(self.store.path) + ".probe")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\0" * nbytes)
                os.fsync(fd)
            finally:
                os.close(fd)
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"store cannot commit: probe write to {path} failed: {exc.strerror}") from exc

    def close(self) -> None:
        self.store.close()


def open_store(path: Path, memory_limit: str, max_line_bytes: int, pool: Any = None) -> StoreAdapter:
    """The store behind the writer; ``pool`` (store/pool.py ParsePool) must have been
    started before this opens DuckDB (its workers are forked without DuckDB's threads)."""
    from logship.store import Store  # heavy (duckdb, pyarrow): only the collector process imports it

    def open_fn() -> Any:
        return Store(path, memory_limit=memory_limit, max_line_bytes=max_line_bytes)

    return StoreAdapter(open_fn(), open_fn, pool)
