"""The soak's verdict, read from the DuckDB file after both processes stopped.

- every seq in [0, written) stored exactly once: ``lost`` = written - stored,
  ``duplicated`` = seqs stored more than once (both exact; lost ones as ranges); lines
  that a prune fault deleted count where `--export` put them (the archive's Parquet),
  so a line both exported and still stored is a duplicate, and one in neither is lost;
- every file still in the log directory (plain or .gz) is covered by its source's
  ``source_ranges`` from 0 to its (decompressed) size: a gap there is data the
  collector never committed although the file still holds it.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from logship.kernel.fingerprint import heads_match, is_gzip, read_head

__all__ = ["DbCheck", "check_db", "to_ranges"]


@dataclass
class DbCheck:
    written: int
    stored: int = 0                      # distinct seqs in [0, written) stored at least once
    lost: list[tuple[int, int]] = field(default_factory=list)    # [first, end) ranges
    duplicated: dict[int, int] = field(default_factory=dict)     # seq -> times stored
    foreign: int = 0                     # rows with a seq outside [0, written)
    rejects: int = 0
    range_gaps: list[str] = field(default_factory=list)          # "file: [a, b) of size n"
    archived: int = 0                    # rows found in the prunes' Parquet archive

    @property
    def lost_count(self) -> int:
        return sum(e - s for s, e in self.lost)


def to_ranges(seqs: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(seqs):
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], s + 1)
        else:
            out.append((s, s + 1))
    return out


def _size(path: Path) -> int:
    if is_gzip(path):
        n = 0
        try:
            with gzip.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    n += len(chunk)
        except (OSError, EOFError):
            pass  # a damaged archive: what decompressed is what the shipper could read
        return n
    return path.stat().st_size


def _gaps(ranges: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    gaps, pos = [], 0
    for s, e in sorted(ranges):
        if s > pos:
            gaps.append((pos, min(s, size)))
        pos = max(pos, e)
        if pos >= size:
            break
    if pos < size:
        gaps.append((pos, size))
    return [(a, b) for a, b in gaps if a < b]


def check_db(db: Path, logs: Path, written: int, archive: Path | None = None) -> DbCheck:
    res = DbCheck(written)
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.sql("SELECT CAST(json_extract(attrs, '$.seq') AS BIGINT) AS seq, count(*) FROM events "
                       "WHERE name = 'test.line' GROUP BY seq").fetchall()
        if archive is not None and list((archive / "events").rglob("*.parquet")):
            pruned = con.sql(f"SELECT CAST(json_extract(attrs, '$.seq') AS BIGINT) AS seq, count(*) FROM "
                             f"read_parquet('{archive / 'events'}/**/*.parquet', hive_partitioning=true) "
                             "WHERE name = 'test.line' GROUP BY seq").fetchall()
            res.archived = sum(int(n) for _, n in pruned)
            merged: dict[int | None, int] = {}
            for s, n in [*rows, *pruned]:
                merged[s] = merged.get(s, 0) + int(n)
            rows = list(merged.items())
        res.rejects = int(con.sql("SELECT count(*) FROM rejects").fetchall()[0][0])
        sources = con.sql("SELECT source_id, head FROM sources").fetchall()
        ranges: dict[str, list[tuple[int, int]]] = {}
        for sid, s, e in con.sql("SELECT source_id, start_offset, end_offset FROM source_ranges").fetchall():
            ranges.setdefault(sid, []).append((int(s), int(e)))
    finally:
        con.close()
    counts = {int(s): int(n) for s, n in rows if s is not None}
    res.stored = sum(1 for s in counts if 0 <= s < written)
    res.foreign = sum(n for s, n in counts.items() if not 0 <= s < written)
    res.lost = to_ranges([s for s in range(written) if s not in counts])
    res.duplicated = {s: n for s, n in counts.items() if n > 1}
    for path in sorted(logs.iterdir()):
        if not path.is_file():
            continue
        head = read_head(path)
        size = _size(path)
        if size == 0:
            continue
        match = [(len(h), sid) for sid, h in sources if h and heads_match(bytes(h), head)]
        if not match:
            res.range_gaps.append(f"{path.name}: no source for its head, [0, {size}) not stored")
            continue
        sid = max(match)[1]
        for a, b in _gaps(ranges.get(sid, []), size):
            res.range_gaps.append(f"{path.name}: [{a}, {b}) of {size} bytes not in source_ranges ({sid[:12]})")
    return res
