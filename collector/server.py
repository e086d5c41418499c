"""The collector process: aiohttp app, routes, start-up and graceful shutdown.

aiohttp serves HTTP and WebSockets from one event loop (the field's standard asyncio
server, also used by the shipper as a client), with built-in WebSocket heartbeats.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web

from logship.store.readonly import lock_down

from .auth import Authenticator
from .bodies import handle_backlog
from .intake.routes import add_intake_routes
from .intake.syslognet import SyslogServers, start_syslog
from .config import CollectorConfig
from .errors import CollectorError
from .jobs import handle_job, retention_loop
from .metrics import Metrics
from .query import QueryLimits, QueryRunner, handle_export, handle_query
from .publish import Publisher, collector_file
from .state import CollectorState
from .storeport import StoreAdapter, open_store
from .stream import handle_stream

__all__ = ["make_app", "serve", "run", "collector_file", "open_queries"]

log = logging.getLogger("logship.collector")


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
    query: QueryRunner = request.app["query"]
    # rows per table and the file's size (on a cursor of its own, off the loop)
    await asyncio.get_running_loop().run_in_executor(None, state.metrics.read_store, query.con, state.config.db)
    return web.Response(text=state.metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def make_app(state: CollectorState, query: QueryRunner) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app["state"] = state
    app["query"] = query
    app.router.add_get("/v1/stream", handle_stream)
    app.router.add_post("/v1/backlog", handle_backlog)
    add_intake_routes(app)  # /v1/lines too: JSON and form bodies go to their intakes
    app.router.add_post("/v1/query", handle_query)
    app.router.add_post("/v1/export", handle_export)
    app.router.add_post("/v1/admin/job", handle_job)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/metrics", handle_metrics)
    return app


def _prepare_database(con: Any, cfg: CollectorConfig) -> None:
    """Settings of the collector's database, then locked (store/readonly.py: no statement
    may turn external access back on or change any setting).

    jemalloc's background threads give the memory of a big query back to the system
    within seconds (without them the RSS stays at its peak); `db_threads` DuckDB threads
    (1: a query executes only on its own niced thread, collector/query.py). Each query
    runs on its own cursor, which starts from the GLOBAL settings: UTC there, so that its
    instants come out as UTC as offline (store/door.py), whatever this machine's zone.
    """
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute("SET allocator_background_threads = true")
    con.execute(f"SET threads = {int(cfg.db_threads)}")
    lock_down(con)


def open_queries(store: StoreAdapter, cfg: CollectorConfig, metrics: Metrics) -> QueryRunner:
    """The database prepared and locked, and the query runner on it; both again on every
    reopen of the database by the writer (after a fatal DuckDB error)."""
    _prepare_database(store.store.con, cfg)
    query = QueryRunner(store.store.con, QueryLimits(cfg.query_row_limit, cfg.query_time_limit_s,
                                                     cfg.max_concurrent_queries, cfg.query_queue_timeout_s,
                                                     cfg.query_nice), metrics)

    def reopened(con: Any) -> None:
        _prepare_database(con, cfg)
        query.con = con

    store.on_reopen.append(reopened)
    return query


def _ssl_context(cfg: CollectorConfig) -> ssl.SSLContext | None:
    if cfg.tls_cert is None or cfg.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise CollectorError(f"cannot load TLS certificate {cfg.tls_cert} / key {cfg.tls_key}: {exc}") from None
    return ctx


def load_grammars(cfg: CollectorConfig) -> None:
    """The user grammar directories (`--grammar-dir`, `grammar_dirs`) into this process's
    format registry, each grammar compiled now: a broken one stops the start in one line
    instead of failing the first body of a source that uses it. The parse workers are
    forked after this (start_parse_pool), so they inherit the registry."""
    if not cfg.grammar_dirs:
        return
    from logship.parser import GrammarError, FormatRegistry, load_user_grammars

    try:
        registry = load_user_grammars(cfg.grammar_dirs)
        names = sorted(f.name for f in FormatRegistry(cfg.grammar_dirs, include_builtin=False).formats())
        for name in names:
            registry.get(name).lark()
    except GrammarError as exc:
        raise CollectorError(f"cannot load user grammars: {exc}") from None
    log.info("user formats from %s: %s", ", ".join(map(str, cfg.grammar_dirs)), ", ".join(names) or "none")


def start_parse_pool(cfg: CollectorConfig) -> Any:
    """The writer's parse workers (store/pool.py), or None for `parse_workers = 0`.

    Forked now, before the database is opened and before any thread starts (forking a
    process with threads is unsafe; a fork pool never forks again). The workers inherit
    the user grammars loaded by load_grammars, and die with the collector (SIGKILL too)."""
    if cfg.parse_workers <= 0:
        return None
    from logship.store.pool import ParsePool

    pool = ParsePool(cfg.parse_workers, cfg.grammar_dirs)  # inherited by fork already; loading again is a no-op
    log.info("parsing in %d worker processes (pids %s) and the writer's thread", cfg.parse_workers,
             " ".join(map(str, pool.pids())))
    return pool


async def serve(cfg: CollectorConfig, on_ready: Callable[[str], None], stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM), then shut down gracefully."""
    load_grammars(cfg)
    auth = Authenticator.from_files(cfg.token_file, cfg.hmac_secret_file, cfg.admin_token_file)
    ctx = _ssl_context(cfg)
    pool = start_parse_pool(cfg)
    try:
        await _serve(cfg, on_ready, stop, auth, ctx, pool)
    finally:
        if pool is not None:  # after the writer stopped: nothing is submitted any more
            pool.close(cancel=True)


