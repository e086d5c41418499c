"""Store: the DuckDB file and its sources; the door to the one commit path.

Every way in (live frames, /v1/lines, backlog bodies, ``logship ingest FILE``,
reparse) goes through store/commit.py's Commit: ``Store.ingest`` is a commit of one
item, ``Store.ingest_items`` of a list (the collector's group commit). Records, the
merged committed ranges, the session aggregate, the sources' parse context and the
``ingests`` rows are written in one DuckDB transaction.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from pathlib import Path

import duckdb

from logship.parser import get_format
from logship.parser.errors import UnknownFormatError
from logship.parser.timestamps import TimestampError, zone
from logship.kernel.errors import one_line
from logship.kernel.fingerprint import HEAD_BYTES, source_id as make_source_id
from logship.kernel.protocol import DEFAULT_LIMITS
from logship.store.commit import INGEST_KINDS, Commit, IngestResult
from logship.store.errors import StoreError, UnknownSource
from logship.store.item import Item
from logship.store.parsing import FALLBACK_FORMAT, ParseSpec
from logship.store.ranges import Range, merge
from logship.store.resolve import SourceAsk, StoredSource, plan
from logship.store.schema import SCHEMA_VERSION, migrate, schema_version

__all__ = ["Store", "SourceInfo", "IngestResult", "INGEST_KINDS", "Item", "check_source_params",
           "CHECKPOINT_THRESHOLD"]

# DuckDB checkpoints when its write-ahead log passes this (its default: 16 MiB). Each
# checkpoint rewrites the table's last, partly filled row groups, so at 16 MiB a row
# group of events is compressed and written three or four times before it is full: at
# 64 MiB a stream of commits costs half the time and leaves half the file (bench/RESULTS.md,
# "the store's checkpoints"). A crash replays at most this much log at the next open.
CHECKPOINT_THRESHOLD = "64MiB"


@dataclass(frozen=True)
class SourceInfo:
    """A source as stored: identity, how to parse it, and what is committed."""

    source_id: str
    log_format: str | None
    tz: str
    mtime: float | None
    context: dict | None
    ranges: list[Range] = field(default_factory=list)
    client_id: str = ""
    path: str | None = None
    format_hit_rate: float | None = None
    head: bytes = b""

    @property
    def end(self) -> int:
        """The end of its committed bytes: where an append after everything goes."""
        return max((e for _, e in self.ranges), default=0)

    def spec(self, max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes) -> ParseSpec:
        return ParseSpec(log_format=self.log_format or FALLBACK_FORMAT, tz=self.tz, mtime=self.mtime,
                         context=self.context, path=self.path, max_line_bytes=max_line_bytes)


class Store:
    """One DuckDB file. Not thread-safe: the collector calls it from its single writer."""

    def __init__(self, path: str | Path, memory_limit: str = DEFAULT_LIMITS.memory_limit,
                 read_only: bool = False, max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes) -> None:
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        if read_only and not self.path.exists():
            raise StoreError(f"no database at {self.path} (ingest something first)")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only, config={"memory_limit": memory_limit})
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {one_line(exc)}") from None
        self.con.execute("SET TimeZone = 'UTC'")
        if read_only:
            found = schema_version(self.con)
            if found != SCHEMA_VERSION:
                self.con.close()
                raise StoreError(f"database {self.path} has schema version {found}, expected {SCHEMA_VERSION}")
        else:
            migrate(self.con)
            self.con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        self._tx_depth = 0
        self._sources: dict[str, SourceInfo] = {}

    # --- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckDB transaction; nested uses join the outer one (``ingest --replace``)."""
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield
            finally:
                self._tx_depth -= 1
            return
        self.con.begin()
        self._tx_depth = 1
        try:
            yield
        except BaseException:
            self._tx_depth = 0
            self.con.rollback()
            self._sources.clear()  # cached ranges/context may describe rolled-back work
            raise
        self._tx_depth = 0
        self.con.commit()

    # --- sources ----------------------------------------------------------------------

    def resolve_source(self, client_id: str, head: bytes, path: str | None = None, log_format: str | None = None,
                       tz: str = "UTC", mtime: float | None = None,
                       format_hit_rate: float | None = None) -> SourceInfo:
        """The source this head belongs to, created when first seen (resolve_sources of one).

        A stored head that is a prefix of this one (or the other way round) of the same
        client is the same source (a short file that grew); its head is extended.
        Every parameter that defines the source is checked first (check_source_params):
        a bad value stored on a new source would make each later ingest of it fail.
        """
        found = self.resolve_sources([(client_id, head, dict(path=path, log_format=log_format, tz=tz, mtime=mtime,
                                                              format_hit_rate=format_hit_rate))])[0]
        if isinstance(found, StoreError):
            raise found
        return found

    def resolve_sources(self, asks: list[tuple[str, bytes, dict[str, Any]]]) -> list[SourceInfo | StoreError]:
        """Many heads at once, each ``(client_id, head, resolve_source's keywords)``, in
        ONE transaction: the same sources resolving them one after the other would give
        (store/resolve.py). An ask that is not usable (a bad parameter, no head) gets its
        StoreError in its place, the others go on; a failing statement rolls all back
        and raises."""
        out: list[SourceInfo | StoreError | None] = [None] * len(asks)
        valid: list[tuple[int, SourceAsk]] = []
        for i, (client_id, head, kw) in enumerate(asks):
            try:
                check_source_params(log_format=kw.get("log_format"), tz=kw.get("tz", "UTC"), mtime=kw.get("mtime"))
                head = bytes(head[:HEAD_BYTES])
                if not head:
                    raise StoreError(f"source {kw.get('path') or '?'} has no bytes yet: no identity to resolve")
            except StoreError as exc:
                out[i] = exc
                continue
            valid.append((i, SourceAsk(client_id, head, **kw)))
        if valid:
            resolved = self._resolve_asks([ask for _, ask in valid])
            for (i, _), info in zip(valid, resolved):
                out[i] = info
        return out  # type: ignore[return-value]

    def _resolve_asks(self, asks: list[SourceAsk]) -> list[SourceInfo]:
        clients = sorted({a.client_id for a in asks})
        short = sorted({a.client_id for a in asks if len(a.head) < HEAD_BYTES})
        sids = sorted({make_source_id(a.client_id, a.head) for a in asks})
        rows = self.con.execute(
            "SELECT source_id, client_id, head, path, log_format, format_hit_rate FROM sources "
            f"WHERE {_member('client_id', 'c', clients)} AND ({_member('source_id', 's', sids)} "
            f"OR octet_length(head) < $n OR {_member('client_id', 'short', short)})",
            {"c": clients, "s": sids, "n": HEAD_BYTES, "short": short},
        ).fetchall()
        stored = [StoredSource(r[0], r[1], bytes(r[2] or b""), r[3], r[4], r[5]) for r in rows]
        todo = plan(asks, stored)
        with self.transaction():
            _write_rows(self.con, _INSERT_SOURCES, [
                {"s": x.source_id, "c": x.client_id, "h": x.head, "p": x.path, "f": x.log_format, "tz": x.tz,
                 "m": x.mtime, "r": x.format_hit_rate} for x in todo.inserts])
            _write_rows(self.con, _UPDATE_SOURCES, [
                {"s": x.source_id, "h": x.head, "p": x.path, "f": x.log_format, "r": x.format_hit_rate, "m": x.mtime}
                for x in todo.updates])
        for sid in todo.touched:
            self._sources.pop(sid, None)
        infos = self.sources(list(todo.touched))
        return [infos[sid] for sid in todo.source_ids]

    def source(self, source_id: str) -> SourceInfo:
        """The stored source (cached; the cache is dropped on rollback)."""
        cached = self._sources.get(source_id)
        if cached is not None:
            return cached
        found = self.sources([source_id]).get(source_id)
        if found is None:
            raise UnknownSource(f"unknown source {source_id}")
        return found

    def sources(self, source_ids: list[str]) -> dict[str, SourceInfo]:
        """The stored sources of ``source_ids`` that exist, by id: the cached ones, the
        others read in two queries however many they are (and cached)."""
        out = {sid: info for sid in source_ids if (info := self._sources.get(sid)) is not None}
        missing = sorted(set(source_ids) - out.keys())
        if not missing:
            return out
        rows = self.con.execute(
            "SELECT source_id, client_id, log_format, tz, epoch_us(mtime), context, path, format_hit_rate, head "
            f"FROM sources WHERE {_member('source_id', 's', missing)}",
            {"s": missing},
        ).fetchall()  # never fetchone: DuckDB 2.0 would keep the result pending
        ranges = self._ranges([r[0] for r in rows]) if rows else {}
        for row in rows:
            sid = row[0]
            info = SourceInfo(
                source_id=sid, client_id=row[1], log_format=row[2], tz=row[3] or "UTC",
                mtime=None if row[4] is None else row[4] / 1e6,
                context=json.loads(row[5]) if row[5] else None,
                ranges=ranges.get(sid, []), path=row[6], format_hit_rate=row[7],
                head=bytes(row[8] or b""),
            )
            self._sources[sid] = out[sid] = info
        return out

    def committed_ranges(self, source_id: str) -> list[Range]:
        """A source's committed ranges as stored (read now, not the cached ones)."""
        return self._ranges([source_id]).get(source_id, [])

    def _ranges(self, source_ids: list[str]) -> dict[str, list[Range]]:
        """The stored ranges of these sources (merged), by id; a source without any is left out."""
        rows: dict[str, list[tuple[int, int]]] = {}
        for sid, start, end in self.con.execute(
                "SELECT source_id, start_offset, end_offset FROM source_ranges "
                f"WHERE {_member('source_id', 's', source_ids)} ORDER BY source_id, start_offset",
                {"s": source_ids}).fetchall():
            rows.setdefault(sid, []).append((int(start), int(end)))
        return {sid: merge(r) for sid, r in rows.items()}

    def set_format(self, source_id: str, log_format: str, hit_rate: float | None) -> SourceInfo:
        """Fix a source's log format (detection on first data, or --replace with --log-format)."""
        with self.transaction():
            self.con.execute(
                "UPDATE sources SET log_format = ?, format_hit_rate = ? WHERE source_id = ?",
                [log_format, hit_rate, source_id],
            )
        self._sources.pop(source_id, None)
        return self.source(source_id)

    # --- the commit path (store/commit.py) -----------------------------------------

    def ingest(self, source_id: str, start_offset: int, data: bytes, final: bool = False,
               kind: str = "live", span: int | None = None) -> IngestResult:
        """Commit what of ``[start_offset, start_offset + len(data))`` is not yet committed:
        a commit of one item (store.item.Item says what the arguments mean)."""
        return self.ingest_items([Item(source_id, start_offset, data, final, kind, span)])[0]

    def ingest_items(self, items: list[Item], parsers: dict[str, Any] | None = None,
                     pool: Any = None) -> list[IngestResult]:
        """Plan, parse and write every item in ONE transaction; results in item order.

        Items of one source are applied in order (ranges and parse context carry over).
        ``parsers``: see Commit. ``pool``: a store/pool.py ParsePool (the collector's):
        big items of context-free sources parse in its workers (``Commit.ingest_all``),
        with the same results. Any failure rolls the whole list back and raises."""
        commit = Commit(self, parsers)
        results = commit.ingest_all(items, pool)
        commit.write()
        return results

    def forget(self, source_id: str) -> None:
        """Drop a cached source (its row was deleted: a file offline ingest refused)."""
        self._sources.pop(source_id, None)

    def known_end(self, source_id: str) -> int | None:
        """The end of a source's committed ranges as this Store last wrote or read them,
        without a query; None when it does not have the source at hand. Safe from a
        thread other than the one that writes: one read of a SourceInfo, which is never
        changed, only replaced whole (`remember`) or dropped (a rollback)."""
        info = self._sources.get(source_id)
        return None if info is None else info.end

    def remember(self, source_id: str, ranges: list[Range], context: dict | None) -> None:
        """Update the cached source after a commit wrote its ranges and context."""
        self._sources[source_id] = replace(self.source(source_id), ranges=ranges, context=context)

    def seed_context(self, source_id: str, context: dict) -> None:
        """Give a source with nothing parsed yet its first parse context (`ingest --year`)."""
        with self.transaction():
            self.con.execute("UPDATE sources SET context = ?::JSON WHERE source_id = ?",
                             [json.dumps(context), source_id])
        self._sources[source_id] = replace(self.source(source_id), context=dict(context))

    # --- replacing a source's records (ingest --replace) ------------------------------

    def clear_source(self, source_id: str) -> None:
        """Delete a source's records, rejects and ranges (inside ``transaction()``)."""
        if not self._tx_depth:
            raise StoreError("clear_source must run inside a transaction (it is half of a replace)")
        for table in ("metrics", "events", "rejects", "source_ranges"):
            self.con.execute(f"DELETE FROM {table} WHERE source_id = ?", [source_id])
        self.con.execute("UPDATE sources SET context = NULL WHERE source_id = ?", [source_id])
        self._sources[source_id] = replace(self.source(source_id), ranges=[], context=None)


