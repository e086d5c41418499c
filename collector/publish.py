"""`<db>.collector.json`: how local tools find the collector that holds a database file.

Written once the collector listens, removed when it exits (if it is still ours). A
full disk must not stop a collector from starting (a supervisor restarts it while the
disk is full, and it must serve, answer /healthz and recover): a write that fails is
said once in the log, its temp file removed, and tried again every `publish_retry_s`
until it succeeds. Until then local tools do not see the collector and meet DuckDB's
file lock, which names the process that holds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from logship.store.remote import process_started

__all__ = ["collector_file", "Publisher"]

log = logging.getLogger("logship.collector")


def collector_file(db: Path) -> Path:
    """`<db>.collector.json`: how `logship query/ingest` find a collector holding the db."""
    return db.with_name(db.name + ".collector.json")


class Publisher:
    """Writes the file (atomically, mode 0600), retrying in the background while it cannot."""

    def __init__(self, db: Path, retry_s: float) -> None:
        self.path = collector_file(db)
        self.db = db
        self.retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self._doc: dict[str, object] = {}

    def start(self, url: str, token: str) -> None:
        self._doc = {"url": url, "pid": os.getpid(), **(process_started(os.getpid()) or {}),
                     "token": token, "db": str(self.db.resolve())}
        if not self._try_write(first=True):
            self._task = asyncio.get_running_loop().create_task(self._retry(), name="publish-collector-file")

    def _try_write(self, first: bool = False) -> bool:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(self._doc))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if first:
                log.error("cannot write %s: %s; local tools will not find this collector until it is "
                          "written (retrying every %g s)", self.path, exc.strerror or exc, self.retry_s)
            return False
        if not first:
            log.info("%s: written", self.path)
        return True

    async def _retry(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            if self._try_write():
                return

    def withdraw(self) -> None:
        """Stop retrying; remove the file if it is still ours (a new collector may have replaced it)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            if json.loads(self.path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                self.path.unlink()
        except (OSError, ValueError) as exc:  # already gone or replaced: nothing of ours to remove
            log.debug("left %s alone: %s", self.path, exc)
