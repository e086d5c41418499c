"""`logship compact`: rewrite the database file without its free blocks.

DuckDB (2.0) never gives space back to the file system in place: after a large DELETE
and a CHECKPOINT the freed blocks are marked free and reused by later inserts, but the
file keeps its size (measured in bench/RESULTS.md, issue 14; VACUUM does not change
that). So after a prune the file stops growing until the freed space is used up, and
only a rewrite makes it smaller: ``COPY FROM DATABASE`` into a new file next to it
(tables, the ingests sequence with its current value, keys, the sessions view), a
check that every table has the same number of rows, an fsync, and a rename over the
old file. A crash before the rename leaves the old file as it was (and a
``<db>.compact`` to delete); after it, the new one.

The file must not be written meanwhile: offline this process holds it; the collector
runs the job on its writer's thread, closes its connection, rewrites, and reopens
(collector/jobs.py), so live frames wait and nothing is lost.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from logship.kernel.errors import one_line
from logship.store.errors import StoreError
from logship.store.prune import file_bytes

__all__ = ["CompactResult", "compact_file", "compact_db"]


@dataclass(frozen=True)
class CompactResult:
    bytes_before: int
    bytes_after: int
    seconds: float

    def line(self) -> str:
        return (f"compacted in {self.seconds:.1f} s: file {self.bytes_before / 2**20:,.1f} MiB -> "
                f"{self.bytes_after / 2**20:,.1f} MiB")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> CompactResult:
        return CompactResult(int(d["bytes_before"]), int(d["bytes_after"]), float(d["seconds"]))


def _counts(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, int]:
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name", [catalog]).fetchall()]
    return {t: int(con.execute(f'SELECT count(*) FROM "{catalog}"."{t}"').fetchall()[0][0]) for t in tables}


def compact_file(db: str | Path) -> CompactResult:
    """Rewrite ``db`` (closed by every connection of this process; checkpointed, no WAL)."""
    db = Path(db)
    if not db.exists():
        raise StoreError(f"no database at {db} (ingest something first)")
    t0 = time.monotonic()
    before = file_bytes(db)
    tmp = db.with_name(db.name + ".compact")
    tmp.unlink(missing_ok=True)
    Path(f"{tmp}.wal").unlink(missing_ok=True)
    try:
        con = duckdb.connect()  # in memory: only to attach both files
        try:
            con.execute("ATTACH ? AS logship_old", [str(db)])
            con.execute("CHECKPOINT logship_old")  # the WAL into the old file: it is left whole
            con.execute("ATTACH ? AS logship_new", [str(tmp)])
            con.execute("COPY FROM DATABASE logship_old TO logship_new")
            old, new = _counts(con, "logship_old"), _counts(con, "logship_new")
            if old != new:
                raise StoreError(f"compact of {db}: the copy differs ({old} != {new}); the old file is kept")
            con.execute("CHECKPOINT logship_new")
            con.execute("DETACH logship_new")
            con.execute("DETACH logship_old")
        finally:
            con.close()
        for wal in (Path(f"{tmp}.wal"), Path(f"{db}.wal")):
            if wal.exists():  # a log left would be replayed onto the wrong file
                raise StoreError(f"compact of {db}: {wal} is left after the checkpoint; the old file is kept")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, db)
        dfd = os.open(db.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except duckdb.Error as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"compact of {db} failed, the old file is kept: {one_line(exc)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return CompactResult(before, file_bytes(db), time.monotonic() - t0)


def compact_db(db: str | Path) -> CompactResult:
    """`logship compact` on a file no collector holds (brought to this logship's schema first)."""
    from logship.store.store import Store

    if not Path(db).exists():
        raise StoreError(f"no database at {db} (ingest something first)")
    Store(db).close()  # migrates an older file, and fails clearly on a file another process holds
    return compact_file(db)