# Statements over many rows take their values as lists (one statement, however many
# rows); a statement over a few rows is cheaper as it was for one: a list is planned as a
# join (~1-2 ms more than a row's statement), searching it is per row (bench/RESULTS.md,
# "resolving a fleet's sources").
_FEW = 2


def _member(column: str, param: str, values: list[Any]) -> str:
    """SQL: ``column`` is one of the VARCHAR list parameter ``$param`` (``values``)."""
    if len(values) > _FEW:
        return f"{column} IN (SELECT unnest(${param}::VARCHAR[]))"
    return f"list_contains(${param}::VARCHAR[], {column})"


def _write_rows(con: duckdb.DuckDBPyConnection, sql: tuple[str, str, dict[str, str]], rows: list[dict[str, Any]]) -> None:
    """Run ``sql`` = (one row's statement, the statement over ``u``, the rows of lists
    ``u`` is made of) for ``rows``: a few one by one, more as one statement."""
    one, many, columns = sql
    if len(rows) <= _FEW:
        for row in rows:
            con.execute(one, row)
    elif rows:
        lists = ", ".join(f"unnest(${k}::{t}[]) AS {k}" for k, t in columns.items())
        con.execute(many.replace("{u}", f"(SELECT {lists}) AS u"), {k: [r[k] for r in rows] for k in columns})


