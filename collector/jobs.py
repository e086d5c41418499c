"""POST /v1/admin/job: `logship ingest` and `logship reparse` run inside the collector
that holds the database (only with the local token of <db>.collector.json: the job
reads files on this machine as the collector's user).

A job runs on the writer's thread, which owns the connection, through the same store
functions the CLI calls (store.fileingest.ingest_paths, store.reparse.reparse_rejects);
live frames wait meanwhile (their credit stops, nothing is lost). Parsing stays
in-process (no worker pool: forking a process with threads is unsafe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from logship.kernel.errors import one_line

from .replies import error_exception, error_reply
from .state import CollectorState

__all__ = ["handle_job"]


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
    summary = ingest_paths(state.store.store, [str(p) for p in body["paths"]], options)
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


_JOBS = {"ingest": _ingest, "reparse": _reparse}


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
