"""A small TCP proxy between the shipper and the collector that injects network faults.

It runs its own asyncio loop in a thread so the soak's scheduler (plain threads and
subprocesses) can flip it at any moment. Two faults:

- ``reset()``: every open connection is aborted with a TCP RST (SO_LINGER 0), as a NAT
  box or a flaky Wi-Fi would do.
- ``blackhole(True)``: an outage that does not look like one. Connections stay open and
  new ones are accepted, but nothing is forwarded in either direction; only the peer's
  own timeouts (heartbeat, connect timeout) notice. ``blackhole(False)`` resets every
  connection that lived through it (bytes were dropped mid-stream, so they are garbage).

While the collector is down (no target port) a new connection is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading

__all__ = ["FaultProxy"]

_CHUNK = 64 << 10


class _Pair:
    """One proxied connection: the shipper's side and the collector's side."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tainted = False  # lived through a black hole: dropped bytes, must be reset

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            if w is None:
                continue
            sock = w.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()


class FaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to ``target_port`` when set."""

    def __init__(self) -> None:
        self.port = 0
        self.target_port: int | None = None
        self._black = False
        self._pairs: set[_Pair] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-proxy")
        self.resets = 0

    # -- control (any thread) --------------------------------------------------------
    def start(self) -> "FaultProxy":
        self._thread.start()
        self._ready.wait(10)
        if not self.port:
            raise RuntimeError("the soak proxy did not start")
        return self

    def set_target(self, port: int | None) -> None:
        self.target_port = port

    def reset(self) -> int:
        """Abort every open connection with an RST; returns how many there were."""
        return self._call(self._reset_all)

    def blackhole(self, on: bool) -> None:
        self._call(lambda: self._set_black(on))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._reset_all)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _call(self, fn):  # type: ignore[no-untyped-def]
        async def run():  # type: ignore[no-untyped-def]
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    # -- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for t in asyncio.all_tasks(self._loop):
                t.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    def _reset_all(self) -> int:
        n = len(self._pairs)
        for p in list(self._pairs):
            p.abort()
        self._pairs.clear()
        self.resets += n
        return n

    def _set_black(self, on: bool) -> None:
        self._black = on
        if on:
            for p in self._pairs:
                p.tainted = True
        else:
            for p in [p for p in self._pairs if p.tainted]:
                p.abort()
                self._pairs.discard(p)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pair = _Pair(writer)
        self._pairs.add(pair)
        try:
            if self._black:
                pair.tainted = True
                await self._swallow(reader)
                return
            if self.target_port is None:
                return
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                return
            pair.upstream = up_w
            await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
        finally:
            self._pairs.discard(pair)
            for w in (writer, pair.upstream):
                if w is not None:
                    w.transport.abort() if pair.tainted else w.close()

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(_CHUNK):
                pass

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(_CHUNK):
                if self._black:
                    continue  # the black hole: bytes vanish
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            if not dst.is_closing():
                dst.transport.abort() if self._black else dst.close()
