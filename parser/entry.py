"""EntryParser: bytes of a source -> entries -> records, the parser seam of
docs/architecture.md.

Splitting bytes into entries (a head line plus its continuation lines) and the
guarantees (every entry yields records or exactly one reject; invalid UTF-8, over-long
lines and orphan continuation lines are named rejects; nothing raises) live here,
once, for every format. What an entry means is the format handler's job.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from logship.kernel.protocol import DEFAULT_LIMITS

from .batch import ParsedBatch, ParseResult
from .formats import FormatRegistry, LogFormat, get_format
from .timestamps import zone

__all__ = ["EntryParser", "too_long_error"]

_WS = (0x20, 0x09)  # a continuation line starts with a space or a tab
ORPHAN, OVERFLOW = "orphan", "overflow"  # what a group of lines without an entry of its own is
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark may open a source, before its first head


def too_long_error(offset: int, length: int, limit: int, kept: int) -> str:
    """The error of a ``line_too_long`` reject, the same whether the parser met the line
    or the store's cutter (store/segments.py) took it apart before parsing."""
    return (f"line at byte {offset} is {length} bytes long, over max_line_bytes={limit}; "
            f"its first {kept} bytes are kept")


class EntryParser:
    """Parses one source's bytes into column batches. Cheap to construct after the
    first one in a process (the compiled grammar is cached); keeps the parse context
    (dates, years) between calls for formats that need it.

    log_format: a format name or a LogFormat (picklable: pass it to worker processes).
    tz: the source's IANA zone (None: UTC). mtime: the file's modification time (epoch
    seconds), used to reconstruct missing years/dates. context: a ParseResult.context
    from an earlier call on the same source. path: the source's file name, for formats
    whose date comes from it.
    """

    def __init__(self, log_format: str | LogFormat, tz: str | None = None,
                 mtime: float | None = None, context: dict[str, Any] | None = None,
                 max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes, *,
                 path: str | None = None, registry: FormatRegistry | None = None) -> None:
        self.format = log_format if isinstance(log_format, LogFormat) else get_format(log_format, registry)
        self.tz = zone(tz)
        self.max_line_bytes = max_line_bytes
        self._handler = self.format.handler(self.tz, mtime, dict(context or {}), path)
        # a handler whose every row carries its own timestamp (`timed = True`: never None)
        self._timed = getattr(self._handler, "timed", False) is True
        self._indent = self.format.continuation == "indent"
        self._mtime = mtime
        self._stand_in = self.format.spec.time  # line | received | previous
        self._previous: int | None = None  # the last entry's time (`time: previous`)
        self.future_tolerance_us = int(DEFAULT_LIMITS.future_tolerance_s * 1_000_000)
        # the time entries are checked against for the future-dated count when a parse
        # call gives no receive time: the file's mtime (offline), or set by the caller
        # (the collector's commit path: now)
        self.reference: float | None = mtime
        self._received_us: int | None = None
        self._allow_received = False
        self._future_limit_us = 0
        self._future = 0
        # `head:` formats: a line that does not start like an entry continues the one above
        self._head = self.format.head_regex()

    def parse(self, data: bytes, start_offset: int = 0, final: bool = True,
              received_at: float | None = None) -> ParseResult:
        """Parse `data` (complete lines starting at a line boundary at `start_offset`).

        When `final` is false and the format has continuation lines (`continuation:
        indent` or `head:`), the last entry may be unfinished: it is left unparsed and
        `end_offset` stops at its start.

        received_at (epoch seconds): when the intake received these bytes and declares
        that this time stands in for an entry without a timestamp (HTTP bodies). Without
        it, such an entry is a ``no_timestamp`` reject unless the format declares
        ``time: received`` (then the parse call's time stands in) or ``time: previous``.
        """
        enabled = gc.isenabled()
        gc.disable()  # many small live objects: the cyclic GC would rescan them all
        now = time.time()
        self._allow_received = received_at is not None or self._stand_in == "received"
        self._received_us = int((received_at if received_at is not None else now) * 1_000_000)
        ref = received_at if received_at is not None else self.reference if self.reference is not None else now
        self._future_limit_us = int(ref * 1_000_000) + self.future_tolerance_us
        self._future = 0
        try:
            res = self._parse(data, start_offset, final)
            res.future = self._future
            return res
        finally:
            if enabled:
                gc.enable()

    def _parse(self, data: bytes, start_offset: int, final: bool) -> ParseResult:
        if type(data) is not bytes:  # bytearray, memoryview: rejects keep real bytes
            data = bytes(data)
        batch = ParsedBatch()
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # data ended with a newline (or was empty)
        elif not final:
            lines.pop()  # an incomplete last line waits for its newline
        indent = self._indent
        head_re = self._head
        grouped = indent or head_re is not None
        entry = self._entry
        off = start_offset
        head: bytes | None = None
        head_off = start_offset
        head_line_no = 0
        cont: list[bytes] | None = None
        # None: an entry; ORPHAN: continuation lines with no entry above; OVERFLOW: the
        # continuation lines of an entry past max_line_bytes (the entry keeps what fits)
        orphan: str | None = None
        size = 0  # bytes of the entry gathered so far (head, continuation lines, newlines)
        entries = 0
        limit = self.max_line_bytes
        data_end = start_offset + len(data)
        for i, line in enumerate(lines):
            if len(line) > limit:
                # as the store's cutter does: an over-long line ends the entry above it and
                # is one line_too_long reject of its own, whatever it starts with
                if head is not None:
                    entry(head, cont, head_off, orphan, batch)
                    entries += 1
                    head = None
                length = len(line) + (1 if off + len(line) < data_end else 0)
                batch.rejects.add(off, line[:limit], "line_too_long", too_long_error(off, length, limit, limit))
                entries += 1
                off += len(line) + 1
                continue
            if (head_re.match(line, 3 if off == 0 and line[:3] == _BOM else 0) is None if head_re is not None
                    else indent and (not line or line[0] in _WS or line == b"\r")):
                if head is None and head_re is not None and not line.strip(b" \t\r"):
                    off += len(line) + 1  # a blank line before any entry holds nothing (apt opens stanzas so)
                    continue
                if head is None:  # continuation lines before any head line
                    head, head_off, head_line_no, cont, orphan, size = line, off, i, None, ORPHAN, len(line)
                elif size + 1 + len(line) > limit:
                    # the entry would outgrow max_line_bytes: it keeps what it has, and its
                    # further lines are one visible `entry_too_long` reject (per limit's worth)
                    entry(head, cont, head_off, orphan, batch)
                    entries += 1
                    head, head_off, head_line_no, cont, size = line, off, i, None, len(line)
                    orphan = orphan or OVERFLOW  # orphans stay orphans
                else:
                    size += 1 + len(line)
                    if cont is None:
                        cont = [line]
                    else:
                        cont.append(line)
            else:
                if head is not None:
                    entry(head, cont, head_off, orphan, batch)
                    entries += 1
                head, head_off, head_line_no, cont, orphan, size = line, off, i, None, None, len(line)
            off += len(line) + 1
        end = min(off, start_offset + len(data))
        consumed = len(lines)
        if head is not None:
            if final or not grouped:  # without continuation lines a line is a whole entry
                entry(head, cont, head_off, orphan, batch)
                entries += 1
            else:  # the last entry may still get continuation lines
                end = head_off
                consumed = head_line_no
        if self._timed:
            _line_sources(batch)
        return ParseResult(batch=batch, end_offset=end, lines=consumed, entries=entries,
                           context=self._handler.context())

    def _entry(self, head: bytes, cont: list[bytes] | None, offset: int, orphan: str | None,
               batch: ParsedBatch) -> None:
        """One entry -> records, or exactly one reject."""
        rejects = batch.rejects
        if orphan:
            raw = head if cont is None else b"\n".join([head, *cont])
            n = 1 + (len(cont) if cont else 0)
            if orphan == OVERFLOW:
                rejects.add(offset, raw[: self.max_line_bytes], "entry_too_long",
                            f"field message: {n} continuation line(s) of the entry above would take it past "
                            f"max_line_bytes ({self.max_line_bytes}); the entry keeps the lines before them")
                return
            if self._head is not None:
                err = (f"field head: {n} line(s) at the start of the data that do not start like "
                       f"an entry's head line, with no entry above them")
            else:
                err = (f"{n} continuation line(s) with no entry above them "
                       f"(lines starting with a space or tab at the start of the data)")
            rejects.add(offset, raw[: self.max_line_bytes], "orphan_continuation", err)
            return
        try:
            text = head.decode("utf-8")
            texts = [c.decode("utf-8") for c in cont] if cont else None
        except UnicodeDecodeError as exc:
            lines = [head, *(cont or ())]
            bad = next((i for i, ln in enumerate(lines) if ln is exc.object), 0)
            rejects.add(offset, b"\n".join(lines), "invalid_utf8",
                        (f"byte {exc.start + 1}" if bad == 0 else f"continuation line {bad}, byte {exc.start + 1}")
                        + f": invalid UTF-8 ({exc.reason})")
            return
        if text and text[-1] == "\r":
            text = text[:-1]
        if offset == 0 and text[:1] == "\ufeff":  # a UTF-8 byte order mark opens the source
            text = text[1:]
        if texts:
            texts = [t[:-1] if t and t[-1] == "\r" else t for t in texts]
        ev_ts, mt_ts = batch.events.ts_us, batch.metrics.ts_us
        n_events, n_metrics = len(ev_ts), len(mt_ts)
        try:
            err = self._handler.handle(text, texts, batch, offset)
        except Exception as exc:  # a user transformer's bug must not stop the stream
            if self._timed:  # the rows before this entry get their sources first
                _line_sources(batch, n_events, n_metrics)
            _realign(batch)
            err = ("transformer_error", f"the format's transformer raised {type(exc).__name__}: {exc}")
        if err is None:
            if self._timed:  # _times' usual case, inline: every row has its own time
                # (their ts_source, all "line", is filled once at the end: _line_sources)
                if len(ev_ts) > n_events:
                    last = ev_ts[-1]
                elif len(mt_ts) > n_metrics:
                    last = mt_ts[-1]
                else:
                    return
                self._previous = last
                if last > self._future_limit_us:
                    self._future += 1
                return
            err = self._times(batch, n_events, n_metrics)
        if err is not None:
            raw = head if cont is None else b"\n".join([head, *cont])
            rejects.add(offset, raw, err[0], err[1])


    def _times(self, batch: ParsedBatch, n_events: int, n_metrics: int) -> tuple[str, str] | None:
        """Give the entry's new rows their ``ts_source``; an entry without a timestamp
        gets the stand-in its intake or format declares, else it is taken back and
        becomes a ``no_timestamp`` reject (never a row with a NULL time)."""
        ev, mt = batch.events, batch.metrics
        ets, mts = ev.ts_us, mt.ts_us
        if None not in ets[n_events:] and None not in mts[n_metrics:]:  # the usual case: own times
            ne, nm = len(ets) - n_events, len(mts) - n_metrics
            if ne:
                ev.ts_source.extend(_LINE_SOURCE * ne)
            if nm:
                mt.ts_source.extend(_LINE_SOURCE * nm)
            last = ets[-1] if ne else mts[-1] if nm else None
            if last is not None:
                self._previous = last
                if last > self._future_limit_us:
                    self._future += 1
            return None
        source = "line"
        stand_in: int | None = None
        for group, n in ((ev, n_events), (mt, n_metrics)):
            ts = group.ts_us
            for i in range(n, len(ts)):
                if ts[i] is None:
                    if stand_in is None:
                        if self._allow_received:
                            stand_in, source = self._received_us, "received"
                        elif self._stand_in == "previous" and self._previous is not None:
                            stand_in, source = self._previous, "previous"
                        else:
                            _truncate(ev, n_events)
                            _truncate(mt, n_metrics)
                            return "no_timestamp", ("the entry has no timestamp, and nothing may stand in for it "
                                                    "(only HTTP bodies and formats declaring `time:` may)")
                    ts[i] = stand_in
        rows = (len(ev.ts_us) - n_events, len(mt.ts_us) - n_metrics)
        ev.ts_source.extend([source] * rows[0])
        mt.ts_source.extend([source] * rows[1])
        last = ev.ts_us[-1] if rows[0] else mt.ts_us[-1] if rows[1] else None
        if last is not None and source == "line":
            self._previous = last
            if last > self._future_limit_us:
                self._future += 1
        return None


_LINE_SOURCE = ("line",)


def _line_sources(batch: ParsedBatch, n_events: int | None = None, n_metrics: int | None = None) -> None:
    """A timed handler's rows all have their own time: their ``ts_source`` ("line") is
    appended here, up to row ``n_events`` / ``n_metrics`` (None: every row), not per entry."""
    for group, n in ((batch.events, n_events), (batch.metrics, n_metrics)):
        missing = (len(group.ts_us) if n is None else n) - len(group.ts_source)
        if missing > 0:
            group.ts_source.extend(_LINE_SOURCE * missing)


def _truncate(group: Any, n: int) -> None:
    for c in group.columns().values():
        del c[n:]


def _realign(batch: ParsedBatch) -> None:
    """Drop a half-appended row (a transformer that raised midway): columns stay equal."""
    for group in (batch.metrics, batch.events):
        cols = list(group.columns().values())
        n = min(len(c) for c in cols)
        for c in cols:
            del c[n:]
