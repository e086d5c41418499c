"""The one commit path: plan, parse, write, for every way into the store.

Live frames, /v1/lines and backlog bodies (the collector's group commit), ``logship
ingest FILE`` (store/fileingest.py) and ``logship reparse`` (store/reparse.py) all go
through a ``Commit``:

- ``plan(item)``: the first bytes of a source fix its format (detected with the
  source's zone and mtime, as `logship check` does). A source whose format cannot be
  told is stored as ``unknown`` (live paths never refuse): its entries are acked,
  visible ``unknown_format`` rejects, and detection is tried again when it has seen
  UNKNOWN_RETRY_LINES lines and at its end (``item.eof``), on its stored rejects plus
  the new bytes; a format found then parses only bytes not yet committed (the earlier
  rejects stay until `logship reparse` re-detects and replaces them). What of ``[start, end)`` is
  committed already is subtracted (exactly-once); an over-long line (``item.span``)
  is one ``line_too_long`` reject, anything else pieces to parse. Decided here only.
- parse: ``parse(plan, item)`` in this process (the source's parser lives on in
  ``parsers``, its context with it), or the plan's pieces in a pool worker
  (store/pool.py) for context-free formats: ``logship ingest`` (store/fileingest.py)
  and the collector's group commit (``ingest_all`` with a pool: items of
  POOL_MIN_BYTES or more alone, smaller ones in groups).
- ``add(plan, pieces)``: the parsed pieces join the commit; the commit's view of the
  source's ranges and context moves on, so later items of the same source are
  planned against it.
- ``write()``: ONE transaction for the whole list: one ``INSERT ... BY NAME`` per fact
  table (store/tables.py), one sessions upsert, one ranges rewrite, one sources
  update, one ``ingests`` insert.

``Store.ingest`` is a commit of one item; the collector's writer commits a list.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from logship.store.batches import ArrowBatch, RowsOf, insert_arrow, joined_to_arrow, registered
from logship.store.errors import StoreError
from logship.store.item import Item
from logship.store.parsing import ParsedPiece, detect, make_parser, parse_piece, truncated_piece
from logship.store.ranges import Range, covered_end, merge, subtract
from logship.store.sessions import merge_sessions
from logship.store.tables import EVENTS, METRICS, REJECTS, FactTable

if TYPE_CHECKING:
    from logship.store.store import SourceInfo, Store

__all__ = ["Commit", "Plan", "IngestResult", "INGEST_KINDS", "POOL_MIN_BYTES", "entry_cuts", "pool_broken"]

log = logging.getLogger("logship.store.commit")

INGEST_KINDS = ("live", "backlog", "file", "reparse")
UNKNOWN = "unknown"  # parser.formats.UNKNOWN
# an `unknown` source is detected again once it has seen this many lines (parser.detect.DETECT_LINES)
UNKNOWN_RETRY_LINES = 200
# ``ingest_all`` with a pool: an item with fewer planned bytes parses in this process
# (shipping a small live frame to a worker and its Arrow tables back costs more than
# parsing it here; bench/RESULTS.md, "the collector parses on every core")
POOL_MIN_BYTES = 64 << 10
# a pooled piece bigger than twice this is cut (at entry heads) into pieces of about this
# size, so that even a batch of one big item (a backlog body's 1 MiB piece) keeps every
# worker busy
POOL_CHUNK_BYTES = 256 << 10


@dataclass(frozen=True)
class IngestResult:
    """What one item committed. ``committed_end``: how far from the received start the
    source is committed without a gap (the collector acks this)."""

    committed_end: int
    lines: int
    records: int
    rejects: int
    ranges: list[Range]
    entries: int = 0
    skipped_bytes: int = 0
    future: int = 0  # entries dated past their receive time + Limits.future_tolerance_s


@dataclass(frozen=True)
class Plan:
    """What to do with one item (or, joined, a run of one source's items).

    todo: the uncommitted pieces ``(start, end, final)`` to parse; truncated: the item
    is one over-long line (``todo`` then holds its span once, or nothing if committed).
    skipped: bytes of the item that were committed already. A plan holds no bytes:
    file ingest keeps plans while workers parse.
    """

    source_id: str
    kind: str
    todo: list[tuple[int, int, bool]]
    truncated: bool = False
    skipped: int = 0
    received: Range = (0, 0)

    @staticmethod
    def join(plans: list[Plan]) -> Plan:
        """Consecutive plans of one source as one (one ``ingests`` row for a file's run)."""
        if len(plans) == 1:
            return plans[0]
        first = plans[0]
        return Plan(first.source_id, first.kind, [t for p in plans for t in p.todo], False,
                    sum(p.skipped for p in plans), (first.received[0], plans[-1].received[1]))


@dataclass
class _View:
    """A source as this commit sees it: its stored row plus what the commit added."""

    src: SourceInfo
    ranges: list[Range]
    context: dict | None
    touched: bool = False
    future: int = 0  # future-dated entries this commit adds (sources.future_dated)


@dataclass
class _Added:
    plan: Plan
    pieces: list[ParsedPiece]
    client_id: str
    lines: int = 0
    records: int = 0
    rejects: int = 0
    entries: int = 0
    future: int = 0


class Commit:
    """A list of items written in one transaction. Not thread-safe (one writer).

    ``parsers`` (source id -> EntryParser) may be kept by a caller that is the only
    writer of these sources, so each parser (and its context) lives on between
    commits; clear it when a commit fails (the contexts may be ahead of the store).
    """

    def __init__(self, st: Store, parsers: dict[str, Any] | None = None, base: Commit | None = None) -> None:
        self.st = st
        self.parsers = {} if parsers is None else parsers
        self._views: dict[str, _View] = {}
        self._added: list[_Added] = []
        # a commit whose adds are done but not yet written: its sources are seen as it left them
        self._base = base
        self._flight: _Flight | None = None

    # --- plan ------------------------------------------------------------------------

    def _view(self, source_id: str) -> _View:
        view = self._views.get(source_id)
        if view is None:
            before = None if self._base is None else self._base._views.get(source_id)
            if before is not None:
                view = self._views[source_id] = _View(before.src, before.ranges, before.context)
            else:
                src = self.st.source(source_id)
                view = self._views[source_id] = _View(src, src.ranges, src.context)
        return view

    def plan(self, item: Item) -> Plan:
        """Subtract what is committed (or added to this commit) from the item; on a
        source's first bytes, detect its format with the source's zone and mtime."""
        if item.kind not in INGEST_KINDS:
            raise StoreError(f"unknown ingest kind {item.kind!r} (one of {', '.join(INGEST_KINDS)})")
        view = self._view(item.source_id)
        if view.src.log_format is None and not item.truncated:  # a cut line needs no format, and tells none
            found = detect(item.data, tz=view.src.tz, mtime=view.src.mtime)
            view.src = self.st.set_format(item.source_id, found.name, found.rate)
            if not found.detected:
                view.context = {"nearest": found.nearest(), "seen": 0}
        elif view.src.log_format == UNKNOWN and not item.truncated:
            self._redetect(view, item)
        end = item.end
        pieces = subtract(item.start, end, view.ranges)
        skipped = (end - item.start) - sum(e - s for s, e in pieces)
        if item.truncated:
            todo = [(item.start, end, True)] if pieces else []
            return Plan(item.source_id, item.kind, todo, True, skipped, (item.start, end))
        return Plan(item.source_id, item.kind, [(s, e, item.final if e == end else True) for s, e in pieces],
                    False, skipped, (item.start, end))

    def _redetect(self, view: _View, item: Item) -> None:
        """An `unknown` source's second chance: when its lines seen cross
        UNKNOWN_RETRY_LINES, or at its end, detect on its stored rejects (its first lines)
        and this item. Found: the bytes not yet committed parse in that format."""
        ctx = dict(view.context or {})
        seen = int(ctx.get("seen", 0))
        if not (item.eof or seen < UNKNOWN_RETRY_LINES <= seen + item.data.count(b"\n")):
            return
        rows = self.st.con.execute(
            "SELECT raw FROM rejects WHERE source_id = ? AND error_code = 'unknown_format' "
            "ORDER BY byte_offset LIMIT ?", [item.source_id, UNKNOWN_RETRY_LINES]).fetchall()
        sample = b"".join(bytes(r[0]) + b"\n" for r in rows) + item.data
        found = detect(sample, tz=view.src.tz, mtime=view.src.mtime)
        self.parsers.pop(item.source_id, None)
        if found.detected:
            view.src = self.st.set_format(item.source_id, found.name, found.rate)
            view.context = None
        else:
            view.context = {**ctx, "nearest": found.nearest()}
        view.touched = True  # the new context is written with the commit

    @staticmethod
    def reparse_plan(source_id: str, pieces: list[ParsedPiece]) -> Plan:
        """A plan of bytes that are committed already (reparsed rejects): nothing is
        subtracted, their ranges stay as they are."""
        return Plan(source_id, "reparse", [(p.start, p.end, True) for p in pieces], False, 0,
                    (pieces[0].start, pieces[-1].end))

    # --- parse -----------------------------------------------------------------------

    def parser(self, source_id: str) -> Any:
        """The source's parser, resuming from the context this commit has reached."""
        parser = self.parsers.get(source_id)
        if parser is None:
            view = self._view(source_id)
            spec = replace(view.src.spec(self.st.max_line_bytes), context=view.context)
            parser = self.parsers[source_id] = make_parser(spec)
        return parser

    def parse(self, plan: Plan, item: Item) -> list[ParsedPiece]:
        """Parse the item's planned pieces in this process (the column lists stay lists until write)."""
        if not plan.todo:
            return []
        if plan.truncated:
            return [truncated_piece(item.start, item.data, item.span or len(item.data), self.st.max_line_bytes)]
        parser = self.parser(item.source_id)
        # live lines are checked for future dates against now; a file's (and its backlog's) against its mtime
        parser.reference = time.time() if item.kind == "live" else self._view(item.source_id).src.mtime
        return [parse_piece(parser, item.data[s - item.start:e - item.start], s, final, arrow=False,
                            received_at=item.received_at)
                for s, e, final in plan.todo]

    def ingest(self, item: Item) -> IngestResult:
        """Plan, parse and add one item (written with the others by ``write``)."""
        plan = self.plan(item)
        return self.add(plan, self.parse(plan, item))

    def ingest_all(self, items: list[Item], pool: Any = None, min_bytes: int | None = None) -> list[IngestResult]:
        """Plan every item in order here; parse the items of context-free sources in
        ``pool`` (store/pool.py ParsePool) meanwhile, the others here; add all strictly
        in item order (written by ``write``). Same results as ``ingest`` per item.

        An item of ``min_bytes`` or more goes to the pool alone (cut at entry heads when
        big); smaller ones (a fleet's live frames) go in groups of about POOL_CHUNK_BYTES,
        one worker call each, whose column lists come back unconverted (one Arrow build
        for the whole commit, as for items parsed here). Fewer than ``min_bytes`` of
        small items in the whole batch parse here: a worker round trip would cost more.

        An item is planned only after every earlier item of its source whose received
        range overlaps it is added (its plan must subtract what they commit; of an
        ``unknown`` source, every earlier item: its re-detection counts their lines). A pool
        whose worker died (BrokenProcessPool) loses nothing: those items parse here, the
        pool is marked ``broken`` and this process parses from then on.

        ``start`` and ``finish`` are its two halves: the collector's writer starts the
        next batch (its workers parse) before it writes this one."""
        self.start(items, pool, min_bytes)
        return self.finish()

    def start(self, items: list[Item], pool: Any = None, min_bytes: int | None = None) -> None:
        """Plan every item and hand the poolable ones to ``pool``; ``finish`` adds them.
        Items parsed here are parsed (and, when nothing waits before them, added) now."""
        flight = self._flight = _Flight(self, pool, POOL_MIN_BYTES if min_bytes is None else min_bytes)
        try:
            for item in items:
                flight.plan(item)
            flight.send_last_group()
        except BaseException:
            self.cancel()
            raise

    def finish(self) -> list[IngestResult]:
        """Every started item added, in item order; its results."""
        flight = self._flight
        if flight is None:
            return []
        try:
            while flight.waiting:
                flight.add_oldest()
        except BaseException:
            self.cancel()
            raise
        self._flight = None
        return flight.results

    def cancel(self) -> None:
        """Drop what is still in the pool (a failure: those parses are not wanted)."""
        flight, self._flight = self._flight, None
        if flight is not None:
            flight.cancel()

    def follows_unwritten(self, items: list[Item]) -> bool:
        """Would planning these items on this commit's base read what the base has not
        written yet, beyond its views? An ``unknown`` or undetected source re-detects on
        its stored rejects; such items wait for the base's write."""
        base = self._base
        if base is None:
            return False
        for item in items:
            view = base._views.get(item.source_id)
            if view is not None and view.src.log_format in (None, UNKNOWN):
                return True
        return False

    def _jobs(self, plan: Plan, item: Item) -> list[tuple[Any, ...]]:
        """A worker's arguments (``parse_in_worker``) for each planned piece of an item:
        what ``parse`` gives the source's parser here."""
        view = self._view(plan.source_id)
        spec = replace(view.src.spec(self.st.max_line_bytes), context=view.context)
        reference = time.time() if item.kind == "live" else view.src.mtime
        return [(spec, item.data[s - item.start:e - item.start], s, final, item.received_at, reference)
                for s, e, final in plan.todo]

    def _from_group(self, plan: Plan, item: Item, slot: _Slot, pool: Any) -> list[ParsedPiece]:
        """A small item's pieces from its group's worker call, or (never sent, or a worker
        died) the item parsed here."""
        if slot.group.future is None:
            return self.parse(plan, item)
        try:
            pieces = slot.group.future.result()
        except BrokenProcessPool as exc:
            pool_broken(pool, exc)
            return self.parse(plan, item)
        return pieces[slot.first:slot.first + slot.count]

    def _poolable(self, plan: Plan, pool: Any) -> bool:
        """A whole (not truncated) item of a context-free source."""
        if pool.broken or plan.truncated or not plan.todo:
            return False
        name = self._view(plan.source_id).src.log_format
        if name in (None, UNKNOWN):
            return False
        from logship.parser import get_format

        fmt = get_format(name)
        # `time: previous` carries the entry above's time from one parse call to the next
        return fmt.context_free and fmt.spec.time != "previous"

    def _submit(self, plan: Plan, item: Item, pool: Any) -> list[Future]:
        """The plan's pieces to the pool (``_jobs``), each cut at entry heads into pieces of
        about POOL_CHUNK_BYTES; [] when the pool is broken (the caller parses here)."""
        from logship.parser import get_format

        fmt = get_format(self._view(plan.source_id).src.log_format)
        indent, head = fmt.continuation == "indent", fmt.head_regex()
        futures: list[Future] = []
        try:
            for spec, data, s, final, received_at, reference in self._jobs(plan, item):
                cuts = [0, *entry_cuts(data, POOL_CHUNK_BYTES, indent, head), len(data)]
                for a, b in zip(cuts, cuts[1:]):
                    futures.append(pool.submit(spec, data[a:b], s + a, final if b == len(data) else True,
                                               received_at, reference))
        except BrokenProcessPool as exc:
            for f in futures:
                f.cancel()
            pool_broken(pool, exc)
            return []
        return futures

    def _collect(self, plan: Plan, item: Item, futures: list[Future], pool: Any) -> list[ParsedPiece]:
        """The pool's pieces of one item, or (a worker died) the item parsed here."""
        try:
            return [f.result() for f in futures]
        except BrokenProcessPool as exc:
            pool_broken(pool, exc)
            return self.parse(plan, item)


    # --- add -------------------------------------------------------------------------

    def add(self, plan: Plan, pieces: list[ParsedPiece]) -> IngestResult:
        """Add a plan's parsed pieces to this commit; returns what the item commits."""
        sid = plan.source_id
        view = self._view(sid)
        done = [p for p in pieces if p.end > p.start]
        added = _Added(plan, done, view.src.client_id)
        for p in done:
            added.lines += p.lines
            added.entries += p.entries
            added.records += p.records
            added.rejects += p.rejects
            added.future += p.future
            if p.context is not None:
                view.context = p.context
        if done:
            view.ranges = merge(view.ranges + [(p.start, p.end) for p in done])
            view.touched = True
            view.future += added.future
            self._added.append(added)
        start, end = plan.received
        return IngestResult(
            committed_end=max(min(covered_end(start, view.ranges), end), start), lines=added.lines,
            records=added.records, rejects=added.rejects, ranges=view.ranges, entries=added.entries,
            skipped_bytes=plan.skipped, future=added.future)

    # --- write -----------------------------------------------------------------------

    def write(self) -> None:
        """Everything added, in ONE transaction (joins the caller's, e.g. reparse's)."""
        if not self._added:
            return
        st, con = self.st, self.st.con
        # a commit of one source (a file's run, Store.ingest) passes its ids as constants
        pairs = {(a.client_id, a.plan.source_id) for a in self._added}
        one = next(iter(pairs)) if len(pairs) == 1 else None
        tables = self._fact_tables(with_ids=one is None)
        touched = {sid: v for sid, v in self._views.items() if v.touched}
        with st.transaction():
            for spec, table in zip((METRICS, EVENTS, REJECTS), tables):
                name = f"_logship_{spec.name}"
                if one is None:
                    insert_arrow(con, name, table, spec.insert_sql(name))
                else:
                    params = {"client_id": one[0], "source_id": one[1]}
                    insert_arrow(con, name, table, spec.insert_sql(name, constant_ids=True),
                                 {c.name: params[c.name] for c in spec.ids})
            merge_sessions(con, tables[1], tables[0], None if one is None else one[0])
            ids = list(touched)
            rows = [(sid, s, e) for sid in ids for s, e in touched[sid].ranges]
            ranges = pa.table({"source_id": pa.array([r[0] for r in rows], pa.string()),
                               "start_offset": pa.array([r[1] for r in rows], pa.int64()),
                               "end_offset": pa.array([r[2] for r in rows], pa.int64())})
            sources = pa.table({"source_id": pa.array(ids, pa.string()),
                                "context": pa.array([None if touched[s].context is None
                                                     else json.dumps(touched[s].context) for s in ids], pa.string()),
                                "future": pa.array([touched[s].future for s in ids], pa.int64())})
            with registered(con, {"_logship_sources": sources}):
                con.execute("DELETE FROM source_ranges WHERE source_id IN (SELECT source_id FROM _logship_sources)")
                insert_arrow(con, "_logship_ranges", ranges, "INSERT INTO source_ranges BY NAME SELECT * FROM _logship_ranges")
                con.execute("UPDATE sources SET last_seen = now(), context = u.context::JSON, "
                            "future_dated = coalesce(sources.future_dated, 0) + u.future FROM _logship_sources u "
                            "WHERE sources.source_id = u.source_id")
            added = self._added
            ingests = pa.table({
                "kind": pa.array([a.plan.kind for a in added], pa.string()),
                "source_id": pa.array([a.plan.source_id for a in added], pa.string()),
                "start_offset": pa.array([a.pieces[0].start for a in added], pa.int64()),
                "end_offset": pa.array([a.pieces[-1].end for a in added], pa.int64()),
                "lines": pa.array([a.lines for a in added], pa.int64()),
                "records": pa.array([a.records for a in added], pa.int64()),
                "rejects": pa.array([a.rejects for a in added], pa.int64()),
            })
            insert_arrow(con, "_logship_ingests", ingests,
                         'INSERT INTO ingests BY NAME SELECT now() AS "at", * FROM _logship_ingests')
        for sid, view in touched.items():
            st.remember(sid, view.ranges, view.context)
        self._added = []
        for view in touched.values():
            view.touched = False
            view.future = 0

    def _fact_tables(self, with_ids: bool = True) -> tuple[pa.Table, pa.Table, pa.Table]:
        """metrics, events, rejects of every added piece, with their id columns (``with_ids``).

        Pieces parsed here are joined list by list and converted once (per-piece Arrow
        tables cost more than the parse for the collector's many small items); a group's
        pieces (a pool worker's group call: ``RowsOf``) go in as slices of the group's
        tables, one a run of consecutive pieces; pieces that come as Arrow (pool workers,
        over-long lines) get their ids appended."""
        raw: list[tuple[Any, str, str]] = []
        grouped: list[tuple[RowsOf, str, str]] = []
        arrow: list[tuple[ArrowBatch, str, str]] = []
        for a in self._added:
            sid = a.plan.source_id
            for p in a.pieces:
                b = p.batch
                (grouped if isinstance(b, RowsOf) else arrow if isinstance(b, ArrowBatch) else raw).append(
                    (b, a.client_id, sid))
        out = []
        for spec in (METRICS, EVENTS, REJECTS):
            parts = []
            if raw:
                batches = [b for b, _, _ in raw]
                table = joined_to_arrow(batches, spec)
                parts.append(_with_ids(table, spec, [(len(getattr(b, spec.name)), c, s) for b, c, s in raw])
                             if with_ids else table)
            for table, runs in _group_slices(grouped, spec.name):
                parts.append(_with_ids(table, spec, runs) if with_ids else table)
            for b, c, s in arrow:
                t = getattr(b, spec.name)
                parts.append(_with_ids(t, spec, [(t.num_rows, c, s)]) if with_ids else t)
            if not parts:  # no rows (a group's pieces without any): the same columns, empty
                empty = spec.arrow_schema.empty_table()
                parts.append(_with_ids(empty, spec, []) if with_ids else empty)
            out.append(pa.concat_tables(parts) if len(parts) > 1 else parts[0])
        return out[0], out[1], out[2]


def _group_slices(grouped: list[tuple[RowsOf, str, str]],
                  part: str) -> list[tuple[pa.Table, list[tuple[int, str, str]]]]:
    """Consecutive pieces of one group whose rows follow each other as ONE slice of the
    group's ``part`` table, with its runs of (rows, client, source) for ``_with_ids``."""
    out: list[tuple[pa.Table, list[tuple[int, str, str]]]] = []
    group: ArrowBatch | None = None
    first = stop = 0
    runs: list[tuple[int, str, str]] = []
    for rows, c, s in grouped:
        a, b = getattr(rows, part)
        if rows.group is not group or a != stop:
            if group is not None and stop > first:
                out.append((getattr(group, part).slice(first, stop - first), runs))
            group, first, runs = rows.group, a, []
        stop = b
        if b > a:
            runs.append((b - a, c, s))
    if group is not None and stop > first:
        out.append((getattr(group, part).slice(first, stop - first), runs))
    return out


def entry_cuts(data: bytes, size: int, indent: bool, head: Any = None) -> list[int]:
    """Offsets in ``data`` (whole lines) where it can be cut into pieces of about ``size``
    that parse as the whole does: after a newline, before a line that starts an entry (not
    a continuation line of an ``indent`` format; a ``head`` match of a `head:` format).
    No cut when ``data`` is at most twice ``size``; the last piece is at least ``size``."""
    cuts: list[int] = []
    if len(data) <= 2 * size:
        return cuts
    pos = size
    while pos < len(data) - size:
        nl = data.find(b"\n", pos)
        if nl < 0 or nl + 1 >= len(data):
            break
        nxt = nl + 1
        if head is not None:
            end = data.find(b"\n", nxt)
            ok = head.match(data[nxt:end if end >= 0 else len(data)]) is not None
        elif indent:
            c = data[nxt]
            ok = c not in (0x20, 0x09, 0x0A) and data[nxt:nxt + 2] != b"\r\n"
        else:
            ok = True
        if ok:
            cuts.append(nxt)
            pos = nxt + size
        else:
            pos = nxt
    return cuts


class _Flight:
    """One ``start``ed list of items: planned, in the pool or parsed here, waiting to be
    added in item order (``Commit.start`` / ``finish``)."""

    def __init__(self, commit: Commit, pool: Any, min_bytes: int) -> None:
        self.commit = commit
        self.pool = pool
        self.min_bytes = min_bytes
        self.results: list[IngestResult] = []
        # planned, not yet added: (plan, item, pieces parsed here | futures of the pool | a
        # place in a group of small items)
        self.waiting: deque[tuple[Plan, Item, Any]] = deque()
        self.group = _Group()  # small items not yet sent
        self.groups: list[_Group] = []
        # the waiting items of each source: (their place in the order, start, end)
        self.by_source: dict[str, list[tuple[int, int, int]]] = {}
        self.added = 0   # items added from `waiting` so far
        self.queued = 0  # items put in it so far

    def wait(self, plan: Plan, item: Item, parts: Any) -> None:
        self.by_source.setdefault(item.source_id, []).append((self.queued, item.start, item.end))
        self.queued += 1
        self.waiting.append((plan, item, parts))

    def add_oldest(self) -> None:
        c, pool = self.commit, self.pool
        self.added += 1
        plan, item, parts = self.waiting.popleft()
        if isinstance(parts, _Slot):
            parts = c._from_group(plan, item, parts, pool)
        elif parts and isinstance(parts[0], Future):
            parts = c._collect(plan, item, parts, pool)
        self.results.append(c.add(plan, parts))

    def plan(self, item: Item) -> None:
        c, pool = self.commit, self.pool
        if pool is None:  # nothing ever waits
            self.results.append(c.ingest(item))
            return
        # an `unknown` source's plan reads the context its earlier items' adds leave
        every = c._view(item.source_id).src.log_format == UNKNOWN
        mine = self.by_source.get(item.source_id)
        if mine:
            mine[:] = [w for w in mine if w[0] >= self.added]  # those still waiting
            last = max((n for n, s, e in mine if every or (s < item.end and item.start < e)), default=-1)
            while self.added <= last:
                self.add_oldest()
        plan = c.plan(item)
        size = sum(e - s for s, e, _ in plan.todo)
        if c._poolable(plan, pool):
            if size >= self.min_bytes:
                parts: list[Any] = c._submit(plan, item, pool)
                if parts:
                    self.wait(plan, item, parts)
                    return
            elif not pool.broken:
                self.wait(plan, item, self.group.take(c._jobs(plan, item)))
                if self.group.size >= POOL_CHUNK_BYTES:
                    self.groups.append(self.group.send(pool))
                    self.group = _Group()
                return
        if self.waiting:  # parse here while the workers parse; add in item order
            self.wait(plan, item, c.parse(plan, item))
        else:
            self.results.append(c.add(plan, c.parse(plan, item)))

    def send_last_group(self) -> None:
        group = self.group
        if group.jobs and (self.groups or group.size >= self.min_bytes):
            self.groups.append(group.send(self.pool))  # else its items parse here, as they are added

    def cancel(self) -> None:
        for _, _, parts in self.waiting:  # a failure: what is still in the pool is not wanted
            for f in ([parts.group.future] if isinstance(parts, _Slot) else parts or ()):
                if isinstance(f, Future):
                    f.cancel()
        self.waiting.clear()


class _Group:
    """Small items' pieces for one worker call (``ParsePool.submit_many``)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, ...]] = []
        self.size = 0
        self.future: Future | None = None

    def take(self, jobs: list[tuple[Any, ...]]) -> _Slot:
        slot = _Slot(self, len(self.jobs), len(jobs))
        self.jobs += jobs
        self.size += sum(len(j[1]) for j in jobs)
        return slot

    def send(self, pool: Any) -> _Group:
        """Submit the group; a pool broken meanwhile leaves ``future`` None (parsed here)."""
        try:
            self.future = pool.submit_many(self.jobs)
        except BrokenProcessPool as exc:
            pool_broken(pool, exc)
        return self


@dataclass(frozen=True)
class _Slot:
    """Where an item's pieces are in its group's results."""

    group: _Group
    first: int
    count: int


def pool_broken(pool: Any, exc: BaseException) -> None:
    """Mark a ParsePool whose worker died as broken for good; log that once."""
    if not pool.broken:
        pool.broken = True
        log.error("a parse worker died (%s); parsing in this process's thread from now on, nothing is lost",
                  exc or type(exc).__name__)


def _with_ids(table: pa.Table, spec: FactTable, runs: list[tuple[int, str, str]]) -> pa.Table:
    """Append the spec's id columns (client_id, source_id) for runs of (rows, client, source).

    Dictionary-encoded: 4 bytes a row instead of a copy of the id (DuckDB reads them as
    VARCHAR), so a commit of one big file run holds no column of repeated ids."""
    for col in spec.ids:
        values = [c if col.name == "client_id" else s for _, c, s in runs]
        position = {v: i for i, v in enumerate(dict.fromkeys(values))}
        if len(runs) > _FEW_RUNS:
            # a fleet's commit: thousands of short runs; one list of indices costs less
            # than an Arrow array a run (~3 us each) and their concatenation
            flat: list[int] = []
            for (n, _, _), v in zip(runs, values):
                flat += [position[v]] * n
            indices = pa.array(flat, pa.int32())
        else:
            parts = [pa.repeat(pa.scalar(position[v], pa.int32()), n) for (n, _, _), v in zip(runs, values) if n]
            indices = pa.concat_arrays(parts) if parts else pa.array([], pa.int32())
        table = table.append_column(col.name, pa.DictionaryArray.from_arrays(indices, pa.array(list(position), col.arrow)))
    return table


# _with_ids: up to this many runs, an Arrow array a run (a big file run stays O(1) in Python)
_FEW_RUNS = 16
