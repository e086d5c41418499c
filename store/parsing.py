"""The store's side of the parser seam: bytes of a source -> a ParsedPiece of Arrow tables.

Everything here is picklable and free of DuckDB, so pool workers (store/pool.py) run the
same code as the single-process path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from store.batches import EMPTY, ArrowBatch, to_arrow

__all__ = ["ParseSpec", "ParsedPiece", "make_parser", "parse_piece", "truncated_piece", "detect", "DETECT_LINES"]

DETECT_LINES = 200


@dataclass(frozen=True)
class ParseSpec:
    """What a parser for one source needs (the source's format, zone, mtime, context)."""

    log_format: str
    tz: str
    mtime: float | None
    context: dict | None


@dataclass(frozen=True)
class ParsedPiece:
    """One parsed byte range ``[start, end)``; ``end`` stops before an unfinished entry."""

    start: int
    end: int
    lines: int
    entries: int
    context: dict | None
    batch: ArrowBatch


def make_parser(spec: ParseSpec) -> Any:
    from parser import EntryParser

    return EntryParser(log_format=spec.log_format, tz=spec.tz, mtime=spec.mtime, context=spec.context)


def parse_piece(parser: Any, data: bytes, start: int, final: bool) -> ParsedPiece:
    """Parse complete lines starting at ``start``; never raises for bad input (rejects)."""
    res = parser.parse(data, start, final)
    return ParsedPiece(
        start=start,
        end=res.end_offset,
        lines=res.lines,
        entries=res.entries,
        context=res.context,
        batch=to_arrow(res.batch),
    )


def truncated_piece(start: int, head: bytes, span: int, max_line_bytes: int) -> ParsedPiece:
    """A line longer than max_line_bytes: one ``line_too_long`` reject covering its whole span."""
    rejects = pa.table({
        "byte_offset": pa.array([start], pa.int64()),
        "raw": pa.array([bytes(head[:max_line_bytes])], pa.binary()),
        "error_code": pa.array(["line_too_long"]),
        "error": pa.array([
            f"line at byte {start} is {span} bytes long, over max_line_bytes={max_line_bytes}; "
            f"its first {min(len(head), max_line_bytes)} bytes are kept"
        ]),
    })
    return ParsedPiece(start=start, end=start + span, lines=1, entries=1, context=None,
                       batch=ArrowBatch(EMPTY.metrics, EMPTY.events, rejects))


def detect(data: bytes) -> tuple[str, float]:
    """(format name, hit rate) by trial-parsing the first DETECT_LINES lines (parser seam)."""
    from parser import detect_format

    lines = data.split(b"\n", DETECT_LINES)[:DETECT_LINES]
    found = detect_format(lines)
    if isinstance(found, tuple):
        return str(found[0]), float(found[1])
    return str(found.name), float(getattr(found, "hit_rate", 0.0))
