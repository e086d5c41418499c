"""The collector's one JSON error envelope: ``{"error": {"code", "message"}, ...extra}``.

Every endpoint of Protocol v1 answers errors in this shape (docs/protocol.md); the
intake endpoints answer in their own protocols' shapes instead.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

__all__ = ["error_body", "error_reply", "error_exception"]


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, **extra}


def _headers(retry_after: float | None) -> dict[str, str] | None:
    return {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None


def error_reply(status: int, code: str, message: str, *, retry_after: float | None = None,
                **extra: Any) -> web.Response:
    """The error as a response to return from a handler."""
    return web.json_response(error_body(code, message, **extra), status=status, headers=_headers(retry_after))


def error_exception(status: type[web.HTTPException], code: str, message: str, *,
                    retry_after: float | None = None, **extra: Any) -> web.HTTPException:
    """The error as an exception to raise from below a handler."""
    return status(text=json.dumps(error_body(code, message, **extra)), content_type="application/json",
                  headers=_headers(retry_after))
