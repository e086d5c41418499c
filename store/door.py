"""The one door to the database for every database command (query, sessions, rejects,
summary, export, ingest, reparse).

`open_door(db)` decides once whether the file is the command's to open or is held by a
running `logship collect` (store/remote.py reads `<db>.collector.json`; a stale file is
removed there), and the command then asks the door, the same either way:

- `query(sql, params)`: one read-only SELECT as an Arrow table; locally on a connection
  from `open_for_queries` (read-only file, external access off, configuration locked)
  behind `check_query` and a read-only transaction, remotely through /v1/query, which
  runs the same guard;
- `batches(sql)`: all rows of one SELECT as a stream of Arrow batches (export), locally
  the same way, remotely through /v1/export (the local token: no row limit);
- `ingest(...)`, `reparse(...)`, `prune(...)` and `compact()`: the write jobs, locally
  through the store functions, remotely inside the collector (/v1/admin/job), which
  owns the writer and runs them between its commits.

Nothing here prints: progress is an observer the CLI passes in, results go back to it.
A read on a missing database fails before anything is created.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from logship.store.errors import QueryError, StoreError

if TYPE_CHECKING:
    import duckdb

    from datetime import datetime

    from logship.store.compact import CompactResult
    from logship.store.fileingest import IngestOptions
    from logship.store.progress import IngestProgress
    from logship.store.prune import PruneResult
    from logship.store.remote import RunningCollector

__all__ = ["Door", "LocalDoor", "CollectorDoor", "open_door"]


class Door:
    """What a database command may ask; see the module docstring."""

    db: Path

    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        raise NotImplementedError

    def batches(self, sql: str, params: list | dict | None = None) -> pa.RecordBatchReader:
        raise NotImplementedError

    def ingest(self, paths: list[str], options: IngestOptions,
               progress: IngestProgress | None = None) -> tuple[str, list[str]]:
        """(summary line, errors)."""
        raise NotImplementedError

    def reparse(self, grammar_dirs: tuple[Path, ...] = ()) -> str:
        raise NotImplementedError

    def prune(self, cutoff: datetime, export_dir: Path | None = None, dry_run: bool = False) -> PruneResult:
        """Delete (dry: count) rows older than ``cutoff`` (store/prune.py)."""
        raise NotImplementedError

    def compact(self) -> CompactResult:
        """Rewrite the file without its free blocks (store/compact.py)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Door:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalDoor(Door):
    """The file itself; the read-only connection is opened on the first read."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._con: duckdb.DuckDBPyConnection | None = None

    def _reader(self) -> duckdb.DuckDBPyConnection:
        from logship.store.readonly import open_for_queries

        if self._con is None:
            self._con = open_for_queries(self.db)
        return self._con

    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        return self.batches(sql, params).read_all()

    def batches(self, sql: str, params: list | dict | None = None) -> pa.RecordBatchReader:
        import duckdb

        from logship.store.arrows import json_marked_reader
        from logship.store.readonly import check_query, read_only_transaction

        # the connection itself: a cursor would not have its session settings (TimeZone UTC)
        cur = self._reader()
        check_query(cur, sql)
        txn = contextlib.ExitStack()  # the read-only transaction lasts as long as the batches
        txn.enter_context(read_only_transaction(cur))
        try:
            reader = json_marked_reader(cur.sql(sql, params=params))
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            txn.close()
            raise QueryError(f"SQL error: {' '.join(str(exc).split())}") from None

        def rows() -> Any:
            try:
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        return
                    except (duckdb.Error, pa.ArrowException, OSError) as exc:
                        # DuckDB's errors while the reader pulls batches come through pyarrow
                        raise QueryError(f"SQL error: {' '.join(str(exc).split())}") from None
                    yield batch
            finally:
                txn.close()

        return pa.RecordBatchReader.from_batches(reader.schema, rows())

    def ingest(self, paths: list[str], options: IngestOptions,
               progress: IngestProgress | None = None) -> tuple[str, list[str]]:
        from logship.store.fileingest import ingest_paths

        summary = ingest_paths(self.db, paths, options, progress=progress)
        return summary.line(), list(summary.errors)

    def reparse(self, grammar_dirs: tuple[Path, ...] = ()) -> str:
        from logship.store.reparse import reparse_rejects

        if not self.db.exists():
            raise StoreError(f"no database at {self.db} (ingest something first)")
        return reparse_rejects(self.db, grammar_dirs).line()

    def prune(self, cutoff: datetime, export_dir: Path | None = None, dry_run: bool = False) -> PruneResult:
        from logship.store.prune import prune_db

        return prune_db(self.db, cutoff, export_dir, dry_run)

    def compact(self) -> CompactResult:
        from logship.store.compact import compact_db

        return compact_db(self.db)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


class CollectorDoor(Door):
    """The running collector that holds the file (store/remote.py)."""

    def __init__(self, db: Path, running: RunningCollector) -> None:
        self.db = db
        self.running = running

    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        return self.running.query(sql, params)

    def batches(self, sql: str, params: list | dict | None = None) -> pa.RecordBatchReader:
        return self.running.stream(sql, params)

    def ingest(self, paths: list[str], options: IngestOptions,
               progress: IngestProgress | None = None) -> tuple[str, list[str]]:
        return self.running.ingest(paths, client_id=options.client_id, client_id_from_dir=options.client_id_from_dir,
                                   tz=options.tz, log_format=options.log_format, replace=options.replace,
                                   grammar_dirs=[str(p) for p in options.grammar_dirs], year=options.year)

    def reparse(self, grammar_dirs: tuple[Path, ...] = ()) -> str:
        return self.running.job("reparse", grammar_dirs=[str(Path(p).resolve()) for p in grammar_dirs])[0]

    def prune(self, cutoff: datetime, export_dir: Path | None = None, dry_run: bool = False) -> PruneResult:
        from logship.store.prune import PruneResult

        out = self.running.job_json("prune", cutoff=cutoff.isoformat(), dry_run=dry_run,
                                    export_dir=None if export_dir is None else str(Path(export_dir).resolve()))
        return PruneResult.from_json(out["result"])

    def compact(self) -> CompactResult:
        from logship.store.compact import CompactResult

        return CompactResult.from_json(self.running.job_json("compact")["result"])


def open_door(db: str | Path) -> Door:
    """The door to ``db``: the running collector that holds it, else the file."""
    from logship.store.remote import held_by_collector

    db = Path(db)
    running = held_by_collector(db)
    return LocalDoor(db) if running is None else CollectorDoor(db, running)
