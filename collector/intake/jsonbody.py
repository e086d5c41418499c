"""Generic JSON bodies: `POST /v1/json` (and `/v1/lines` with `Content-Type:
application/json`), one JSON object or an array of them.

Each object becomes one line of the client's `json` intake source (read by the jsonl
format: its key conventions find time, level and message). An array element that is
not an object becomes a line too, and the format rejects it visibly (`bad_json`): a
record we are not sure of is a reject, never dropped. At-least-once: a resent body is
stored again.
"""

from __future__ import annotations


from aiohttp import web

from ..state import CollectorState
from .http import BadRequest, client_of, count, load_json, media_type, read_body, v1_refusal
from .sink import Busy, append, canonical_json

__all__ = ["handle_json", "render_json"]

INTAKE = "json"


def render_json(body: bytes) -> bytes:
    """The body's records as canonical JSON lines; BadRequest when it is not JSON."""
    doc = load_json(body)
    items = doc if isinstance(doc, list) else [doc]
    try:
        return ("\n".join(map(canonical_json, items)) + "\n").encode("ascii") if items else b""
    except ValueError as exc:  # NaN/Infinity: JSON text cannot hold them, the format could not read them
        raise BadRequest(f"body holds a value JSON text cannot: {exc}") from None


async def handle_json(request: web.Request) -> web.StreamResponse:
    """POST /v1/json: one object or an array of objects; answers what was committed."""
    state: CollectorState = request.app["state"]
    try:
        client_id = client_of(state, request, INTAKE)
        body = await read_body(state, request)
        data = render_json(body)
        done = await append(state, client_id, INTAKE, data) if data else None
    except (BadRequest, Busy) as exc:
        return v1_refusal(state, INTAKE, exc)
    count(state, INTAKE, 200, done)
    return web.json_response({"records": done.records if done else 0, "rejects": done.rejects if done else 0,
                              "source_id": done.source_id if done else None})


def json_like(request: web.Request) -> bool:
    """A /v1/lines body that is JSON (`application/json`, `+json`), not JSON lines."""
    t = media_type(request)
    return t == "application/json" or (t.startswith("application/") and t.endswith("+json"))
