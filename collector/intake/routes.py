"""The intake endpoints on the collector's app (one place, so server.py adds one line).

`/v1/lines` stays Protocol v1's, except that a JSON body (`application/json`) goes to
the JSON intake and a form-encoded one (Python's HTTPHandler) to the Python-logging
intake.
"""

from __future__ import annotations

from aiohttp import web

from ..bodies import handle_lines
from .esbulk import add_bulk_routes
from .loki import handle_push
from .otlp import handle_otlp_logs
from .jsonbody import handle_json, json_like
from .pylogging import form_like, handle_python_logging

__all__ = ["add_intake_routes", "handle_lines_or_intake"]


async def handle_lines_or_intake(request: web.Request) -> web.StreamResponse:
    """POST /v1/lines: text and JSON lines as before; JSON and form bodies to their intakes."""
    if json_like(request):
        return await handle_json(request)
    if form_like(request):
        return await handle_python_logging(request)
    return await handle_lines(request)


def add_intake_routes(app: web.Application) -> None:
    app.router.add_post("/v1/lines", handle_lines_or_intake)
    app.router.add_post("/v1/json", handle_json)
    app.router.add_post("/v1/python-logging", handle_python_logging)
    app.router.add_post("/v1/logs", handle_otlp_logs)
    app.router.add_post("/loki/api/v1/push", handle_push)
    add_bulk_routes(app)
