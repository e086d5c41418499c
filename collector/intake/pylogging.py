"""Python logging: `logging.handlers.HTTPHandler`'s form-encoded LogRecord, and a
refusal for `SocketHandler`'s pickles.

HTTPHandler (method POST) sends `urlencode(record.__dict__)` to `POST /v1/python-logging`
(or `/v1/lines` with `Content-Type: application/x-www-form-urlencoded`), with Basic auth
when given `credentials=(name, token)`: the password is the token. The envelope is the
LogRecord: `created` (epoch seconds) becomes `time`, `msg % args` the message when the
args' text is a Python literal (read with `ast.literal_eval`, never evaluated; otherwise
`msg` as sent and `args` kept), and the other fields stay under their LogRecord names
(`levelname`, `name`, `exc_text`, `funcName`, ...); numbers become numbers. The jsonl
format reads the line. At-least-once: the handler does not resend, a resend is stored again.

SocketHandler/DatagramHandler send pickles, and unpickling runs code of the sender's
choosing: they are never unpickled. Their port is not served; a pickle sent to an HTTP
intake is not form data and is answered 400 with a log line saying so.
"""

from __future__ import annotations

import ast
import logging
import urllib.parse
from typing import Any

from aiohttp import web

from ..state import CollectorState
from .http import BadRequest, client_of, count, media_type, read_body, v1_refusal
from .sink import Busy, append, ndjson_line

__all__ = ["handle_python_logging", "render_record", "form_like"]

log = logging.getLogger("logship.collector.intake")

INTAKE = "pylogging"
_INTS = ("levelno", "lineno", "process", "thread")
_DROP = ("msecs", "relativeCreated", "created", "msg", "args")
# a LogRecord field sent as the text "None" is absent
_NONE = "None"


def _message(msg: str, args: str | None) -> tuple[str, str | None]:
    """msg % args when args is a literal tuple or dict; else (msg, args kept)."""
    if args in (None, _NONE, "()"):
        return msg, None
    try:
        value = ast.literal_eval(args) if len(args) <= 10_000 else None
        if not isinstance(value, (tuple, dict)):
            return msg, args
        return msg % value, None
    except (ValueError, TypeError, SyntaxError, KeyError, MemoryError, RecursionError):
        return msg, args


def render_record(fields: dict[str, str]) -> bytes:
    """One form-encoded LogRecord as one JSON line; BadRequest without `created`."""
    created = fields.get("created")
    try:
        ts = float(created) if created is not None else None
    except ValueError:
        ts = None
    if ts is None or ts != ts or ts in (float("inf"), float("-inf")):
        raise BadRequest(f"field created: expected epoch seconds, got {created!r} (not a LogRecord?)")
    msg, args = _message(fields.get("msg", ""), fields.get("args"))
    rec: dict[str, Any] = {"time": ts, "msg": msg}
    if args is not None:
        rec["args"] = args
    for k, v in fields.items():
        if k in _DROP or k in rec or v == _NONE:
            continue
        rec[k] = int(v) if k in _INTS and v.lstrip("-").isdigit() else v
    return ndjson_line(rec)


def form_like(request: web.Request) -> bool:
    return media_type(request) == "application/x-www-form-urlencoded"


def _looks_pickled(body: bytes) -> bool:
    """SocketHandler's frame: a 4-byte length, then a pickle (protocol 2+ starts 0x80)."""
    return (len(body) > 5 and body[4] == 0x80) or body[:1] == b"\x80"


async def handle_python_logging(request: web.Request) -> web.StreamResponse:
    """POST /v1/python-logging: one form-encoded LogRecord (HTTPHandler)."""
    state: CollectorState = request.app["state"]
    try:
        client_id = client_of(state, request, INTAKE)
        body = await read_body(state, request)
        if _looks_pickled(body):
            log.warning("a pickled LogRecord (SocketHandler?) came to %s from %s: refused, never unpickled; "
                        "use logging.handlers.HTTPHandler", request.path, request.remote)
            raise BadRequest("pickled records are refused (never unpickled): use logging.handlers.HTTPHandler")
        try:
            fields = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"body is not form-encoded UTF-8: {exc}") from None
        done = await append(state, client_id, INTAKE, render_record(fields))
    except (BadRequest, Busy) as exc:
        return v1_refusal(state, INTAKE, exc)
    count(state, INTAKE, 200, done)
    return web.json_response({"records": done.records, "rejects": done.rejects})
