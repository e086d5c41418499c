"""Unit tables of the client format's typed values, shared by the writer
(clientlog/writer.py) and the parser (parser/values.py) so they cannot drift.
Stdlib only: the writer runs on users' desktops."""

from __future__ import annotations

__all__ = ["UNIT_BYTES", "UNIT_SECONDS", "UNIT_PERCENT", "SIZE_FACTORS", "DURATION_FACTORS"]

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
