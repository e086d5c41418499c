"""The client side of a running collector for local tools (through store/door.py): the
database commands ask the collector that holds the database file, found through
`<db>.collector.json` (url, pid, the process's start time, a local admin token; mode
0600, removed on exit).

Only the standard library, psutil and pyarrow here: it runs inside `logship query`.
"""

from __future__ import annotations

import http.client
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

from logship.kernel.procstart import same_start, start_mark
from logship.store.errors import QueryError, RemoteError

__all__ = ["RunningCollector", "held_by_collector", "process_started", "ARROW_STREAM"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def process_started(pid: int) -> dict[str, float] | None:
    """When process ``pid`` started, as kernel/procstart.py records it (psutil's
    create_time, and the time since boot), or None when it is gone."""
    try:
        return start_mark(psutil.Process(pid).create_time(), psutil.boot_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _is_the_collector(pid: int, recorded: dict[str, Any]) -> bool:
    """The pid runs, is not a zombie, and is the process that wrote the file.

    ``os.kill(pid, 0)`` also succeeds for a zombie (a collector killed with -9 that its
    parent has not reaped yet) and for a pid the system has handed to another process;
    the start time recorded in the file tells the collector from an impostor (also after
    the wall clock was stepped: kernel/procstart.py).
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return same_start(recorded, proc.create_time(), psutil.boot_time(), 1.0)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


@dataclass(frozen=True)
class RunningCollector:
    url: str
    token: str
    pid: int

    def _open(self, path: str, payload: dict[str, Any], accept: str, timeout: float) -> Any:
        """POST ``payload``; the open response, or RemoteError (QueryError for a refused query)."""
        body = json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json", "Accept": accept})
        # the collector is on this machine; its certificate may be self-signed
        ctx = ssl._create_unverified_context() if self.url.startswith("https://") else None  # noqa: S323
        try:
            return urllib.request.urlopen(req, timeout=timeout, context=ctx)
        except urllib.error.HTTPError as exc:
            try:
                error = json.loads(exc.read().decode())["error"]
                code, msg = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, msg = "", f"HTTP {exc.code}"
            if code == "query_refused":  # the same guard's words as offline (store/readonly.py)
                raise QueryError(msg) from None
            raise RemoteError(f"collector at {self.url}: {msg}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(
                f"the collector (pid {self.pid}) at {self.url} holds the database but does not answer ({reason}): "
                f"wait until it answers, or stop it (kill {self.pid}) and run this again") from None

    def _post(self, path: str, payload: dict[str, Any], accept: str, timeout: float) -> bytes:
        with self._open(path, payload, accept, timeout) as r:
            try:
                return r.read()
            except (OSError, http.client.HTTPException) as exc:
                raise RemoteError(f"the answer of the collector at {self.url} was cut off: {exc}") from None

    def job(self, job: str, timeout: float = 3600.0, **fields: Any) -> tuple[str, list[str]]:
        """Run `ingest` or `reparse` inside the collector: (summary line, errors)."""
        out = json.loads(self._post("/v1/admin/job", {"job": job, **fields}, "application/json", timeout))
        return str(out["line"]), [str(e) for e in out.get("errors", [])]

    def job_json(self, job: str, timeout: float = 3600.0, **fields: Any) -> dict[str, Any]:
        """Run a job (prune, compact) inside the collector; its whole JSON answer."""
        out = json.loads(self._post("/v1/admin/job", {"job": job, **fields}, "application/json", timeout))
        if not isinstance(out, dict):
            raise RemoteError(f"collector at {self.url}: unexpected answer to job {job}")
        return out

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

    def stream(self, sql: str, params: Any = None, timeout: float = 3600.0) -> Any:
        """All rows of one SELECT as a pyarrow RecordBatchReader, streamed from /v1/export
        (the local token: no row limit); a stream that breaks off is RemoteError."""
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401

        resp = self._open("/v1/export", {"sql": sql, "params": params}, ARROW_STREAM, timeout)
        try:
            reader = pa.ipc.open_stream(resp)
        except (OSError, pa.ArrowException, http.client.HTTPException) as exc:
            resp.close()
            raise RemoteError(f"the export stream of the collector at {self.url} is broken: {exc}") from None

        def batches() -> Any:
            try:
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        resp.read()  # the end of the chunked body: the collector finished its answer
                        return
                    except (OSError, pa.ArrowException, http.client.HTTPException) as exc:
                        raise RemoteError(f"the export stream of the collector at {self.url} was cut off: "
                                          f"{' '.join(str(exc).split())}") from None
                    yield batch
            finally:
                resp.close()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


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
    if not _is_the_collector(pid, info):
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
