"""What every handler shares: config, auth, metrics, the writer, the credit bank."""

from __future__ import annotations

import asyncio
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aiohttp import web

from logship.parser.timestamps import zone
from logship.store.store import check_source_params

from .auth import Authenticator, bearer_token, request_token
from .config import CollectorConfig
from .credit import CreditBank
from .metrics import Metrics
from .resolver import SourceResolver
from .storeport import StorePort
from .writer import Writer

if TYPE_CHECKING:
    from .stream import StreamSession

__all__ = ["CollectorState", "same_zone"]

log = logging.getLogger("logship.collector")


def same_zone(a: str, b: str) -> bool:
    """Two zone names of one zone (`UTC`, `Etc/UTC` and `utc` are one); both already checked."""
    return a == b or zone(a) == zone(b)


class CollectorState:
    def __init__(self, config: CollectorConfig, auth: Authenticator, store: StorePort) -> None:
        self.config = config
        self.auth = auth
        self.store = store
        self.metrics = Metrics()
        self.shutting_down = False
        self.writer = Writer(store, config.limits, self.metrics, config.commit_delay_s,
                             retry_s=config.store_retry_s, retry_max_s=config.store_retry_max_s)
        lim = config.limits
        self.bank = CreditBank(lim.inflight_budget, lim.initial_credit, config.min_credit, self.metrics,
                               writer_full=lambda: self.writer.full or self.shutting_down,
                               max_credit=config.max_credit,
                               writer_fill=lambda: self.writer.queued_bytes / max(1, lim.queue_bytes))
        self.writer.space_listeners.append(self.bank.replenish)
        # flush=False: resolving reads and sets what no commit writes (its head, path,
        # format, mtime); the ranges it reports may lag the batch waiting to be written,
        # and a resend of those bytes is subtracted when it is planned
        self.resolver = SourceResolver(lambda fn: self.writer.run_in_thread(fn, flush=False),
                                       self.store.resolve_sources)
        self.sessions: set[StreamSession] = set()
        # body readers block on the loop for bytes and on the writer for commits
        self.body_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="logship-body")
        self.lines_locks: dict[str, asyncio.Lock] = {}
        self.body_readers: set[Any] = set()  # bodies being read (aborted at shutdown)
        # local admin token, written to <db>.collector.json for `logship query` on this machine
        self.local_token = secrets.token_urlsafe(32)

    def require_client(self, request: web.Request) -> str:
        """The client id of the request's token (Bearer, or Basic whose password is the
        token), or 401 (nothing is read or stored)."""
        token = request_token(request.headers.get("Authorization"))
        client_id = self.auth.client_id(token)
        if client_id is None:
            self.metrics.error("unauthorized")
            raise web.HTTPUnauthorized(
                text='{"error":{"code":"unauthorized","message":"missing or unknown bearer token"}}',
                content_type="application/json", headers={"WWW-Authenticate": 'Bearer realm="logship"'})
        return client_id

    def require_admin(self, request: web.Request) -> bool:
        """403/401 unless an admin token; True for the local token of <db>.collector.json."""
        token = bearer_token(request.headers.get("Authorization"))
        if token is not None and secrets.compare_digest(token, self.local_token):
            return True
        if self.auth.is_admin(token):
            return False
        if self.auth.client_id(token) is not None:
            self.metrics.error("forbidden")
            raise web.HTTPForbidden(
                text='{"error":{"code":"forbidden","message":"queries need an admin token"}}',
                content_type="application/json")
        self.metrics.error("unauthorized")
        raise web.HTTPUnauthorized(
            text='{"error":{"code":"unauthorized","message":"missing or unknown bearer token"}}',
            content_type="application/json", headers={"WWW-Authenticate": 'Bearer realm="logship"'})

    async def resolve(self, client_id: str, head: bytes, **kw: Any) -> Any:
        """Store.resolve_source on the writer's thread (it owns the connection), with the
        asks waiting meanwhile in one transaction (collector/resolver.py).

        Every parameter that defines the source (tz, log_format, mtime) is checked here
        first, on the loop: a bad value is the sender's error (StoreError), never stored
        on a source, and never waits for the writer. A store that cannot commit raises
        StoreUnavailable."""
        check_source_params(log_format=kw.get("log_format"), tz=kw.get("tz", "UTC"), mtime=kw.get("mtime"))
        return await self.resolver.resolve(client_id, head, kw)

    def kept_zone(self, intake: str, info: Any, sent: str | None, client_id: str) -> bool:
        """An `open` or backlog body that names a zone other than its source's: the
        stored zone wins (a laptop travels; the source's old lines keep their meaning),
        with a warning and a count in /metrics. True when it differed."""
        if sent is None or same_zone(sent, info.tz):
            return False
        self.metrics.tz_mismatches[intake] += 1
        log.warning("%s of source %s (client %s, %s) sent tz %s; the source's stored tz %s is kept",
                    intake, info.source_id, client_id, info.path or "?", sent, info.tz)
        return True

    async def on_writer(self, fn: Any, *args: Any, flush: bool = True) -> Any:
        """fn on the writer's thread (Writer.run_in_thread: ``flush`` there)."""
        return await self.writer.run_in_thread(fn, *args, flush=flush)
