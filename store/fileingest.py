"""`logship ingest PATH...`: stream files through the one commit path (store/commit.py).

Each file is read in items of about max_batch_bytes that end at entry boundaries
(store/segments.py), so memory stays flat whatever the file size. Each item is a
commit of one (``Store.ingest_items``). For context-free formats and large inputs,
items are planned here (``Commit.plan``), their pieces parsed in a pool of worker
processes, and the parsed pieces of a run of items written by one ``Commit`` in file
order.
"""

from __future__ import annotations

import time
import zoneinfo
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from logship.kernel.errors import reason
from logship.kernel.gunzip import damage_message
from logship.kernel.zones import local_zone
from logship.kernel.protocol import DEFAULT_LIMITS, Limits
from logship.store.errors import InputError
from logship.store.inputs import InputFile, OpenedInput, client_id_for, expand_inputs, open_input
from logship.store.commit import Commit, Plan, pool_broken
from logship.store.item import Item
from logship.store.parsing import ParsedPiece, ParseSpec, detect, gc_paused
from logship.store.pool import ParsePool
from logship.store.progress import IngestProgress, NullProgress
from logship.store.segments import ReadFailure, iter_segments
from logship.store.sessions import rebuild_sessions
from logship.store.store import IngestResult, SourceInfo, Store

__all__ = ["IngestOptions", "FileReport", "IngestSummary", "UnknownFormat", "ingest_paths", "local_zone"]

UNKNOWN = "unknown"  # parser.formats.UNKNOWN
PER_FILE_LINES = 20  # the ingest summary names each file's format up to this many files


@dataclass(frozen=True)
class IngestOptions:
    client_id: str = "local"
    client_id_from_dir: bool = False
    tz: str | None = None  # None: local_zone()
    log_format: str | None = None  # None: the stored format, else detected
    replace: bool = False
    # the year of a new source's first year-less stamp (syslog, logcat): its parse context
    year: int | None = None
    grammar_dirs: tuple[Path, ...] = ()
    limits: Limits = DEFAULT_LIMITS
    workers: int = 2
    # Segments parsed in workers (smaller than max_batch_bytes keeps both cores busy
    # to the end of a file); one commit per segment, so never above max_batch_bytes.
    parse_chunk_bytes: int = 2 << 20
    # Inputs smaller than this in total are parsed in-process: two parse chunks at
    # least, or the second worker has nothing to do (the forked pool starts in ~10 ms).
    parallel_min_bytes: int = 4 << 20
    # DuckDB's memory for an offline ingest: it would otherwise keep up to
    # limits.memory_limit (1 GiB, sized for the collector) of written blocks cached.
    memory_limit: str = "128MiB"
    # DuckDB threads for an offline ingest with a parse pool: the workers need the cores.
    pool_db_threads: int = 1
    # With a parse pool, a run of one source's parsed segments is committed in one
    # transaction up to this many bytes (never less than limits.max_batch_bytes): a
    # DuckDB commit has a fixed cost (sessions merge, ranges, a partial row group
    # rewritten), measured: 1,000,000 client lines in 4 commits of 32 MiB took 2.3 CPU s
    # of the writer against 4.6 in 14 of 8 MiB. Segments stay max_batch_bytes.
    commit_bytes: int = 32 << 20


@dataclass
class FileReport:
    name: str
    source_id: str | None = None
    client_id: str | None = None
    log_format: str | None = None
    bytes_read: int = 0
    lines: int = 0
    entries: int = 0
    records: int = 0
    rejects: int = 0
    skipped_bytes: int = 0
    future: int = 0  # entries dated past the file's mtime + Limits.future_tolerance_s
    error: str | None = None

    def line(self) -> str:
        """`app.log: syslog, 1,204 lines, 1,200 records, 4 rejects` (each file's format named)."""
        if self.source_id is None:
            return f"{self.name}: {self.error or 'empty'}"
        return (f"{self.name}: {self.log_format}, {self.lines:,} lines, {self.records:,} records, "
                f"{self.rejects:,} rejects" + (f", {self.future:,} future-dated" if self.future else ""))


