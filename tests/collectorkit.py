"""Collector test helpers: a real `logship collect` process on 127.0.0.1 and a small
Protocol v1 client written from docs/protocol.md (what a third-party shipper would do)."""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import duckdb
import psutil

from logship.kernel.protocol import DataFrame, decode_message, encode_frame, encode_message
from tests.run import REPO, logship_cmd, read_url, stop_process
TOKENS = {"alpha": "tok-alpha-1234567890", "beta": "tok-beta-0987654321"}
ADMIN = "adm-secret-abcdef"


def client_line(i: int, sess: str = "3f2a9c1e5b7d9e01", extra: str = "") -> bytes:
    """One client-format event line numbered i (one event per line)."""
    return (f"2026-11-27T21:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}+00:00 INFO  "
            f"sess={sess} event test.line n={i}{extra}\n").encode()


def client_lines(a: int, b: int) -> bytes:
    return b"".join(client_line(i) for i in range(a, b))


class CollectorProc:
    """`logship collect` as a child process; restartable on the same port.

    ``tokens``: client id -> token (default TOKENS); ``port`` 0 takes a free one;
    ``args``: more `logship collect` options.
    """

    def __init__(self, tmp: Path, db: Path | None = None, config: str = "", tls: tuple[Path, Path] | None = None,
                 tokens: dict[str, str] | None = None, port: int = 0, args: tuple[str, ...] = ()):
        self.tmp = tmp
        self.db = db or tmp / "coll.duckdb"
        self.token_file = tmp / "tokens.txt"
        self.token_file.write_text("".join(f"{c} {t}\n" for c, t in (tokens or TOKENS).items()))
        self.admin_file = tmp / "admin.txt"
        self.admin_file.write_text(f"ops {ADMIN}\n")
        self.config_file: Path | None = None
        if config:
            self.config_file = tmp / "collector.toml"
            self.config_file.write_text(config)
        self.tls = tls
        self.args = args  # more `logship collect` options
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log = tmp / "collector.log"

    def start(self) -> "CollectorProc":
        cmd = logship_cmd("collect", "--db", self.db, "--listen", f"127.0.0.1:{self.port}",
                          "--token-file", self.token_file, "--admin-token-file", self.admin_file)
        if self.config_file:
            cmd += ["--config", str(self.config_file)]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        cmd += list(self.args)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=log)
        assert self.proc.stdout is not None
        self.url = read_url(self.proc.stdout, self.log)  # returns when it listens (or it exited)
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        return psutil.Process(self.pid).memory_info().rss

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0, *, kill: bool = False) -> int:
        """Stop with ``sig`` (SIGKILL when ``kill``), SIGKILL after ``timeout``; the exit code."""
        if kill:
            sig = signal.SIGKILL
        if self.proc is None:
            return 0
        rc, _ = stop_process(self.proc, sig, timeout)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.proc = None
        return rc

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read the db file directly (the collector must be stopped)."""
        assert self.proc is None, "stop the collector first: it holds the database file"
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


@dataclass
class SidState:
    acked: int = 0
    opened: asyncio.Future[dict[str, Any]] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


class StreamClient:
    """A minimal shipper: hello, open, credit-bounded frames, acks."""

    def __init__(self, url: str, token: str, ssl: Any = None) -> None:
        self.url = url
        self.token = token
        self.ssl = ssl
        self.credit = 0
        self.sids: dict[int, SidState] = {}
        self.errors: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.welcome: dict[str, Any] = {}

    async def __aenter__(self) -> "StreamClient":
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"})
        self.ws = await self.session.ws_connect(self.url + "/v1/stream", ssl=self.ssl if self.ssl is not None else True, heartbeat=None,
                                                max_msg_size=0)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, aiohttp.ClientError):
                pass
        if self.session is not None:
            await self.session.close()

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            m = decode_message(msg.data)
            self.messages.append(m)
            t = m["type"]
            if t == "welcome":
                self.welcome = m
                self.credit += m["credit"]
            elif t == "opened":
                st = self.sids.setdefault(m["sid"], SidState())
                if st.opened is not None and not st.opened.done():
                    st.opened.set_result(m)
            elif t == "ack":
                st = self.sids.setdefault(m["sid"], SidState())
                st.acked = max(st.acked, m["end"])
                self.credit += m["credit"]
            elif t == "credit":
                self.credit += m["credit"]
            elif t == "error":
                self.errors.append(m)
                if "sid" in m and m["sid"] in self.sids:
                    st = self.sids[m["sid"]]
                    st.errors.append(m)
                    if st.opened is not None and not st.opened.done():
                        st.opened.set_result(m)
            self._changed.set()

    async def send_text(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_str(text)

    async def send_raw(self, data: bytes) -> None:
        assert self.ws is not None
        await self.ws.send_bytes(data)

    async def wait_for(self, pred: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met; last messages: {self.messages[-5:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except TimeoutError:
                pass

    async def hello(self) -> dict[str, Any]:
        await self.send_text(encode_message("hello", version=1, shipper="collectorkit/1", host="test"))
        await self.wait_for(lambda: bool(self.welcome))
        return self.welcome

    async def open(self, sid: int, head: bytes, path: str = "/var/log/app.log", tz: str = "UTC",
                   log_format: str | None = "client", mtime: float = 1764277745.0) -> dict[str, Any]:
        st = self.sids.setdefault(sid, SidState())
        st.opened = asyncio.get_running_loop().create_future()
        fields: dict[str, Any] = dict(sid=sid, head_b64=base64.b64encode(head[:1024]).decode(), path=path, tz=tz,
                                      mtime=mtime)
        if log_format:
            fields["log_format"] = log_format
        await self.send_text(encode_message("open", **fields))
        return await asyncio.wait_for(st.opened, 30)

    async def send(self, sid: int, start: int, data: bytes, frame_bytes: int = 64 << 10, final: bool = False) -> int:
        """Send data as frames cut at line ends, never beyond credit. Returns the end offset."""
        pos = 0
        while pos < len(data):
            await self.wait_for(lambda: self.credit > 0, timeout=60)
            n = min(frame_bytes, self.credit, len(data) - pos)
            piece = data[pos:pos + n]
            if pos + n < len(data):
                cut = piece.rfind(b"\n") + 1
                if cut:
                    piece = piece[:cut]
            last = pos + len(piece) == len(data)
            self.credit -= len(piece)
            await self.send_raw(encode_frame(DataFrame(sid, start + pos, piece, flags=1 if (final and last) else 0)))
            pos += len(piece)
        return start + len(data)

    async def wait_acked(self, sid: int, end: int, timeout: float = 60.0) -> None:
        await self.wait_for(lambda: self.sids.get(sid, SidState()).acked >= end, timeout)


def uncovered(total: int, ranges: list[list[int]]) -> list[tuple[int, int]]:
    """The parts of [0, total) not in ranges."""
    out, pos = [], 0
    for s, e in sorted(map(tuple, ranges)):
        if s > pos:
            out.append((pos, min(s, total)))
        pos = max(pos, e)
    if pos < total:
        out.append((pos, total))
    return [(s, e) for s, e in out if e > s]


def run(coro: Any) -> Any:
    return asyncio.run(coro)