_INSERT_SOURCES = (
    "INSERT INTO sources (source_id, client_id, head, path, log_format, tz, mtime, first_seen, last_seen, context, "
    "format_hit_rate) VALUES ($s, $c, $h, $p, $f, $tz, to_timestamp($m), now(), now(), NULL, $r)",
    "INSERT INTO sources (source_id, client_id, head, path, log_format, tz, mtime, first_seen, last_seen, context, "
    "format_hit_rate) SELECT u.s, u.c, u.h, u.p, u.f, u.tz, to_timestamp(u.m), now(), now(), NULL, u.r FROM {u}",
    {"s": "VARCHAR", "c": "VARCHAR", "h": "BLOB", "p": "VARCHAR", "f": "VARCHAR", "tz": "VARCHAR", "m": "DOUBLE",
     "r": "DOUBLE"},
)
# the values store/resolve.py planned; the stored mtime is only ever raised
_UPDATE_SOURCES = (
    "UPDATE sources SET head = $h, path = $p, log_format = $f, format_hit_rate = $r, "
    "mtime = greatest(mtime, to_timestamp($m)), last_seen = now() WHERE source_id = $s",
    "UPDATE sources SET head = u.h, path = u.p, log_format = u.f, format_hit_rate = u.r, "
    "mtime = greatest(sources.mtime, to_timestamp(u.m)), last_seen = now() FROM {u} WHERE sources.source_id = u.s",
    {"s": "VARCHAR", "h": "BLOB", "p": "VARCHAR", "f": "VARCHAR", "r": "DOUBLE", "m": "DOUBLE"},
)


