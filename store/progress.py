"""Progress of `logship ingest`: a rich bar on a terminal, nothing otherwise.

The ingest driver reports through the small IngestProgress protocol, so it stays free
of presentation and the collector (or a test) can pass its own observer.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["IngestProgress", "NullProgress", "RichProgress", "progress_for"]


class IngestProgress(Protocol):
    def start_file(self, name: str, total_bytes: int | None) -> None: ...
    def advance(self, nbytes: int, lines: int, rejects: int) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def start_file(self, name: str, total_bytes: int | None) -> None:
        pass

    def advance(self, nbytes: int, lines: int, rejects: int) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress:
    """Bytes (of the input files), lines/s and rejects, on stderr."""

    def __init__(self, total_bytes: int | None, stream: TextIO | None = None) -> None:
        self.console = Console(file=stream or sys.stderr)
        self.lines = 0
        self.rejects = 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rate]:>10} lines/s  {task.fields[rejects]} rejects"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("ingest", total=total_bytes, rate="-", rejects=0)
        self.progress.start()

    def start_file(self, name: str, total_bytes: int | None) -> None:
        shown = name if len(name) <= 40 else "..." + name[-37:]
        self.progress.update(self.task, description=shown)

    def advance(self, nbytes: int, lines: int, rejects: int) -> None:
        self.lines += lines
        self.rejects += rejects
        elapsed = self.progress.tasks[0].elapsed or 0.0
        rate = f"{self.lines / elapsed:,.0f}" if elapsed > 0 else "-"
        self.progress.update(self.task, advance=nbytes, rate=rate, rejects=self.rejects)

    def close(self) -> None:
        self.progress.stop()


def progress_for(total_bytes: int | None, stream: TextIO | None = None) -> IngestProgress:
    """A rich bar when ``stream`` (default stderr) is a terminal, else a silent observer."""
    stream = stream or sys.stderr
    if stream.isatty():
        return RichProgress(total_bytes, stream)
    return NullProgress()
