"""Wake-ups for the tailer: watchdog events plus a slow poll.

The watchdog callbacks only put a small marker on a queue and wake the asyncio loop
(python-watchdog's own producer/consumer rule): no stat, no read, no parsing inside a
file-system callback. The daemon drains the queue: a *created/moved/deleted* event asks
for a full ``Tailer.scan()``. Appends are not events here: the daemon's cheap
``Tailer.refresh()`` (fstat of the open files) runs every ``read_interval``. The daemon
also scans every ``poll_interval`` seconds, for file systems that send no events
(network shares, some containers) and for anything an event could miss.

Watched directories: the fixed part of each glob (recursively when the glob has a
wildcard in a directory part or ``**``), plus the directory of every symlink target,
because writes through a link are reported in the target's directory.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import queue
from pathlib import Path
from typing import Callable, Iterable

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

__all__ = ["Discovery", "watch_roots", "CHANGED"]

log = logging.getLogger("logship.shipper.discovery")

CHANGED = "changed"     # a file appeared, moved or vanished: rescan the globs

# No modify events: appends are noticed by the daemon's fstat of its open files every
# read_interval (one cheap timer), which costs far less than one event through
# watchdog's threads per written line.
_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileDeletedEvent, FileMovedEvent,
    DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]


def watch_roots(patterns: Iterable[str]) -> dict[str, bool]:
    """Directories to watch for the globs -> whether recursively."""
    roots: dict[str, bool] = {}
    for pat in patterns:
        pat = os.path.abspath(os.path.expanduser(pat))
        parts = Path(pat).parts
        fixed: list[str] = []
        for part in parts[:-1]:
            if glob.has_magic(part):
                break
            fixed.append(part)
        recursive = len(fixed) < len(parts) - 1
        root = str(Path(*fixed)) if fixed else os.sep
        # a root that does not exist yet is found by the slow poll, then watched
        roots[root] = roots.get(root, False) or recursive
    return roots


class _Handler(FileSystemEventHandler):
    def __init__(self, q: "queue.SimpleQueue[tuple[str, str]]", wake: Callable[[], None]) -> None:
        self._q = q
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = CHANGED
        path = event.src_path if isinstance(event.src_path, str) else event.src_path.decode(errors="replace")
        self._q.put((kind, path))
        self._wake()


class Discovery:
    """A watchdog observer whose events become markers on a queue for the asyncio loop."""

    def __init__(self, patterns: Iterable[str], loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        self.patterns = list(patterns)
        self._loop = loop
        self._wake_event = wake
        self._q: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._observer = Observer()
        self._observer.name = "logship-discovery"
        self._watches: dict[str, ObservedWatch] = {}
        self._handler = _Handler(self._q, self._wake)

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._wake_event.set)
        except RuntimeError:
            pass  # the loop is closing: the daemon is stopping, nothing to wake

    def start(self) -> None:
        self.update_watches([])
        self._observer.start()

    def update_watches(self, paths: Iterable[str]) -> None:
        """Watch the globs' roots and the directories of symlink targets among ``paths``."""
        wanted = watch_roots(self.patterns)
        for p in paths:
            if os.path.islink(p):
                wanted.setdefault(os.path.dirname(os.path.realpath(p)), False)
        for root, recursive in wanted.items():
            if root in self._watches or not os.path.isdir(root):
                continue
            try:
                self._watches[root] = self._observer.schedule(
                    self._handler, root, recursive=recursive, event_filter=_EVENTS
                )
            except OSError as exc:
                log.warning("%s: cannot watch (%s); the slow poll covers it", root, exc)

    def drain(self) -> bool:
        """Whether any created/moved/deleted event was queued since the last drain."""
        changed = False
        while True:
            try:
                self._q.get_nowait()
            except queue.Empty:
                return changed
            changed = True

    def stop(self) -> None:
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=5)
