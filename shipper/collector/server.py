"""The collector process: aiohttp app, routes, start-up and graceful shutdown.

aiohttp serves HTTP and WebSockets from one event loop (the field's standard asyncio
server, also used by the shipper as a client), with built-in WebSocket heartbeats.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import ssl
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from .auth import Authenticator
from .bodies import handle_backlog, handle_lines
from .config import CollectorConfig
from .errors import CollectorError
from .jobs import handle_job
from .query import QueryRunner, disable_external_access, handle_query
from .remote import process_started
from .state import CollectorState
from .storeport import open_store
from .stream import handle_stream

__all__ = ["make_app", "serve", "run", "collector_file"]

log = logging.getLogger("logship.collector")


def collector_file(db: Path) -> Path:
    """`<db>.collector.json`: how `logship query/ingest` find a collector holding the db."""
    return db.with_name(db.name + ".collector.json")


async def handle_healthz(request: web.Request) -> web.Response:
    """200 `ok`; 503 `stopping` while shutting down, 503 `store_failing` (with the reason
    in `store.error`) while the store cannot commit (disk full, I/O error, reopening)."""
    state: CollectorState = request.app["state"]
    health = state.writer.health
    status = "stopping" if state.shutting_down else "store_failing" if health.failing else "ok"
    body = {"status": status, "store": health.as_json(),
            "connections": state.metrics.connections, "queue_bytes": state.writer.queued_bytes,
            "inflight_bytes": state.bank.inflight}
    return web.json_response(body, status=200 if status == "ok" else 503)


async def handle_metrics(request: web.Request) -> web.Response:
    state: CollectorState = request.app["state"]
    return web.Response(text=state.metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def make_app(state: CollectorState, query: QueryRunner) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app["state"] = state
    app["query"] = query
    app.router.add_get("/v1/stream", handle_stream)
    app.router.add_post("/v1/backlog", handle_backlog)
    app.router.add_post("/v1/lines", handle_lines)
    app.router.add_post("/v1/query", handle_query)
    app.router.add_post("/v1/admin/job", handle_job)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/metrics", handle_metrics)
    return app


def _ssl_context(cfg: CollectorConfig) -> ssl.SSLContext | None:
    if cfg.tls_cert is None or cfg.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise CollectorError(f"cannot load TLS certificate {cfg.tls_cert} / key {cfg.tls_key}: {exc}") from None
    return ctx


async def serve(cfg: CollectorConfig, on_ready: Callable[[str], None], stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM), then shut down gracefully."""
    auth = Authenticator.from_files(cfg.token_file, cfg.hmac_secret_file, cfg.admin_token_file)
    ctx = _ssl_context(cfg)
    try:
        store = open_store(cfg.db, cfg.limits.memory_limit, cfg.limits.max_line_bytes)
    except Exception as exc:
        raise CollectorError(f"cannot open {cfg.db}: {exc}") from None
    disable_external_access(store.store.con)
    state = CollectorState(cfg, auth, store)
    query = QueryRunner(store.store.con, cfg.query_row_limit, cfg.query_time_limit_s)

    def reopened(con: object) -> None:
        # after a fatal DuckDB error the writer reopens the database: queries use the new one
        disable_external_access(con)  # type: ignore[arg-type]
        query.con = con  # type: ignore[assignment]

    store.on_reopen.append(reopened)
    app = make_app(state, query)
    # keepalive_timeout is also aiohttp's only bound on a connection that has not sent a
    # whole request line and headers yet (a slowloris client): header_timeout_s
    runner = web.AppRunner(app, handle_signals=False, auto_decompress=False, access_log=None,
                           keepalive_timeout=cfg.header_timeout_s)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    hooked: list[int] = []
    cfile = collector_file(cfg.db)
    state.writer.start()
    try:
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=ctx, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            raise CollectorError(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror}") from None
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        url = f"{cfg.scheme}://{shown}:{port}"
        tmp = cfile.with_name(cfile.name + ".tmp")
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "started": process_started(os.getpid()),
                                   "token": state.local_token, "db": str(cfg.db.resolve())}),
                       encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, cfile)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                hooked.append(sig)
            except (NotImplementedError, RuntimeError):
                pass  # not the main thread or not POSIX: the caller sets `stop`
        # long-lived start-up objects (modules, grammars) out of the cyclic GC's way
        gc.freeze()
        on_ready(url)
        await stop.wait()
        # a repeated SIGINT/SIGTERM (a supervisor, an impatient operator) must not cut the
        # shutdown short mid-commit: from here on they are ignored (SIGKILL still works)
        for sig in hooked:
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
        hooked.clear()
        # graceful: stop accepting, no new credit, commit what is queued, ack it, close
        state.shutting_down = True
        await site.stop()
        # bodies being uploaded: commit what came so far and answer with how far
        for reader in list(state.body_readers):
            reader.abort()
        await loop.run_in_executor(None, state.body_pool.shutdown, True)
        await state.writer.close()
        await asyncio.gather(*(s.drain_and_close() for s in list(state.sessions)), return_exceptions=True)
    finally:
        for sig in hooked:
            loop.remove_signal_handler(sig)
        state.shutting_down = True
        await runner.cleanup()
        if not state.writer.closed:
            await state.writer.close()
        query.close()
        # body threads end once their connections are closed; wait while the loop still runs
        await loop.run_in_executor(None, state.body_pool.shutdown, True)
        store.close()
        try:
            if json.loads(cfile.read_text(encoding="utf-8")).get("pid") == os.getpid():
                cfile.unlink()
        except (OSError, ValueError) as exc:  # already gone or replaced: nothing of ours to remove
            log.debug("left %s alone: %s", cfile, exc)


def run(cfg: CollectorConfig, on_ready: Callable[[str], None]) -> None:
    """Blocking entry point for `logship collect`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(cfg, on_ready))
