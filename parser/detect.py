"""Format detection: trial-parse the first lines of a source with every format, most
specific first, and keep the best hit rate."""

from __future__ import annotations

from typing import Iterable

from .entry import EntryParser
from .formats import FormatRegistry, list_formats

__all__ = ["detect_format", "detect_start", "DETECT_LINES", "DETECT_MARGIN", "DETECT_PEEK_BYTES",
           "FALLBACK_FORMAT"]

DETECT_LINES = 200
# Detection reads at most this much of a stream's start (whole lines only), which also
# bounds the cost of trial-parsing garbage with every format.
DETECT_PEEK_BYTES = 256 << 10
# A stream no format reads is parsed (and stored) as this format: its lines become rejects.
FALLBACK_FORMAT = "client"
DETECT_MARGIN = 0.05
PROBE_LINES = 20  # a wrong format fails fast: rejects cost Lark's error path


def detect_format(lines: Iterable[bytes | str], registry: FormatRegistry | None = None,
                  tz: str | None = None, mtime: float | None = None) -> tuple[str | None, float]:
    """(format name, hit rate) for the first up to 200 lines; (None, 0.0) if nothing parses.

    The hit rate is the share of entries that yielded records. Formats are tried most
    specific first (higher detect_priority); a less specific one wins only with a hit
    rate more than DETECT_MARGIN higher, so a loose format (syslog's ISO variant,
    logfmt) does not take a file that the specific one parses nearly as well. A format
    that reads none of the first PROBE_LINES lines is not tried on the rest.
    """
    sample: list[bytes] = []
    for line in lines:
        if len(sample) >= DETECT_LINES:
            break
        b = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        b = b.rstrip(b"\r\n")
        if b.strip():  # blank lines tell nothing about the format
            sample.append(b)
    if not sample:
        return None, 0.0
    data = b"\n".join(sample) + b"\n"
    best: tuple[str | None, float] = (None, 0.0)
    probe = b"\n".join(sample[:PROBE_LINES]) + b"\n"
    for fmt in list_formats(registry):
        if len(sample) > PROBE_LINES:  # a format that reads none of the first lines is out
            first = EntryParser(fmt, tz=tz, mtime=mtime).parse(probe, 0, final=True)
            if first.batch.records == 0:
                continue
        res = EntryParser(fmt, tz=tz, mtime=mtime).parse(data, 0, final=True)
        if res.entries == 0:
            continue
        rate = (res.entries - len(res.batch.rejects)) / res.entries
        if best[0] is None and rate > 0 or rate > best[1] + DETECT_MARGIN:
            best = (fmt.name, rate)
            if rate == 1.0:
                break
    return best


def detect_start(data: bytes, *, at_end: bool, registry: FormatRegistry | None = None,
                 tz: str | None = None, mtime: float | None = None) -> tuple[str, float]:
    """(format name, hit rate) of a stream from its first bytes, FALLBACK_FORMAT at rate 0
    when nothing parses: the one detection of `logship check` and of the store.

    Only whole lines count: the first DETECT_PEEK_BYTES of ``data``, cut after its last
    newline unless ``at_end`` (the stream ends there). A line cut short would look like no
    format at all (a JSON object, a `key=value` list), so one longer than the peek leaves
    nothing to detect on: the fallback.
    """
    cut = data[:DETECT_PEEK_BYTES]
    if not (at_end and len(data) <= DETECT_PEEK_BYTES):
        cut = cut[: cut.rfind(b"\n") + 1]
    name, rate = detect_format(cut.split(b"\n", DETECT_LINES)[:DETECT_LINES], registry=registry, tz=tz, mtime=mtime)
    if name is None:
        return FALLBACK_FORMAT, 0.0
    return str(name), float(rate)
