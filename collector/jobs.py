"""POST /v1/admin/job: `logship ingest`, `reparse`, `prune` and `compact` run inside the
collector that holds the database (only with the local token of <db>.collector.json: the
job reads and writes files on this machine as the collector's user); and the periodic
retention job of `[retention] days` (``retention_loop``).

A job runs on the writer's thread, which owns the connection, through the same store
functions the CLI calls (store.fileingest.ingest_paths, store.reparse.reparse_rejects);
live frames wait meanwhile (their credit stops, nothing is lost). An ingest job parses
context-free files in the collector's parse workers (``parse_workers``, forked at start:
forking now, with DuckDB's threads running, would be unsafe), unless it brings its own
grammar directories (the workers do not have them); else on the writer's thread. The
writer's thread is one thread: a job never runs while a group commit does.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from logship.kernel.errors import one_line

from .replies import error_exception, error_reply
from .state import CollectorState

__all__ = ["handle_job", "retention_loop", "run_retention"]

log = logging.getLogger("logship.collector.jobs")


def _bad(message: str) -> web.HTTPBadRequest:
    return error_exception(web.HTTPBadRequest, "bad_job", message)


def _ingest(state: CollectorState, body: dict[str, Any]) -> dict[str, Any]:
    from logship.store.fileingest import IngestOptions, ingest_paths

    opts = body.get("options") or {}
    options = IngestOptions(client_id=str(opts.get("client_id") or "local"),
                            client_id_from_dir=bool(opts.get("client_id_from_dir")), tz=opts.get("tz"),
                            log_format=opts.get("log_format"), replace=bool(opts.get("replace")),
                            grammar_dirs=tuple(Path(p) for p in opts.get("grammar_dirs") or ()),
                            year=_year(opts.get("year")), limits=state.config.limits, workers=1)
    pool = None if options.grammar_dirs else state.store.pool
    summary = ingest_paths(state.store.store, [str(p) for p in body["paths"]], options, pool=pool)
    return {"line": summary.line(), "errors": list(summary.errors)}


def _year(value: Any) -> int | None:
    """`ingest --year` as the job carries it: an int 1..9999 or nothing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9999:
        raise ValueError(f"field options.year: expected a year 1..9999, got {value!r}")
    return value


def _reparse(state: CollectorState, body: dict[str, Any]) -> dict[str, Any]:
    from logship.store.reparse import reparse_rejects

    summary = reparse_rejects(state.store.store, tuple(Path(p) for p in body.get("grammar_dirs") or ()))
    return {"line": summary.line(), "errors": []}


def _prune(state: CollectorState, body: dict[str, Any]) -> dict[str, Any]:
    from logship.store.prune import prune_store

    try:
        cutoff = datetime.fromisoformat(str(body.get("cutoff")))
    except ValueError:
        raise ValueError(f"prune: cutoff {body.get('cutoff')!r} is not an ISO timestamp") from None
    if cutoff.tzinfo is None:
        raise ValueError("prune: the cutoff needs a zone offset")
    export = body.get("export_dir")
    res = prune_store(state.store.store, cutoff, None if export is None else Path(str(export)),
                      dry_run=bool(body.get("dry_run")))
    state.metrics.pruned(res)
    return {"line": res.line(), "errors": [], "result": res.as_json()}


def _compact(state: CollectorState, body: dict[str, Any]) -> dict[str, Any]:
    """Close the database, rewrite it (store/compact.py), open it again: the writer's
    reopen path, so the query runner gets the new connection too."""
    from logship.store.compact import compact_file

    adapter = state.store
    path = adapter.store.path
    adapter.store.close()
    try:
        res = compact_file(path)
    finally:
        adapter.reopen()  # StoreUnavailable if it cannot: the writer retries (fatal, reopen)
    return {"line": res.line(), "errors": [], "result": res.as_json()}


_JOBS = {"ingest": _ingest, "reparse": _reparse, "prune": _prune, "compact": _compact}


async def handle_job(request: web.Request) -> web.Response:
    state: CollectorState = request.app["state"]
    if not state.require_admin(request):
        raise web.HTTPForbidden(text='{"error":{"code":"forbidden","message":"jobs need the local token"}}',
                                content_type="application/json")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise _bad("expected a JSON body") from None
    job = _JOBS.get(body.get("job")) if isinstance(body, dict) else None
    if job is None:
        raise _bad(f"job must be one of {', '.join(_JOBS)}")
    if body["job"] == "ingest" and not (isinstance(body.get("paths"), list) and body["paths"]):
        raise _bad("ingest needs paths")

    def run() -> dict[str, Any]:
        try:
            return job(state, body)
        finally:
            state.store.parsers.clear()  # sources may have moved on outside the live path

    try:
        out = await state.writer.run_in_thread(run)
    except Exception as exc:  # noqa: BLE001 - a LogshipError (bad zone, format...) goes back as one line
        return error_reply(400, "job_failed", one_line(exc))
    return web.json_response(out)


def run_retention(state: CollectorState, days: float, export_dir: Path | None) -> str:
    """One retention prune on the writer's thread: rows older than ``days`` go."""
    body = {"cutoff": (datetime.now(UTC) - timedelta(days=days)).isoformat(),
            "export_dir": None if export_dir is None else str(export_dir)}
    return str(_prune(state, body)["line"])


async def retention_loop(state: CollectorState, days: float, every_s: float, export_dir: Path | None) -> None:
    """`[retention] days`: prune every ``every_s`` (the first one soon after the start),
    on the writer's thread between commits. A store that cannot commit skips a round."""
    await asyncio.sleep(min(every_s, 5.0))
    while True:
        try:
            line = await state.writer.run_in_thread(run_retention, state, days, export_dir)
            log.info("retention (%g days): %s", days, line)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next round tries again; the service goes on
            log.error("retention prune failed (next try in %g s): %s", every_s, one_line(exc))
        await asyncio.sleep(every_s)
