"""A group commit: many sources' ingests in ONE transaction with one insert per table.

The collector's writer commits what thousands of connections sent in the last moment.
Calling ``Store.ingest`` once per source costs a handful of statements each (records,
sessions, ranges, source, ingests row); here the parse half is exactly Store.ingest's
(subtract committed ranges, the parser seam, truncated lines) and the write half is
batched: one INSERT per fact table, one sessions upsert for all clients, one
ranges rewrite, one sources update, one ingests insert. Same rows, same ranges, same
guarantees; tests/collector/test_collector_group.py compares it with Store.ingest.
(Added by the collector engineer; the store engineer's files are unchanged.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from itertools import chain
from typing import Any

import pyarrow as pa

from logship.parser import ParsedBatch
from logship.store.batches import ArrowBatch, insert_arrow, to_arrow
from logship.store.parsing import detect, make_parser, truncated_piece
from logship.store.ranges import Range, covered_end, merge, subtract
from logship.store.sessions import _AGGREGATE, _UPSERT
from logship.store.store import INGEST_KINDS, IngestResult, Store, StoreError

__all__ = ["GroupCall", "ingest_group"]


@dataclass(frozen=True, slots=True)
class GroupCall:
    """The arguments of one Store.ingest call."""

    source_id: str
    start: int
    data: bytes
    final: bool = False
    kind: str = "live"
    span: int | None = None


def _with_ids(table: pa.Table, client_id: str, source_id: str) -> pa.Table:
    n = table.num_rows
    return (table.append_column("client_id", pa.array([client_id] * n, pa.string()))
            .append_column("source_id", pa.array([source_id] * n, pa.string())))


def _join(batches: list[ParsedBatch]) -> ParsedBatch:
    """One batch of all columns (ParsedBatch.extend per batch costs a dataclass walk each)."""
    out = ParsedBatch()
    for part in ("metrics", "events", "rejects"):
        cols = getattr(out, part)
        for f in fields(cols):
            setattr(cols, f.name, list(chain.from_iterable(getattr(getattr(b, part), f.name) for b in batches)))
    return out


def ingest_group(st: Store, calls: list[GroupCall], parsers: dict[str, Any] | None = None) -> list[IngestResult]:
    """Ingest every call in one transaction; results in call order (like Store.ingest's).

    Calls of one source are applied in order (ranges and parse context carry over).
    `parsers` (source id -> EntryParser) may be kept by a caller that is the only writer
    of these sources, so that each source's parser (and its context) lives on between
    groups; clear it when a group fails. Any failure rolls the whole group back and
    raises (the caller may retry the calls one by one to isolate it).
    """
    parsers = {} if parsers is None else parsers
    ranges_now: dict[str, list[Range]] = {}
    ctx_now: dict[str, dict | None] = {}
    results: list[IngestResult] = []
    parsed: list[ParsedBatch] = []  # every parse of the group, joined column by column below
    ids = {"metrics": ([], []), "events": ([], []), "rejects": ([], [])}  # (client ids, source ids) per table
    extra: list[ArrowBatch] = []  # over-long lines (rare)
    ingests: list[tuple[str, str, int, int, int, int, int]] = []
    touched: dict[str, Any] = {}
    for c in calls:
        if c.kind not in INGEST_KINDS:
            raise StoreError(f"unknown ingest kind {c.kind!r} (one of {', '.join(INGEST_KINDS)})")
        src = st.source(c.source_id)
        if src.log_format is None:
            name, rate = detect(c.data)
            src = st.set_format(c.source_id, name, rate)
        sid = c.source_id
        rng = ranges_now.get(sid, src.ranges)
        ctx = ctx_now.get(sid, src.context)
        end = c.start + (c.span if c.span is not None else len(c.data))
        pieces = subtract(c.start, end, rng)
        done: list[tuple[int, int, int, int]] = []  # (start, end, lines, entries)
        n_records = n_rejects = 0
        if c.span is not None and c.span > len(c.data):
            if pieces:
                tp = truncated_piece(c.start, c.data, c.span, st.max_line_bytes)
                extra.append(ArrowBatch(_with_ids(tp.batch.metrics, src.client_id, sid),
                                        _with_ids(tp.batch.events, src.client_id, sid),
                                        _with_ids(tp.batch.rejects, src.client_id, sid)))
                done.append((tp.start, tp.end, tp.lines, tp.entries))
                n_rejects += tp.batch.n_rejects
        elif pieces:
            parser = parsers.get(sid)
            if parser is None:
                parser = parsers[sid] = make_parser(replace(src.spec(), context=ctx))
            for p_start, p_end in pieces:
                chunk = c.data[p_start - c.start:p_end - c.start]
                res = parser.parse(chunk, p_start, c.final if p_end == end else True)
                if res.end_offset <= p_start:
                    continue
                b = res.batch
                for part in ("metrics", "events", "rejects"):
                    n = len(getattr(b, part))
                    if n:
                        cids, sids = ids[part]
                        cids.extend([src.client_id] * n)
                        sids.extend([sid] * n)
                n_records += b.records
                n_rejects += len(b.rejects)
                parsed.append(b)
                done.append((p_start, res.end_offset, res.lines, res.entries))
                if res.context is not None:
                    ctx = res.context
        new_ranges = merge(rng + [(s, e) for s, e, _, _ in done])
        skipped = (end - c.start) - sum(e - s for s, e in pieces)
        ranges_now[sid], ctx_now[sid] = new_ranges, ctx
        lines = sum(d[2] for d in done)
        if done:
            touched[sid] = src
            ingests.append((c.kind, sid, done[0][0], done[-1][1], lines, n_records, n_rejects))
        results.append(IngestResult(
            committed_end=max(min(covered_end(c.start, new_ranges), end), c.start),
            lines=lines, records=n_records, rejects=n_rejects,
            ranges=new_ranges, entries=sum(d[3] for d in done), skipped_bytes=skipped))
    arrow = to_arrow(_join(parsed))

    def with_cols(table: pa.Table, part: str) -> pa.Table:
        cids, sids = ids[part]
        return table.append_column("client_id", pa.array(cids, pa.string())).append_column(
            "source_id", pa.array(sids, pa.string()))

    metrics = [with_cols(arrow.metrics, "metrics")] + [x.metrics for x in extra]
    events = [with_cols(arrow.events, "events")] + [x.events for x in extra]
    rejects = [with_cols(arrow.rejects, "rejects")] + [x.rejects for x in extra]
    if not touched:
        return results
    con = st.con
    with st.transaction():
        insert_arrow(con, "_logship_g_metrics", pa.concat_tables(metrics),
                "INSERT INTO metrics SELECT ts, client_id, session_id, name, value, unit, labels, source_id, "
                "byte_offset FROM _logship_g_metrics")
        insert_arrow(con, "_logship_g_events", pa.concat_tables(events),
                "INSERT INTO events SELECT ts, client_id, session_id, level, name, message, attrs, source_id, "
                "byte_offset FROM _logship_g_events")
        insert_arrow(con, "_logship_g_rejects", pa.concat_tables(rejects),
                "INSERT INTO rejects SELECT now(), source_id, byte_offset, raw, error_code, error "
                "FROM _logship_g_rejects")
        ev = pa.concat_tables(events).select(["client_id", "session_id", "name", "ts", "attrs"])
        mx = pa.concat_tables(metrics).select(["client_id", "session_id", "ts"])
        if ev.num_rows or mx.num_rows:
            con.register("_logship_g_sess_ev", ev)
            con.register("_logship_g_sess_mx", mx)
            try:
                records = ("SELECT client_id, session_id, name, ts, attrs FROM _logship_g_sess_ev "
                           "UNION ALL SELECT client_id, session_id, NULL, ts, NULL FROM _logship_g_sess_mx")
                select = _AGGREGATE.format(client="client_id", records=records, group="client_id, session_id")
                con.execute(_UPSERT.format(select=select))
            finally:
                con.unregister("_logship_g_sess_ev")
                con.unregister("_logship_g_sess_mx")
        ids = list(touched)
        rows = [(sid, s, e) for sid in ids for s, e in ranges_now[sid]]
        rtab = pa.table({"source_id": pa.array([r[0] for r in rows], pa.string()),
                         "start_offset": pa.array([r[1] for r in rows], pa.int64()),
                         "end_offset": pa.array([r[2] for r in rows], pa.int64())})
        utab = pa.table({"source_id": pa.array(ids, pa.string()),
                         "context": pa.array([json.dumps(ctx_now[s]) if ctx_now[s] is not None else None
                                              for s in ids], pa.string())})
        itab = pa.table({name: pa.array([r[i] for r in ingests], typ) for i, (name, typ) in enumerate([
            ("kind", pa.string()), ("source_id", pa.string()), ("start_offset", pa.int64()),
            ("end_offset", pa.int64()), ("lines", pa.int64()), ("records", pa.int64()), ("rejects", pa.int64())])})
        con.register("_logship_g_src", utab)
        try:
            con.execute("DELETE FROM source_ranges WHERE source_id IN (SELECT source_id FROM _logship_g_src)")
            insert_arrow(con, "_logship_g_ranges", rtab,
                    "INSERT INTO source_ranges SELECT source_id, start_offset, end_offset FROM _logship_g_ranges")
            con.execute("UPDATE sources SET last_seen = now(), context = u.context::JSON FROM _logship_g_src u "
                        "WHERE sources.source_id = u.source_id")
        finally:
            con.unregister("_logship_g_src")
        insert_arrow(con, "_logship_g_ingests", itab,
                'INSERT INTO ingests ("at", kind, source_id, start_offset, end_offset, lines, records, rejects) '
                "SELECT now(), kind, source_id, start_offset, end_offset, lines, records, rejects "
                "FROM _logship_g_ingests")
    for sid, src in touched.items():
        st._sources[sid] = replace(st.source(sid), ranges=ranges_now[sid], context=ctx_now[sid])
    return results
