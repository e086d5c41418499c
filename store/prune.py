"""Retention: delete old rows, keep exactly-once (`logship prune`, `[retention]` of the collector).

What goes (docs/storage.md): fact rows older than the cutoff (metrics and events by
``ts``, rejects by ``received_at``, ingests by ``at``) and the sessions whose last
record (``last_seen``) is before it. What stays: ``sources`` and ``source_ranges``,
so the bytes of pruned rows still count as committed; a resend or a re-ingest of the
same file adds nothing (`logship ingest --replace` brings them back on purpose).

With ``export_dir`` the rows that go are first written as hive-partitioned Parquet by
the one export implementation (store/export.py), read in the same transaction that
deletes them: the Parquet holds exactly the deleted rows. The files are staged in a
hidden directory and moved into place only after the delete committed; a failed delete
removes them, so a later prune does not export the same rows twice. A process killed
between the commit and the move leaves a staging behind: the next prune into the same
directory looks at it first (``recover_staged``): none of its rows in the database any
more, the delete committed and the files are moved into place; all of them still
there, it rolled back and the staging goes (this prune exports them again).

The deleting transaction runs on the store's own connection: offline the file is
opened here, inside the collector the job runs on the writer's thread between commits
(collector/jobs.py). A CHECKPOINT follows, so the freed blocks can be reused at once
(DuckDB does not give them back to the file system; store/compact.py rewrites the file).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from logship.kernel.errors import one_line
from logship.kernel.units import parse_duration_text
from logship.store.errors import StoreError

if TYPE_CHECKING:
    from logship.store.store import Store

__all__ = ["PRUNED", "PRUNE_EXPORTS", "PruneResult", "parse_cutoff", "prune_store", "prune_db", "file_bytes",
           "recover_staged"]

# table -> which of its rows are older than $cutoff. The same condition selects the
# rows exported and the rows deleted (one transaction).
PRUNED: dict[str, str] = {
    "metrics": "ts < $cutoff",
    "events": "ts < $cutoff",
    "rejects": "received_at < $cutoff",
    "ingests": '"at" < $cutoff',
    "session_agg": "last_seen < $cutoff",
}

# what `--export` writes of the rows that go (store/export.py partitions by client_id, date)
PRUNE_EXPORTS: dict[str, str] = {
    "metrics": f"SELECT *, strftime(ts, '%Y-%m-%d') AS date FROM metrics WHERE {PRUNED['metrics']}",
    "events": f"SELECT *, strftime(ts, '%Y-%m-%d') AS date FROM events WHERE {PRUNED['events']}",
    "rejects": "SELECT r.*, s.client_id, strftime(r.received_at, '%Y-%m-%d') AS date "
               "FROM rejects r LEFT JOIN sources s USING (source_id) WHERE r.received_at < $cutoff",
    "ingests": "SELECT i.*, s.client_id, strftime(i.\"at\", '%Y-%m-%d') AS date "
               "FROM ingests i LEFT JOIN sources s USING (source_id) WHERE i.\"at\" < $cutoff",
    "sessions": "SELECT *, strftime(coalesce(started_at, last_seen), '%Y-%m-%d') AS date FROM sessions "
                "WHERE (client_id, session_id) IN (SELECT client_id, session_id FROM session_agg "
                f"WHERE {PRUNED['session_agg']})",
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_cutoff(before: str | None = None, older_than: str | None = None,
                 now: datetime | None = None) -> datetime:
    """The cutoff instant (UTC) from ``--before DATE|TIMESTAMP`` or ``--older-than 30d``."""
    if (before is None) == (older_than is None):
        raise StoreError("give one of --before DATE or --older-than DURATION (e.g. 30d)")
    if older_than is not None:
        seconds = parse_duration_text(older_than)
        if seconds is None or seconds <= 0:
            raise StoreError(f"--older-than {older_than!r}: expected a duration such as 30d, 12h, 90m")
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    assert before is not None
    try:
        when = datetime.fromisoformat(before.strip())
    except ValueError:
        raise StoreError(f"--before {before!r}: expected a date (2026-11-01) or an ISO timestamp") from None
    if when.tzinfo is None:  # a bare date or a local-looking time is UTC (the store keeps UTC)
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def file_bytes(db: str | Path) -> int:
    """The database file plus its write-ahead log, in bytes (0 when missing)."""
    total = 0
    for p in (Path(db), Path(f"{db}.wal")):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


@dataclass
class PruneResult:
    """What a prune deleted (or, dry, would delete), and what it did to the file."""

    cutoff: datetime
    rows: dict[str, int] = field(default_factory=dict)   # table -> rows deleted (session_agg as sessions)
    dry_run: bool = False
    exported: dict[str, int] | None = None             # table -> rows written as Parquet
    export_dir: str | None = None
    span: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # table -> (oldest, newest) that go
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    checkpoint_error: str | None = None
    recovered: list[str] = field(default_factory=list)  # what recover_staged did with left stagings

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def as_json(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff.isoformat(), "rows": self.rows, "dry_run": self.dry_run,
                "exported": self.exported, "export_dir": self.export_dir,
                "span": {t: [None if a is None else str(a), None if b is None else str(b)]
                         for t, (a, b) in self.span.items()},
                "bytes_before": self.bytes_before, "bytes_after": self.bytes_after, "seconds": self.seconds,
                "checkpoint_error": self.checkpoint_error, "recovered": self.recovered}

    @staticmethod
    def from_json(d: dict[str, Any]) -> PruneResult:
        return PruneResult(cutoff=datetime.fromisoformat(d["cutoff"]), rows={k: int(v) for k, v in d["rows"].items()},
                           dry_run=bool(d["dry_run"]), exported=d.get("exported"), export_dir=d.get("export_dir"),
                           span={t: (a, b) for t, (a, b) in (d.get("span") or {}).items()},
                           bytes_before=int(d["bytes_before"]), bytes_after=int(d["bytes_after"]),
                           seconds=float(d["seconds"]), checkpoint_error=d.get("checkpoint_error"),
                           recovered=[str(r) for r in d.get("recovered") or []])

    def line(self) -> str:
        parts = ", ".join(f"{n:,} {_shown(t)}" for t, n in self.rows.items())
        cut = self.cutoff.isoformat().replace("+00:00", "Z")
        if self.dry_run:
            return f"would prune {parts} (older than {cut}); nothing changed"
        out = f"pruned {parts} (older than {cut}) in {self.seconds:.1f} s"
        if self.exported is not None:
            out += f"; exported {sum(self.exported.values()):,} rows to {self.export_dir}"
        out += f"; file {_mib(self.bytes_before)} -> {_mib(self.bytes_after)}"
        if self.checkpoint_error:
            out += f" (checkpoint deferred: {self.checkpoint_error})"
        for note in self.recovered:
            out += f"; {note}"
        return out


def _shown(table: str) -> str:
    return "sessions" if table == "session_agg" else table


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


class _Rows:
    """The store's connection as a row source for store/export.py (inside the prune's transaction)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def batches(self, sql: str, params: Any = None) -> Any:
        from logship.store.arrows import json_marked_reader

        return json_marked_reader(self.con.sql(sql, params=params))


