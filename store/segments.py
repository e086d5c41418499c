"""Cutting a byte stream into ingest segments without holding it whole.

A segment starts at a line boundary and ends at an entry boundary (a line that is not a
continuation line starts after it; for a `head:` format, a head line), so each can be parsed on its own, in any process.
A line longer than max_line_bytes is never buffered whole: its first max_line_bytes are
kept, the rest is skipped up to its newline, and it becomes a segment of its own with
``span`` (its full length) so that it turns into one ``line_too_long`` reject.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from logship.store.item import Item

__all__ = ["iter_segments", "ReadFailure"]


class ReadFailure:
    """Holds the error that ended a stream early (bad or truncated gzip, I/O error)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.offset = 0  # the stream offset where the damage is: every byte before it was read


# First bytes of a line that (may) continue the entry above, as the parser seam splits
# entries: a space or tab, or an empty line. (A line starting with CR is treated as one
# too: cutting earlier than needed is always safe.)
_CONTINUES = (0x20, 0x09, 0x0A, 0x0D)


def _last_entry_start(buf: bytearray | bytes, indent: bool, limit: int | None = None,
                      head: re.Pattern[bytes] | None = None) -> int:
    """Offset of the last line start in ``buf`` (at or before ``limit``) that begins an
    entry, or -1.

    Only line starts whose first byte is already in ``buf`` count (we must see it to
    know it is not a continuation). With ``head`` (a `head:` format) only a whole line
    in ``buf`` that starts like an entry's head line counts.
    """
    pos = len(buf) - 1 if limit is None else min(len(buf) - 1, limit)
    while True:
        nl = buf.rfind(b"\n", 0, pos)
        if nl < 0:
            return -1
        if head is not None:
            end = buf.find(b"\n", nl + 1)
            if end >= 0 and head.match(buf, nl + 1, end) is not None:
                return nl + 1
        elif not indent or buf[nl + 1] not in _CONTINUES:
            return nl + 1
        pos = nl


def iter_segments(stream: BinaryIO, chunk_bytes: int, max_line_bytes: int, indent: bool = True,
                  failure: ReadFailure | None = None, start: int = 0, source_id: str = "",
                  kind: str = "file", head: re.Pattern[bytes] | None = None) -> Iterator[Item]:
    """Yield segments of about ``chunk_bytes`` (more only when one entry is longer, and
    never more than about twice that).

    ``indent``: lines starting with a space or tab continue the entry above, so a cut
    never falls before one. ``head`` (the format's `head:` pattern, parser/formats.py):
    a cut falls only before a line that starts like an entry's head. A read error ends the stream: what was read before it is
    yielded with ``final=False`` (its unfinished last entry is not committed) and the
    error is left in ``failure``. Items carry ``source_id`` and ``kind`` as given.
    """
    block_size = max(1, min(chunk_bytes, max_line_bytes))
    buf = bytearray()
    buf_start = start
    long_start = -1  # >= 0 while skipping the rest of an over-long line
    long_head = b""
    long_len = 0
    while True:
        try:
            block = stream.read(block_size)
        except (OSError, EOFError, ValueError) as exc:  # gzip/zlib errors are OSError/EOFError
            if failure is None:
                raise
            failure.error = exc
            failure.offset = long_start + long_len if long_start >= 0 else buf_start + len(buf)
            if buf:
                yield Item(source_id, buf_start, bytes(buf), final=False, kind=kind)
            return
        if not block:
            break
        if long_start >= 0:
            nl = block.find(b"\n")
            if nl < 0:
                long_len += len(block)
                continue
            long_len += nl + 1
            yield Item(source_id, long_start, long_head, span=long_len, kind=kind)
            buf_start = long_start + long_len
            long_start = -1
            block = block[nl + 1:]
        # The only line that can exceed max_line_bytes is the one crossing into this block
        # (blocks are at most max_line_bytes long).
        tail_from = buf.rfind(b"\n") + 1
        nl = block.find(b"\n")
        line_len = (len(buf) - tail_from) + (nl + 1 if nl >= 0 else len(block))
        if line_len > max_line_bytes + (1 if nl >= 0 else 0):
            if tail_from:
                yield Item(source_id, buf_start, bytes(buf[:tail_from]), kind=kind)
            long_start = buf_start + tail_from
            long_head = bytes((buf[tail_from:] + block[: max_line_bytes + 1])[:max_line_bytes])
            if nl >= 0:
                yield Item(source_id, long_start, long_head, span=line_len, kind=kind)
                buf = bytearray(block[nl + 1:])
                buf_start = long_start + line_len
                long_start = -1
            else:
                long_len = line_len
                buf = bytearray()
            continue
        buf += block
        if len(buf) >= chunk_bytes:
            cut = _last_entry_start(buf, indent, chunk_bytes, head)
            if cut <= 0:  # one entry longer than a chunk: cut after it, as soon as it ends
                cut = _last_entry_start(buf, indent, None, head)
            if cut <= 0 and len(buf) >= 2 * chunk_bytes:
                # An "entry" of endless continuation lines (or indented garbage) is not
                # held whole either: cut at a line; the rest become orphan_continuation
                # rejects, nothing is lost.
                cut = buf.rfind(b"\n") + 1
            if cut > 0:
                yield Item(source_id, buf_start, bytes(buf[:cut]), kind=kind)
                del buf[:cut]
                buf_start += cut
    if long_start >= 0:  # the stream ended inside an over-long line
        yield Item(source_id, long_start, long_head, span=long_len, kind=kind)
        return
    if buf:
        yield Item(source_id, buf_start, bytes(buf), kind=kind)
