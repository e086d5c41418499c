"""Unit tables, shared so they cannot drift: the client format's typed values (the writer,
clientlog/writer.py, and the parser, parser/values.py) and the sizes and durations that
people type in configs and options (`2MiB`, `10m`, `1h30m`). Stdlib only: the writer
and the shipper run on users' desktops."""

from __future__ import annotations

import re

__all__ = ["UNIT_BYTES", "UNIT_SECONDS", "UNIT_PERCENT", "SIZE_FACTORS", "DURATION_FACTORS",
           "parse_size_text", "parse_duration_text"]

UNIT_BYTES = "bytes"
UNIT_SECONDS = "seconds"
UNIT_PERCENT = "percent"

SIZE_FACTORS: dict[str, int] = {
    "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
DURATION_FACTORS: dict[str, float] = {
    "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}


# Typed by people: sizes case-insensitively (`2mib`, `512KB`), durations as a sum of parts
# (`1h30m`, `250ms`, `2d`); a bare number is bytes or seconds.
_HUMAN_SIZES: dict[str, int] = {"": 1, **{k.lower(): v for k, v in SIZE_FACTORS.items()}}
_HUMAN_DURATIONS: dict[str, float] = {"": 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_TEXT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_size_text(text: str) -> int | None:
    """Bytes from `2MiB`, `1.5KB`, `100`; None when the text is not a size (callers say why)."""
    m = _SIZE_TEXT.fullmatch(text)
    if not m or m.group(2).lower() not in _HUMAN_SIZES:
        return None
    return int(float(m.group(1)) * _HUMAN_SIZES[m.group(2).lower()])


def parse_duration_text(text: str) -> float | None:
    """Seconds from `10m`, `250ms`, `1h30m`, `2d`, `600`; None when the text is not a duration."""
    t = text.strip()
    if _NUMBER.fullmatch(t):
        return float(t)
    parts = _DURATION_PART.findall(t)
    if not parts or "".join(n + u for n, u in parts) != t:
        return None
    return sum(float(n) * _HUMAN_DURATIONS[u] for n, u in parts)
