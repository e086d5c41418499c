"""The client side of Protocol v1 over aiohttp: the /v1/stream WebSocket and /v1/backlog.

Thin on purpose: it encodes and decodes what kernel/protocol.py defines and turns
transport failures into :class:`ConnectionLost`; all decisions (what to open, what to
send, what an ack means for the state) are the daemon's.
"""

from __future__ import annotations

import base64
import json
import socket
import zlib
from typing import Any, AsyncIterator

import aiohttp

from logship.kernel.errors import LogshipError
from logship.kernel.protocol import (
    DEFAULT_LIMITS,
    FRAME_HEADER,
    PROTOCOL_VERSION,
    DataFrame,
    MessageError,
    decode_message,
    encode_frame,
    encode_message,
)

__all__ = ["ConnectionLost", "CollectorRefused", "StreamClient", "post_backlog", "gzip_stream", "SHIPPER_NAME"]

SHIPPER_NAME = "logship-shipper/0.1"


class ConnectionLost(Exception):
    """The stream ended or failed; the daemon reconnects (never fatal)."""


class CollectorRefused(LogshipError):
    """The collector answered but refused us (bad token, wrong protocol version)."""


class StreamClient:
    """One WebSocket connection to /v1/stream, after hello/welcome."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, credit: int, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.credit = credit
        self.welcome = welcome

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, token: str, *,
                      timeout: float, heartbeat: float) -> StreamClient:
        try:
            ws = await http.ws_connect(
                url, headers={"Authorization": f"Bearer {token}"}, heartbeat=heartbeat,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeout),
                max_msg_size=DEFAULT_LIMITS.max_frame_bytes + FRAME_HEADER.size,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise CollectorRefused(f"{url}: the collector refused the token (HTTP {exc.status})") from None
            raise ConnectionLost(f"{url}: handshake failed: HTTP {exc.status} {exc.message}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ConnectionLost(f"{url}: {exc or type(exc).__name__}") from None
        try:
            await ws.send_str(encode_message(
                "hello", version=PROTOCOL_VERSION, shipper=SHIPPER_NAME, host=socket.gethostname()))
            msg = await ws.receive(timeout=timeout)
        except (aiohttp.ClientError, OSError, TimeoutError, ConnectionError) as exc:
            await ws.close()
            raise ConnectionLost(f"{url}: no welcome: {exc or type(exc).__name__}") from None
        if msg.type != aiohttp.WSMsgType.TEXT:
            await ws.close()
            raise ConnectionLost(f"{url}: expected welcome, got {msg.type.name}")
        try:
            welcome = decode_message(msg.data)
        except MessageError as exc:
            await ws.close()
            raise ConnectionLost(f"{url}: bad welcome: {exc}") from None
        if welcome["type"] == "error":
            await ws.close()
            raise CollectorRefused(f"{url}: {welcome.get('code')}: {welcome.get('message')}")
        if welcome["type"] != "welcome":
            await ws.close()
            raise ConnectionLost(f"{url}: expected welcome, got {welcome['type']}")
        return cls(ws, int(welcome.get("credit", 0)), welcome)

    async def send(self, type_: str, **fields: Any) -> None:
        try:
            await self.ws.send_str(encode_message(type_, **fields))
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            raise ConnectionLost(f"send {type_}: {exc or type(exc).__name__}") from None

    async def send_open(self, sid: int, head: bytes, path: str, log_format: str | None, tz: str, mtime: float) -> None:
        fields: dict[str, Any] = {
            "sid": sid, "head_b64": base64.b64encode(head).decode("ascii"), "path": path,
            "tz": tz, "mtime": mtime,
        }
        if log_format:
            fields["log_format"] = log_format
        await self.send("open", **fields)

    async def send_frame(self, frame: DataFrame) -> None:
        try:
            await self.ws.send_bytes(encode_frame(frame))
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            raise ConnectionLost(f"send frame: {exc or type(exc).__name__}") from None

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Control messages until the connection ends (then ConnectionLost)."""
        while True:
            try:
                msg = await self.ws.receive()
            except (aiohttp.ClientError, OSError, ConnectionError) as exc:
                raise ConnectionLost(f"receive: {exc or type(exc).__name__}") from None
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    yield decode_message(msg.data)
                except MessageError as exc:
                    raise ConnectionLost(f"bad control message: {exc}") from None
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise ConnectionLost(f"collector closed the stream ({self.ws.close_code})")
            elif msg.type == aiohttp.WSMsgType.ERROR:
                raise ConnectionLost(f"stream error: {self.ws.exception()}")
            # binary frames from the collector are not part of v1: ignored

    async def close(self) -> None:
        if not self.ws.closed:
            await self.ws.close()


async def gzip_stream(blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """gzip-compress an async stream of blocks without holding more than one block."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    async for block in blocks:
        out = comp.compress(block)
        if out:
            yield out
    yield comp.flush()


async def post_backlog(http: aiohttp.ClientSession, url: str, token: str, *, source_key: str,
                       head: bytes, start: int, body: AsyncIterator[bytes], timeout: float,
                       final: bool = False, path: str | None = None, tz: str | None = None,
                       log_format: str | None = None) -> dict[str, Any]:
    """POST one gzip-compressed piece of backlog; returns the collector's JSON answer.

    The source is named by ``X-Logship-Head`` (its first bytes, as in ``open``); ``final``
    tells the collector that the piece ends a stretch, so its last entry is complete.
    """
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/octet-stream",
        "X-Logship-Head": base64.b64encode(head).decode("ascii"),
    }
    if path:
        headers["X-Logship-Path"] = path
    if tz:
        headers["X-Logship-Tz"] = tz
    if log_format:
        headers["X-Logship-Log-Format"] = log_format
    params = {"sid": source_key, "start": str(start)}
    if final:
        params["final"] = "1"
    try:
        async with http.post(url, params=params, headers=headers,
                             data=gzip_stream(body),
                             timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout)) as resp:
            text = await resp.text()
            if resp.status in (401, 403):
                raise CollectorRefused(f"{url}: the collector refused the token (HTTP {resp.status})")
            if resp.status >= 400:
                raise ConnectionLost(f"{url}: HTTP {resp.status}: {text[:200]}")
            try:
                doc = decode_json(text)
            except ValueError:
                raise ConnectionLost(f"{url}: answer is not JSON: {text[:200]}") from None
            return doc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ConnectionLost(f"{url}: {exc or type(exc).__name__}") from None


def decode_json(text: str) -> dict[str, Any]:
    """A JSON object from the collector's answer (ValueError otherwise)."""
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    return doc
