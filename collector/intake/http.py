"""What every HTTP intake does the same way: who calls, the body, the count.

The same tokens and per-client identity as Protocol v1 (Bearer, or Basic whose password
is the token; `ApiKey` on the bulk endpoint). A body is read whole (an intake's payload
is one batch of records), up to `max_batch_bytes` after gunzip: a larger one is 413.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from aiohttp import web

from ..auth import request_token
from ..replies import error_reply
from ..state import CollectorState
from .sink import Appended, Busy

__all__ = ["BadRequest", "load_json", "TooLarge", "Unauthorized", "Unsupported", "client_of", "read_body", "media_type", "count", "v1_refusal"]


class BadRequest(Exception):
    """The payload cannot be read (bad JSON, bad protobuf, unknown encoding): nothing of
    it is stored; each intake answers it in its protocol's error shape (4xx)."""

    status = 400


def load_json(body: bytes) -> Any:
    """A request body decoded as JSON; BadRequest (400, nothing stored) when it is not."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested past the recursion limit too
        raise BadRequest(f"body is not JSON: {exc}") from None


class TooLarge(BadRequest):
    status = 413


class Unauthorized(BadRequest):
    status = 401


class Unsupported(BadRequest):
    """A Content-Type the intake does not read (415)."""

    status = 415


def client_of(state: CollectorState, request: web.Request, intake: str, *, api_key: bool = False) -> str:
    """The client id the request's token stands for; Unauthorized (nothing read) else."""
    token = request_token(request.headers.get("Authorization"), api_key=api_key)
    client_id = state.auth.client_id(token)
    if client_id is None:
        state.metrics.error("unauthorized")
        raise Unauthorized("missing or unknown token (Bearer, or Basic with the token as password)")
    return client_id


def media_type(request: web.Request) -> str:
    """The Content-Type without parameters, lower case."""
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


async def read_body(state: CollectorState, request: web.Request) -> bytes:
    """The whole body, gunzipped per Content-Encoding (gzip, deflate or none), at most
    max_batch_bytes each way."""
    limit = state.config.limits.max_batch_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"body of {request.content_length} bytes is over max_batch_bytes ({limit})")
    raw = bytearray()
    while chunk := await request.content.read(1 << 16):
        raw += chunk
        if len(raw) > limit:
            raise TooLarge(f"body is over max_batch_bytes ({limit})")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("identity", ""):
        return bytes(raw)
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BadRequest(f"Content-Encoding {encoding!r} not supported (identity, gzip or deflate)")
    d = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, told apart by zlib
    try:
        out = d.decompress(bytes(raw), limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"body is over max_batch_bytes ({limit}) once decompressed")
    if not d.eof:
        raise BadRequest(f"body is not valid {encoding}: it ends early")
    return out


def count(state: CollectorState, intake: str, status: int, done: Appended | None = None) -> None:
    """The request in /metrics (logship_intake_*), by intake."""
    m = state.metrics
    m.intake_requests[(intake, status)] += 1
    if status in (429, 503):
        m.intake_busy[intake] += 1
    if done is not None:
        m.intake_records[intake] += done.records
        m.intake_rejects[intake] += done.rejects


def v1_refusal(state: CollectorState, intake: str, exc: BadRequest | Busy) -> web.Response:
    """A refusal in Protocol v1's error envelope (the JSON and Python-logging intakes):
    400/401/413 for the payload, 429 (queue full) or 503 (store failing, stopping) with
    Retry-After for "retry later"."""
    if isinstance(exc, Busy):
        status = 503 if exc.store else 429
        count(state, intake, status)
        return error_reply(status, "store_failed" if exc.store else "busy", str(exc), retry_after=exc.retry_after)
    count(state, intake, exc.status)
    code = {401: "unauthorized", 413: "too_large", 415: "bad_media_type"}.get(exc.status, "bad_request")
    return error_reply(exc.status, code, str(exc))
