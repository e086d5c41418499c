"""Half-open byte ranges ``[start, end)``: the committed state of a source.

Exactly-once rests on these three operations: what was received minus what is
committed is what gets parsed; what got parsed is merged into what is committed.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Range", "merge", "subtract", "covered_end"]

Range = tuple[int, int]


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, non-overlapping ranges; adjacent and overlapping ones are joined."""
    out: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def subtract(start: int, end: int, committed: Iterable[Range]) -> list[Range]:
    """The parts of ``[start, end)`` not covered by ``committed``, in order."""
    pieces: list[Range] = []
    pos = start
    for c_start, c_end in merge(committed):
        if c_end <= pos:
            continue
        if c_start >= end:
            break
        if c_start > pos:
            pieces.append((pos, c_start))
        pos = max(pos, c_end)
        if pos >= end:
            break
    if pos < end:
        pieces.append((pos, end))
    return pieces


def covered_end(start: int, committed: Iterable[Range]) -> int:
    """How far the committed ranges reach without a gap from ``start`` (``start`` if not at all)."""
    pos = start
    for c_start, c_end in merge(committed):
        if c_start <= pos < c_end:
            pos = c_end
        elif c_start > pos:
            break
    return pos