# mtime bounds: year 1 .. year 9999 in epoch seconds (what to_timestamp can hold)
MTIME_MIN, MTIME_MAX = -62_135_596_800.0, 253_402_300_799.0


def check_source_params(log_format: str | None = None, tz: str = "UTC", mtime: float | None = None) -> None:
    """Raise StoreError naming the field when a source parameter is not usable.

    tz must be a zone the parser knows (IANA name or UTC), log_format a known format
    (shipped or loaded from a grammar dir), mtime a finite number of epoch seconds."""
    if not isinstance(tz, str) or not tz or not tz.isprintable():
        raise StoreError(f"tz {tz!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)")
    try:
        zone(tz)
    except TimestampError:
        raise StoreError(f"tz {tz!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None
    if log_format is not None:
        if not isinstance(log_format, str):
            raise StoreError(f"log_format {log_format!r} must be a format name")
        try:
            get_format(log_format)
        except UnknownFormatError as exc:
            raise StoreError(f"log_format: {exc}") from None
    if mtime is not None and (isinstance(mtime, bool) or not isinstance(mtime, (int, float))
                              or not math.isfinite(mtime) or not MTIME_MIN <= mtime <= MTIME_MAX):
        raise StoreError(f"mtime {mtime!r} must be a finite number of epoch seconds (years 1..9999)")