class UnknownFormat(InputError):
    """A file whose format detection cannot tell: offline ingest refuses it."""


@dataclass
class IngestSummary:
    files: list[FileReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def ok(self) -> bool:
        return not self.errors

    def line(self) -> str:
        """The summary printed at the end of `logship ingest`: each file with the format it
        was read as (up to PER_FILE_LINES files; beyond, the formats with their file
        counts), then the one-line total."""
        return "\n".join([*self.file_lines(), self.total_line()])

    def file_lines(self) -> list[str]:
        stored = [f for f in self.files if f.source_id is not None]
        if len(stored) <= PER_FILE_LINES:
            return [f.line() for f in stored]
        by: dict[str, int] = {}
        for f in stored:
            by[f.log_format or "?"] = by.get(f.log_format or "?", 0) + 1
        return ["formats: " + ", ".join(f"{fmt} ({n:,} files)" for fmt, n in by.items())]

    def total_line(self) -> str:
        """The one-line total."""
        lines = self.total("lines")
        rate = lines / self.elapsed if self.elapsed > 0 else 0.0
        files = len([f for f in self.files if f.source_id])
        errors = len(self.errors)
        return (
            f"ingested {files} file{'' if files == 1 else 's'}: {lines:,} lines, "
            f"{self.total('records'):,} records, {self.total('rejects'):,} rejects, "
            f"{self.total('skipped_bytes'):,} bytes skipped as already stored, "
            + (f"{self.total('future'):,} future-dated, " if self.total("future") else "")
            + f"{self.elapsed:.1f} s, {rate:,.0f} lines/s"
            + (f", {errors} error{'' if errors == 1 else 's'}" if errors else "")
        )


def _check_zone(tz: str) -> str:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(f"--tz {tz!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None
    return tz


def ingest_paths(store: Store | str | Path, paths: list[str], options: IngestOptions = IngestOptions(),
                 progress: IngestProgress | None = None, stdin: BinaryIO | None = None,
                 pool: ParsePool | None = None) -> IngestSummary:
    """Ingest files, directories, globs, .gz and ``-`` (stdin); the CLI's one call.

    Errors of single inputs (missing, unreadable, bad gzip) are collected in
    ``summary.errors`` (one line each) while the others go on. ``pool``: a running
    ParsePool to parse in (the collector's, for `logship ingest` through it; not closed
    here), instead of one of ``options.workers`` started here.
    """
    started = time.perf_counter()
    tz = _check_zone(options.tz or local_zone())
    if options.grammar_dirs:
        from logship.parser import load_user_grammars

        load_user_grammars([str(d) for d in options.grammar_dirs])
    if options.log_format is not None:
        from logship.parser import get_format

        get_format(options.log_format)  # an unknown name fails before anything is read
    inputs, errors = expand_inputs(paths)
    if not isinstance(store, Store):  # `logship ingest .` must not read the database as a log
        own = {Path(store).resolve(), Path(f"{store}.wal").resolve()}
        inputs = [i for i in inputs if i.path is None or i.path.resolve() not in own]
    summary = IngestSummary(errors=list(errors))
    progress = progress or NullProgress()
    own_store = not isinstance(store, Store)
    if own_store and not inputs:  # nothing to read: a command that fails creates no database
        progress.close()
        summary.elapsed = time.perf_counter() - started
        return summary
    runner = _Runner(options, tz, progress)
    st: Store | None = None
    try:
        sizes = [i.size for i in inputs]
        if pool is not None:
            runner.pool, runner.own_pool = (None if pool.broken else pool), False
        elif options.workers > 1 and (None in sizes or sum(sizes) >= options.parallel_min_bytes):  # type: ignore[arg-type]
            runner.pool = ParsePool(options.workers, options.grammar_dirs)  # fork before DuckDB starts threads
        st = Store(store, memory_limit=options.memory_limit,
                   max_line_bytes=options.limits.max_line_bytes) if own_store else store  # type: ignore[arg-type]
        runner.st = st
        if own_store and runner.pool is not None:
            st.con.execute(f"SET threads = {int(options.pool_db_threads)}")
        if options.replace:
            with st.transaction():
                for inp in inputs:
                    summary.files.append(runner.run(inp, stdin))
                runner.drain()
                rebuild_sessions(st.con, [f.client_id for f in summary.files if f.client_id])
        else:
            for inp in inputs:
                summary.files.append(runner.run(inp, stdin))
            runner.drain()
    finally:
        runner.close()
        progress.close()
        if own_store and st is not None:
            st.close()
    summary.errors += [f.error for f in summary.files if f.error]
    summary.elapsed = time.perf_counter() - started
    return summary


@dataclass
class _Pending:
    """An item whose pieces are being parsed in the pool, waiting for its commit."""

    plan: Plan
    report: FileReport
    parts: list[Future | ParsedPiece]
    item: Item  # parsed here if its worker dies

    @property
    def source_id(self) -> str:
        return self.plan.source_id

    @property
    def start(self) -> int:
        return self.plan.received[0]

    @property
    def end(self) -> int:
        return self.plan.received[1]


class _Runner:
    """Ingests one input after another.

    With a pool, segments of every file go through one pipeline: workers parse while
    this process commits the oldest segments (in order, grouped up to max_batch_bytes
    per source), so many small files use both cores too. A file whose source still has
    segments in flight (a file and its archive in one call) waits for them first, so
    its uncommitted ranges are computed against committed state.
    """

    def __init__(self, options: IngestOptions, tz: str, progress: IngestProgress) -> None:
        self.st: Store = None  # type: ignore[assignment]  # set once the database is open
        self.options = options
        self.tz = tz
        self.progress = progress
        self.pool: ParsePool | None = None
        self.own_pool = True
        self.inflight: deque[_Pending] = deque()
        self.commit_limit = max(options.commit_bytes, options.limits.max_batch_bytes)
        per_commit = max(1, self.commit_limit // max(1, options.parse_chunk_bytes))
        self.max_inflight = per_commit + 2 * options.workers

    def close(self) -> None:
        for pending in self.inflight:
            for p in pending.parts:
                if isinstance(p, Future):
                    p.cancel()
        self.inflight.clear()
        if self.pool is not None and self.own_pool:
            self.pool.close()
        self.pool = None

    def run(self, inp: InputFile, stdin: BinaryIO | None) -> FileReport:
        report = FileReport(name=inp.name)
        try:
            opened = open_input(inp, stdin=stdin)
        except (OSError, EOFError) as exc:
            report.error = f"{inp.name}: cannot read: {reason(exc)}"
            return report
        self.progress.start_file(inp.name, None if opened.gzipped else inp.size)
        failure = ReadFailure()
        try:
            if not opened.head:
                return report  # an empty file: no lines, no identity
            try:
                src = self._resolve(inp, opened)
            except UnknownFormat as exc:
                report.error = str(exc)
                return report
            report.source_id, report.client_id, report.log_format = src.source_id, src.client_id, src.log_format
            limits = self.options.limits
            from logship.parser import get_format

            fmt = get_format(src.log_format)
            parallel = self.pool is not None and not self.pool.broken and fmt.context_free
            chunk = min(self.options.parse_chunk_bytes, limits.max_batch_bytes) if parallel \
                else limits.max_batch_bytes
            items = iter_segments(opened.stream, chunk, self.st.max_line_bytes,
                                  indent=fmt.continuation == "indent", failure=failure,
                                  source_id=src.source_id, kind=self._kind(), head=fmt.head_regex())
            if parallel:
                spec = src.spec(self.st.max_line_bytes)
                for item in items:
                    self._submit(spec, item, report)
            else:
                self.drain()
                for item in items:
                    with gc_paused():
                        res = self.st.ingest_items([item])[0]
                    self._account(report, item.end - item.start, res)
        finally:
            opened.stream.close()
        if failure.error is not None:  # the complete lines before the damage are committed
            report.error = damage_message(inp.name, failure.offset, failure.error)
        return report

    def drain(self) -> None:
        """Commit everything in flight."""
        while self.inflight:
            self._commit_oldest()

    def _resolve(self, inp: InputFile, opened: OpenedInput) -> SourceInfo:
        client_id = client_id_for(inp, self.options.client_id, self.options.client_id_from_dir)
        forced = self.options.log_format
        src = self.st.resolve_source(client_id, opened.head, path=inp.name, log_format=forced, tz=self.tz,
                                     mtime=opened.mtime)
        if any(p.source_id == src.source_id for p in self.inflight):
            self.drain()
        if self.options.replace:
            self.st.clear_source(src.source_id)
        if src.log_format in (None, UNKNOWN) or (self.options.replace and forced and forced != src.log_format):
            if forced:
                name, rate = forced, None
            else:
                found = detect(opened.peek, tz=self.tz, mtime=opened.mtime, at_end=opened.at_end)
                if not found.detected:  # refused: nothing of it is stored
                    if src.log_format is None and not src.ranges:
                        with self.st.transaction():
                            self.st.con.execute("DELETE FROM sources WHERE source_id = ?", [src.source_id])
                        self.st.forget(src.source_id)
                    raise UnknownFormat(f"{inp.name}: format not detected (nearest: {found.nearest()}); "
                                        f"not ingested: give it with --log-format")
                name, rate = found.name, found.rate
            src = self.st.set_format(src.source_id, name, rate)
        if self.options.year is not None and not src.ranges and src.context is None:
            self.st.seed_context(src.source_id, {"year": self.options.year})
        return self.st.source(src.source_id)

    def _account(self, report: FileReport, nbytes: int, res: IngestResult) -> None:
        report.bytes_read += nbytes
        report.lines += res.lines
        report.entries += res.entries
        report.records += res.records
        report.rejects += res.rejects
        report.skipped_bytes += res.skipped_bytes
        report.future += res.future
        self.progress.advance(nbytes, res.lines, res.rejects)

    def _kind(self) -> str:
        return "reparse" if self.options.replace else "file"

    def _submit(self, spec: ParseSpec, item: Item, report: FileReport) -> None:
        assert self.pool is not None
        commit = Commit(self.st)
        plan = commit.plan(item)  # against what is committed: a file's items do not overlap
        parts: list[Future | ParsedPiece] = []
        if plan.truncated:
            parts.extend(commit.parse(plan, item))
        else:
            try:
                for start, end, final in plan.todo:
                    parts.append(self.pool.submit(spec, item.data[start - item.start:end - item.start], start, final))
            except BrokenProcessPool as exc:
                pool_broken(self.pool, exc)
                parts = list(commit.parse(plan, item))
        self.inflight.append(_Pending(plan, report, parts, item))
        if len(self.inflight) >= self.max_inflight:
            self._commit_oldest()

    def _pieces(self, pending: _Pending) -> list[ParsedPiece]:
        """An item's parsed pieces; parsed here when a worker died (nothing is lost)."""
        try:
            return [p if isinstance(p, ParsedPiece) else p.result() for p in pending.parts]
        except BrokenProcessPool as exc:
            assert self.pool is not None
            pool_broken(self.pool, exc)
            return Commit(self.st).parse(pending.plan, pending.item)

    def _commit_oldest(self) -> None:
        """Write the oldest item with the ones after it of the same source, up to
        commit_bytes, as one commit (one ``ingests`` row)."""
        group = [self.inflight.popleft()]
        limit = self.commit_limit
        while (self.inflight and self.inflight[0].source_id == group[0].source_id
               and self.inflight[0].start == group[-1].end and self.inflight[0].end - group[0].start <= limit):
            group.append(self.inflight.popleft())
        pieces = [p for g in group for p in self._pieces(g)]
        commit = Commit(self.st)
        res = commit.add(Plan.join([g.plan for g in group]), pieces)
        commit.write()
        self._account(group[0].report, group[-1].end - group[0].start, res)


