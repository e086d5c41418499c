"""Entry heads: where a multi-line format's entries start, so a cut falls between entries.

A format that declares `head:` (Python logging, log4j, Go's log: a traceback's lines
belong to the entry above them) has its head pattern sent by the collector in `opened`
(`head`, a Python regular expression over bytes, matched at a line's start). The
shipper moves its backlog/live split forward to the next line that starts an entry, so
the live stream never begins inside a traceback whose start went to the backlog (the
collector would have to call those lines orphans). An old collector sends no `head`:
cuts stay at line boundaries, as before.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

__all__ = ["compile_head", "head_line_at_or_after"]

log = logging.getLogger("logship.shipper.heads")

_BLOCK = 64 * 1024


class _Readable(Protocol):
    def pread(self, offset: int, n: int) -> bytes: ...


def compile_head(pattern: object) -> re.Pattern[bytes] | None:
    """The `opened.head` pattern, compiled; None (one log line) when absent or not valid."""
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        log.warning("opened.head is not a string; cutting at line boundaries")
        return None
    try:
        return re.compile(pattern.encode("utf-8", "surrogateescape"))
    except (re.error, UnicodeError) as exc:
        log.warning("opened.head is not a valid pattern (%s); cutting at line boundaries", exc)
        return None


def head_line_at_or_after(reader: _Readable, line_start: int, head: re.Pattern[bytes],
                          limit: int) -> int | None:
    """The start of the first line at or after `line_start` (itself a line's start) that
    matches `head`; the start of the unfinished last line (or the end) when no complete
    line does; None when
    `limit` bytes pass without a head (an entry that long is cut anyway: the caller keeps
    its plain line boundary)."""
    pos = line_start
    buf = b""
    buf_at = pos
    while pos - line_start <= limit:
        nl = buf.find(b"\n", pos - buf_at)
        if nl < 0:
            more = reader.pread(buf_at + len(buf), _BLOCK)
            if not more:  # the file ends, maybe in an unfinished line: live starts at its start
                return pos
            buf = buf[pos - buf_at:] + more
            buf_at = pos
            continue
        if head.match(buf, pos - buf_at, nl + 1):
            return pos
        pos = buf_at + nl + 1
    return None
