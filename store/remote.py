"""The client side of a running collector for local tools: `logship query` (and the
canned queries) ask the collector that holds the database file, through
`<db>.collector.json` (url, pid, a local admin token; mode 0600, removed on exit).

Only the standard library, psutil and pyarrow here: it runs inside `logship query`.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from logship.store.errors import RemoteError

__all__ = ["RunningCollector", "held_by_collector", "process_started", "ARROW_STREAM"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (psutil's create_time), or None when it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _is_the_collector(pid: int, started: Any) -> bool:
    """The pid runs, is not a zombie, and is the process that wrote the file.

    ``os.kill(pid, 0)`` also succeeds for a zombie (a collector killed with -9 that its
    parent has not reaped yet) and for a pid the system has handed to another process;
    the start time recorded in the file tells the collector from an impostor.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return isinstance(started, (int, float)) and abs(proc.create_time() - float(started)) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


@dataclass(frozen=True)
class RunningCollector:
    url: str
    token: str
    pid: int

    def _post(self, path: str, payload: dict[str, Any], accept: str, timeout: float) -> bytes:
        body = json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Accept": accept})
        # the collector is on this machine; its certificate may be self-signed
        ctx = ssl._create_unverified_context() if self.url.startswith("https://") else None  # noqa: S323
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            try:
                msg = json.loads(exc.read().decode())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                msg = f"HTTP {exc.code}"
            raise RemoteError(f"collector at {self.url}: {msg}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RemoteError(f"the collector at {self.url} holds the database but did not answer: {exc}") from None

    def job(self, job: str, timeout: float = 3600.0, **fields: Any) -> tuple[str, list[str]]:
        """Run `ingest` or `reparse` inside the collector: (summary line, errors)."""
        out = json.loads(self._post("/v1/admin/job", {"job": job, **fields}, "application/json", timeout))
        return str(out["line"]), [str(e) for e in out.get("errors", [])]

    def ingest(self, paths: list[str], **options: Any) -> tuple[str, list[str]]:
        """`logship ingest` on the collector; paths are made absolute here (its cwd differs)."""
        if "-" in paths:
            raise RemoteError("stdin cannot be ingested through the running collector; stop it or write a file")
        opts = {k: ([str(Path(p).resolve()) for p in v] if k == "grammar_dirs" and v else v)
                for k, v in options.items()}
        return self.job("ingest", paths=[os.path.abspath(p) for p in paths], options=opts)

    def query(self, sql: str, params: Any = None, timeout: float = 600.0) -> Any:
        """Run one SELECT on the collector; the rows as a pyarrow Table (types kept)."""
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401

        data = self._post("/v1/query", {"sql": sql, "params": params}, ARROW_STREAM, timeout)
        return pa.ipc.open_stream(data).read_all()


def held_by_collector(db: str | Path) -> RunningCollector | None:
    """The running collector that holds this database file, or None (use the file).

    A stale file (its collector is dead, a zombie, or its pid now belongs to another
    process) is removed, with a note on stderr, so that local tools go on.
    """
    cfile = Path(db).with_name(Path(db).name + ".collector.json")
    try:
        text = cfile.read_text(encoding="utf-8")
        info = json.loads(text)
        pid, url, token = int(info["pid"]), str(info["url"]), str(info["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    if not _is_the_collector(pid, info.get("started")):
        _remove_stale(cfile, text, pid)
        return None
    return RunningCollector(url=url, token=token, pid=pid)


def _remove_stale(cfile: Path, text: str, pid: int) -> None:
    """Remove the file unless a new collector replaced it since it was read."""
    try:
        if cfile.read_text(encoding="utf-8") == text:
            cfile.unlink()
            print(f"note: removed {cfile}: its collector (pid {pid}) is no longer running", file=sys.stderr)
    except OSError:
        pass  # gone already, or not ours to remove: either way it is not used