# exported table -> (the table its rows came from, the columns that find a row there again)
_STAGED_KEYS: dict[str, tuple[str, list[str]]] = {
    "metrics": ("metrics", ["source_id", "byte_offset", "ts"]),
    "events": ("events", ["source_id", "byte_offset", "ts"]),
    "rejects": ("rejects", ["source_id", "byte_offset", "received_at"]),
    "ingests": ("ingests", ["id"]),
    "sessions": ("session_agg", ["client_id", "session_id"]),
}


def _still_stored(con: duckdb.DuckDBPyConnection, staging: Path) -> tuple[int, int]:
    """(rows staged, how many of them the database still holds)."""
    import pyarrow.dataset as ds

    from logship.store.batches import registered

    total = found = 0
    for name, (table, keys) in _STAGED_KEYS.items():
        folder = staging / name
        if not any(folder.rglob("*.parquet")):
            continue
        rows = ds.dataset(folder, format="parquet", partitioning="hive").to_table(columns=keys)
        total += rows.num_rows
        match = " AND ".join(f"x.{k} = s.{k}" for k in keys)
        with registered(con, {"_logship_staged": rows}):
            found += int(con.execute(f"SELECT count(*) FROM _logship_staged s WHERE EXISTS "
                                     f"(SELECT 1 FROM {table} x WHERE {match})").fetchall()[0][0])
    return total, found


