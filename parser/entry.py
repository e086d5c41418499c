"""EntryParser: bytes of a source -> entries -> records, the parser seam of
docs/architecture.md.

Splitting bytes into entries (a head line plus its continuation lines) and the
guarantees (every entry yields records or exactly one reject; invalid UTF-8, over-long
lines and orphan continuation lines are named rejects; nothing raises) live here,
once, for every format. What an entry means is the format handler's job.
"""

from __future__ import annotations

import gc
from typing import Any

from logship.kernel.protocol import DEFAULT_LIMITS

from .batch import ParsedBatch, ParseResult
from .formats import FormatRegistry, LogFormat, get_format
from .timestamps import zone

__all__ = ["EntryParser", "too_long_error"]

_WS = (0x20, 0x09)  # a continuation line starts with a space or a tab
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
        self._indent = self.format.continuation == "indent"
        # `head:` formats: a line that does not start like an entry continues the one above
        self._head = self.format.head_regex()

    def parse(self, data: bytes, start_offset: int = 0, final: bool = True) -> ParseResult:
        """Parse `data` (complete lines starting at a line boundary at `start_offset`).

        When `final` is false and the format has continuation lines (`continuation:
        indent` or `head:`), the last entry may be unfinished: it is left unparsed and
        `end_offset` stops at its start.
        """
        enabled = gc.isenabled()
        gc.disable()  # many small live objects: the cyclic GC would rescan them all
        try:
            return self._parse(data, start_offset, final)
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
        orphan = False
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
                if head is None:  # continuation lines before any head line
                    head, head_off, head_line_no, cont, orphan = line, off, i, None, True
                elif cont is None:
                    cont = [line]
                else:
                    cont.append(line)
            else:
                if head is not None:
                    entry(head, cont, head_off, orphan, batch)
                    entries += 1
                head, head_off, head_line_no, cont, orphan = line, off, i, None, False
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
        return ParseResult(batch=batch, end_offset=end, lines=consumed, entries=entries,
                           context=self._handler.context())

    def _entry(self, head: bytes, cont: list[bytes] | None, offset: int, orphan: bool,
               batch: ParsedBatch) -> None:
        """One entry -> records, or exactly one reject."""
        rejects = batch.rejects
        if orphan:
            raw = head if cont is None else b"\n".join([head, *cont])
            n = 1 + (len(cont) if cont else 0)
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
        try:
            err = self._handler.handle(text, texts, batch, offset)
        except Exception as exc:  # a user transformer's bug must not stop the stream
            _realign(batch)
            err = ("transformer_error", f"the format's transformer raised {type(exc).__name__}: {exc}")
        if err is not None:
            raw = head if cont is None else b"\n".join([head, *cont])
            rejects.add(offset, raw, err[0], err[1])


def _realign(batch: ParsedBatch) -> None:
    """Drop a half-appended row (a transformer that raised midway): columns stay equal."""
    for group in (batch.metrics, batch.events):
        cols = list(group.columns().values())
        n = min(len(c) for c in cols)
        for c in cols:
            del c[n:]
