"""`logship export`: hive-partitioned Parquet (client_id=.../date=...) for metrics, events
and sessions, which DuckDB, Spark, Trino or ClickHouse read as one data set.

One implementation both ways (and for `logship prune --export`, which stages the rows it
deletes with ``stage_parquet`` and moves them next to earlier ones with
``publish_staged`` once the delete committed): the rows come as Arrow batches through the door
(store/door.py): from a local read-only connection, or streamed from the running
collector's /v1/export (the collector keeps DuckDB's external access off, so DuckDB's
own `COPY ... TO` is not available there). pyarrow's dataset writer writes them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from logship.store.door import Door
from logship.store.errors import OutputError

__all__ = ["EXPORTS", "PARTITIONS", "export_parquet", "stage_parquet", "publish_staged"]

# table -> the SELECT whose rows are written; `date` is the UTC day of the row.
EXPORTS: dict[str, str] = {
    "metrics": "SELECT *, strftime(ts, '%Y-%m-%d') AS date FROM metrics",
    "events": "SELECT *, strftime(ts, '%Y-%m-%d') AS date FROM events",
    "sessions": "SELECT *, strftime(coalesce(started_at, last_seen), '%Y-%m-%d') AS date FROM sessions",
}
PARTITIONS = ["client_id", "date"]


def _write(reader: pa.RecordBatchReader, target: Path, table: str, counts: dict[str, int],
           on_rows: Callable[[str, int], None] | None, basename: str = "part-{i}.parquet") -> None:
    """One table's rows into ``target`` as hive partitions (client_id=/date=), counted."""
    import pyarrow.dataset as ds

    counts[table] = 0

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            counts[table] += batch.num_rows
            if on_rows is not None:
                on_rows(table, counts[table])
            yield batch

    ds.write_dataset(pa.RecordBatchReader.from_batches(reader.schema, counted()), target,
                     format="parquet", partitioning=PARTITIONS, partitioning_flavor="hive",
                     basename_template=basename, existing_data_behavior="overwrite_or_ignore",
                     preserve_order=True)


def export_parquet(door: Door, out: str | Path,
                   on_rows: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write OUT/<table>/client_id=X/date=YYYY-MM-DD/part-N.parquet; returns rows per table.

    Each table is written into a new directory that then replaces the old one as a whole:
    a failed export leaves the earlier one in place. ``on_rows(table, rows)`` is told
    after each batch (for a progress display). Nothing is created before the first
    table's rows start to come (a missing database creates no OUT).
    """
    out = Path(out)
    counts: dict[str, int] = {}
    for table, select in EXPORTS.items():
        reader = door.batches(select)
        target = out / table
        partial = out / f".{table}.partial"
        with _removed_on_failure(partial, f"export of {table} to {target}"):
            out.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            _write(reader, partial, table, counts, on_rows)
            _replace(partial, target)
    return counts


class RowSource(Protocol):
    """Where rows come from: a door (store/door.py), or the store's connection (store/prune.py)."""

    def batches(self, sql: str, params: Any = None) -> pa.RecordBatchReader: ...


def stage_parquet(rows: RowSource, staging: Path, exports: dict[str, str], params: Any = None,
                  on_rows: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write each ``exports`` SELECT into STAGING/<table>/ (hive partitions, files named
    after STAGING so that stagings never collide); ``publish_staged`` moves them into
    place. Nothing of a failed staging is left. Rows per table."""
    counts: dict[str, int] = {}
    tag = staging.name.strip(".").removesuffix(".partial")
    with _removed_on_failure(staging, f"export to {staging.parent}"):
        staging.mkdir(parents=True)
        for table, select in exports.items():
            _write(rows.batches(select, params), staging / table, table, counts, on_rows,
                   basename=f"{tag}-{{i}}.parquet")
    return counts


def publish_staged(staging: Path, out: Path) -> None:
    """Move every staged file to the same place under OUT (renames: one file system),
    next to what earlier stagings put there; the staging directory goes."""
    for f in sorted(p for p in staging.rglob("*") if p.is_file()):
        dest = out / f.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        f.rename(dest)
    shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _removed_on_failure(path: Path, what: str) -> Iterator[None]:
    """Nothing half-written stays: on any failure ``path`` goes; a write error (disk full,
    a directory that cannot be made, pyarrow's own) becomes one OutputError naming ``what``."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        shutil.rmtree(path, ignore_errors=True)
        raise OutputError(f"{what} failed: {' '.join(str(exc).split())}") from None
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _replace(new: Path, target: Path) -> None:
    """``new`` takes the place of ``target`` (renames; the old one is removed afterwards)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
