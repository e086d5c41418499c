"""Progress of `logship ingest` (a rich bar) and `logship export` (rows per table), on a
terminal; nothing otherwise."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from logship.store.progress import IngestProgress, NullProgress

__all__ = ["RichProgress", "progress_for", "rows_progress"]


class RichProgress:
    """Bytes (of the input files), lines/s and rejects, on stderr."""

    def __init__(self, total_bytes: int | None, stream: TextIO | None = None) -> None:
        self.console = Console(file=stream or sys.stderr)
        self.lines = 0
        self.rejects = 0
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            DownloadColumn(),
            TextColumn("{task.fields[rate]:>8} lines/s {task.fields[rejects]} rejects"),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("ingest", total=total_bytes, rate="-", rejects=0)
        self.progress.start()

    def start_file(self, name: str, total_bytes: int | None) -> None:
        """A bar per file: its size, or no total for gzip and stdin (decompressed bytes)."""
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        shown = base if len(base) <= 24 else "..." + base[-21:]
        self.progress.reset(self.task, total=total_bytes, description=shown, rate=self._rate(),
                            rejects=self.rejects)

    def advance(self, nbytes: int, lines: int, rejects: int) -> None:
        self.lines += lines
        self.rejects += rejects
        self.progress.update(self.task, advance=nbytes, rate=self._rate(), rejects=self.rejects)

    def _rate(self) -> str:
        elapsed = time.perf_counter() - self.started
        return f"{self.lines / elapsed:,.0f}" if elapsed > 0 and self.lines else "-"

    def close(self) -> None:
        self.progress.stop()


def progress_for(total_bytes: int | None, stream: TextIO | None = None) -> IngestProgress:
    """A rich bar when ``stream`` (default stderr) is a terminal, else a silent observer."""
    stream = stream or sys.stderr
    if stream.isatty():
        return RichProgress(total_bytes, stream)
    return NullProgress()


@contextlib.contextmanager
def rows_progress(stream: TextIO | None = None) -> Iterator[Callable[[str, int], None] | None]:
    """``on_rows(table, rows)`` for store/export.py: a line per table with the rows
    written so far, on a terminal (``stream``, default stderr); None when not a terminal."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield None
        return
    progress = Progress(TextColumn("export {task.description}"), TextColumn("{task.completed:,.0f} rows"),
                        console=Console(file=stream), transient=True)
    tasks: dict[str, object] = {}

    def on_rows(table: str, rows: int) -> None:
        if table not in tasks:
            tasks[table] = progress.add_task(table, total=None)
        progress.update(tasks[table], completed=rows)  # type: ignore[arg-type]

    with progress:
        yield on_rows