async def _serve(cfg: CollectorConfig, on_ready: Callable[[str], None], stop: asyncio.Event | None,
                 auth: Authenticator, ctx: ssl.SSLContext | None, pool: Any) -> None:
    try:
        store = open_store(cfg.db, cfg.limits.memory_limit, cfg.limits.max_line_bytes, pool)
    except Exception as exc:
        raise CollectorError(f"cannot open {cfg.db}: {exc}") from None
    state = CollectorState(cfg, auth, store)
    state.metrics.parse_pool = pool
    query = open_queries(store, cfg, state.metrics)
    app = make_app(state, query)
    # keepalive_timeout is also aiohttp's only bound on a connection that has not sent a
    # whole request line and headers yet (a slowloris client): header_timeout_s
    runner = web.AppRunner(app, handle_signals=False, auto_decompress=False, access_log=None,
                           keepalive_timeout=cfg.header_timeout_s)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    hooked: list[int] = []
    publisher = Publisher(cfg.db, cfg.publish_retry_s)
    syslog: SyslogServers | None = None
    state.writer.start()
    retention: asyncio.Task[None] | None = None
    if cfg.retention_days > 0:  # `[retention]`: a prune between commits, every retention_every_s
        retention = loop.create_task(retention_loop(state, cfg.retention_days, cfg.retention_every_s,
                                                    cfg.retention_export_dir), name="logship-retention")
    try:
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=ctx, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            raise CollectorError(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror}") from None
        syslog = await start_syslog(state)  # none unless configured
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        url = f"{cfg.scheme}://{shown}:{port}"
        publisher.start(url, state.local_token)
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
        # syslog listeners first: what their senders sent is committed while the writer runs
        if syslog is not None:
            await syslog.close()
        # graceful: stop accepting, no new credit, commit what is queued, ack it, close
        state.shutting_down = True
        if retention is not None:
            retention.cancel()
        # running queries are interrupted, waiting ones answered 503: nothing holds the exit
        await query.stop()
        await site.stop()
        # bodies being uploaded: commit what came so far and answer with how far
        for reader in list(state.body_readers):
            reader.abort()
        await loop.run_in_executor(None, state.body_pool.shutdown, True)
        await state.writer.close()
        await asyncio.gather(*(s.drain_and_close() for s in list(state.sessions)), return_exceptions=True)
    finally:
        if syslog is not None:
            await syslog.close()
        for sig in hooked:
            loop.remove_signal_handler(sig)
        state.shutting_down = True
        if retention is not None:
            retention.cancel()
        await runner.cleanup()
        if not state.writer.closed:
            await state.writer.close()
        await query.stop(timeout=0)
        await loop.run_in_executor(None, query.close)
        # body threads end once their connections are closed; wait while the loop still runs
        await loop.run_in_executor(None, state.body_pool.shutdown, True)
        store.close()
        publisher.withdraw()


# The cyclic GC's thresholds in a `logship collect` process. Its main process holds
# thousands of connections, frames waiting for their commit and the commits' columns at
# once; with the default (700, 10, 10) the GC rescanned them over and over: a fleet of
# 1,500 shippers spent 8.9 s of a 30 s run in it (a third of the main process), commits
# took 0.5 s and the p99 first ack was 2.3 s; with these, 0.1 s, 0.2 s and 0.9 s
# (bench/RESULTS.md). Nearly everything it allocates is freed by reference counting;
# reference cycles wait longer for a collection (up to ~the first threshold's objects).
GC_THRESHOLDS = (100_000, 20, 100)


def run(cfg: CollectorConfig, on_ready: Callable[[str], None]) -> None:
    """Blocking entry point for `logship collect` (a process of its own: its GC
    thresholds are the collector's, GC_THRESHOLDS)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gc.set_threshold(*GC_THRESHOLDS)
    asyncio.run(serve(cfg, on_ready))
