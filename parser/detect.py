"""Format detection: trial-parse the first lines of a source with every format, most
specific first, and keep the best hit rate."""

from __future__ import annotations

from typing import Iterable

from .entry import EntryParser
from .formats import FormatRegistry, list_formats

__all__ = ["detect_format", "DETECT_LINES"]

DETECT_LINES = 200


def detect_format(lines: Iterable[bytes | str], registry: FormatRegistry | None = None,
                  tz: str | None = None, mtime: float | None = None) -> tuple[str | None, float]:
    """(format name, hit rate) for the first up to 200 lines; (None, 0.0) if nothing parses.

    The hit rate is the share of entries that yielded records. Ties go to the more
    specific format (higher detect_priority), which is tried first.
    """
    sample: list[bytes] = []
    for line in lines:
        if len(sample) >= DETECT_LINES:
            break
        b = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        sample.append(b.rstrip(b"\n"))
    if not sample:
        return None, 0.0
    data = b"\n".join(sample) + b"\n"
    best: tuple[str | None, float] = (None, 0.0)
    for fmt in list_formats(registry):
        res = EntryParser(fmt, tz=tz, mtime=mtime).parse(data, 0, final=True)
        if res.entries == 0:
            continue
        rate = (res.entries - len(res.batch.rejects)) / res.entries
        if rate > best[1]:
            best = (fmt.name, rate)
            if rate == 1.0:
                break
    return best