def recover_staged(con: duckdb.DuckDBPyConnection, export_dir: Path) -> list[str]:
    """Finish what a prune killed between its commit and its move left in ``export_dir``."""
    import shutil

    from logship.store.export import publish_staged

    notes = []
    for staging in sorted(export_dir.glob(".prune-*.partial")) if export_dir.is_dir() else []:
        total, found = _still_stored(con, staging)
        if total and not found:
            publish_staged(staging, export_dir)
            notes.append(f"moved {total:,} rows of an earlier prune's export ({staging.name}) into place")
        elif found == total:
            shutil.rmtree(staging, ignore_errors=True)
            if total:
                notes.append(f"removed {staging.name}: its prune was rolled back ({total:,} rows still stored)")
        else:
            notes.append(f"left {staging} as it is: {found:,} of its {total:,} rows are stored again; "
                         "move or remove it by hand")
    return notes


_TIME_COLUMN = {"metrics": "ts", "events": "ts", "rejects": "received_at", "ingests": '"at"',
                "session_agg": "last_seen"}


def prune_store(st: Store, cutoff: datetime, export_dir: str | Path | None = None, dry_run: bool = False,
                checkpoint: bool = True, on_rows: Callable[[str, int], None] | None = None) -> PruneResult:
    """Delete (or, ``dry_run``, count) what is older than ``cutoff``; see the module docstring.

    Runs on the store's connection in one transaction; the caller is its only user
    meanwhile (offline: this process; the collector: its writer thread)."""
    from logship.store.export import publish_staged, stage_parquet

    if cutoff.tzinfo is None:
        raise StoreError("the cutoff must be an aware instant (UTC)")
    t0 = time.monotonic()
    con = st.con
    params = {"cutoff": cutoff}
    res = PruneResult(cutoff=cutoff, dry_run=dry_run, bytes_before=file_bytes(st.path),
                      export_dir=None if export_dir is None else str(export_dir))
    if dry_run:
        for table, where in PRUNED.items():
            n, lo, hi = con.execute(f"SELECT count(*), min({_TIME_COLUMN[table]}), max({_TIME_COLUMN[table]}) "
                                    f"FROM {table} WHERE {where}", params).fetchall()[0]
            res.rows[table] = int(n)
            res.span[table] = (lo, hi)
        res.bytes_after = res.bytes_before
        res.seconds = time.monotonic() - t0
        return res
    staged: Path | None = None
    if export_dir is not None:
        res.recovered = recover_staged(con, Path(export_dir))
    try:
        with st.transaction():
            if export_dir is not None:
                staged = Path(export_dir) / f".prune-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.partial"
                res.exported = stage_parquet(_Rows(con), staged, PRUNE_EXPORTS, params, on_rows=on_rows)
            for table, where in PRUNED.items():
                res.rows[table] = int(con.execute(f"DELETE FROM {table} WHERE {where}", params).fetchall()[0][0])
    except BaseException:
        if staged is not None:
            import shutil

            shutil.rmtree(staged, ignore_errors=True)
        raise
    if staged is not None:
        publish_staged(staged, Path(export_dir))  # type: ignore[arg-type]
    if checkpoint:
        try:
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:  # another transaction holds it (a long query): the next commit's will do
            res.checkpoint_error = one_line(exc)
    res.bytes_after = file_bytes(st.path)
    res.seconds = time.monotonic() - t0
    return res


def prune_db(db: str | Path, cutoff: datetime, export_dir: str | Path | None = None,
             dry_run: bool = False) -> PruneResult:
    """`logship prune` on a database file no collector holds."""
    from logship.store.store import Store

    if not Path(db).exists():
        raise StoreError(f"no database at {db} (ingest something first)")
    with Store(db, read_only=dry_run) as st:
        return prune_store(st, cutoff, export_dir, dry_run)
