"""Syslog over the network: TCP (RFC 6587: octet-counted or newline-framed, told apart
per message by its first byte), UDP (one message per datagram) and TLS (RFC 5425: TCP
framing inside TLS). Off by default; each `[[syslog]]` listener stands for one client id, or maps
sender networks to client ids, or (TLS) maps the names of the senders' client
certificates to client ids, requiring a certificate signed by its `tls_ca` (syslog
carries no token); it binds 127.0.0.1 unless configured otherwise.

Messages are appended, as they came, to the listener's client's `syslog` intake source
of the day and of the sender's address (`&peer=<ip>&format=<f>` in the source's head and
path: the sender's address is kept there), one source per payload format: RFC 5424
(`<PRI>1 `) goes to a `syslog5424` source, anything else to a `syslog` (RFC 3164)
source, which takes the listener's zone and the receive time's year. The shipped
grammars parse them; a message that fits neither is a visible reject. A line feed or
other control character inside a message is written as rsyslog does (`#012`), so that
one message stays one line. A message over max_line_bytes keeps its start and becomes one
`line_too_long` reject; the rest of it is read past, never held, and the connection
goes on.

Messages are committed in batches (BATCH_BYTES, or FLUSH_S after the first waiting
one). TCP/TLS flow control is by not reading: a connection's next bytes are read only
once its batch is committed (a full queue holds the sender back). UDP cannot hold a
sender back: a datagram that comes while its batch waits past QUEUE_BYTES, or a batch
the collector cannot take, is dropped and counted (`logship_intake_dropped_total`).
At-least-once on TCP/TLS (a sender that reconnects may resend); UDP may lose.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from dataclasses import dataclass, field

from ..config import SyslogListener
from ..errors import CollectorError
from ..state import CollectorState
from .sink import Busy, append

__all__ = ["SyslogServers", "start_syslog", "clean_message", "payload_format"]

log = logging.getLogger("logship.collector.syslog")

BATCH_BYTES = 1 << 20
FLUSH_S = 0.2
QUEUE_BYTES = 8 << 20  # UDP: bytes a listener holds while its batches commit
_RFC5424 = re.compile(rb"<\d{1,3}>1 ")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def payload_format(msg: bytes) -> str:
    """syslog5424 for an RFC 5424 payload, else syslog (RFC 3164 and the like)."""
    return "syslog5424" if _RFC5424.match(msg) else "syslog"


def clean_message(msg: bytes) -> bytes:
    """One message as one line: trailing CR/LF/NUL dropped, other control characters as
    rsyslog writes them (`#012` for a line feed); tabs kept."""
    msg = msg.rstrip(b"\r\n\x00")
    if _CONTROL.search(msg):
        msg = _CONTROL.sub(lambda m: b"#%03o" % m.group()[0], msg)
    return msg


@dataclass
class _Batch:
    """Messages of one listener and sender waiting for their commit, by format, in order:
    runs of lines (bytes), and over-long messages as (kept start, span)."""

    lines: dict[str, list[bytes | tuple[bytes, int]]] = field(default_factory=dict)
    nbytes: int = 0
    count: int = 0

    def add(self, msg: bytes, span: int | None = None) -> None:
        """One message; `span` set: `msg` is the start of a message of span - 1 bytes
        (over max_line_bytes), which becomes one `line_too_long` reject."""
        line = clean_message(msg)
        if not line:
            return
        entry: bytes | tuple[bytes, int] = line + b"\n" if span is None else (line[:len(msg)], span)
        self.lines.setdefault(payload_format(line), []).append(entry)
        self.nbytes += len(line) + 1
        self.count += 1


def _runs(entries: list[bytes | tuple[bytes, int]]) -> list[tuple[bytes, int | None, int]]:
    """A format's entries as appends, in order: (lines, None, count) for a run of lines,
    (kept start, span, 1) for an over-long message."""
    out: list[tuple[bytes, int | None, int]] = []
    run: list[bytes] = []
    for e in entries:
        if isinstance(e, bytes):
            run.append(e)
            continue
        if run:
            out.append((b"".join(run), None, len(run)))
            run = []
        out.append((e[0], e[1], 1))
    if run:
        out.append((b"".join(run), None, len(run)))
    return out


class _Sender:
    """One sender's batches: filled by its reader, committed in order by flush()."""

    def __init__(self, state: CollectorState, listener: SyslogListener, intake: str, peer: str,
                 client_id: str) -> None:
        self.state, self.listener, self.intake, self.peer = state, listener, intake, peer
        self.client_id = client_id
        self.batch = _Batch()
        self.lock = asyncio.Lock()
        self.timer: asyncio.TimerHandle | None = None
        self.flushing: asyncio.Task[None] | None = None

    async def flush(self, *, drop_when_busy: bool = False) -> None:
        """Commit what waits. TCP (drop_when_busy False): retry while the collector is
        busy (the reader does not read meanwhile). UDP: drop and count."""
        async with self.lock:
            batch, self.batch = self.batch, _Batch()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if not batch.count:
                return
            for fmt, entries in batch.lines.items():
                for data, span, n in _runs(entries):
                    await self._append(fmt, data, span, n, drop_when_busy)

    async def _append(self, fmt: str, data: bytes, span: int | None, n: int, drop_when_busy: bool) -> None:
        m = self.state.metrics
        while True:
            try:
                done = await append(self.state, self.client_id, self.intake, data, log_format=fmt,
                                    part=f"peer={self.peer}&format={fmt}", tz=self.listener.tz,
                                    received_at=time.time(), span=span)
            except Busy as exc:
                m.intake_busy[self.intake] += 1
                if drop_when_busy or self.state.shutting_down:
                    m.intake_dropped[self.intake] += n
                    log.warning("%s: dropped %d messages from %s: %s", self.intake, n, self.peer, exc)
                    return
                await asyncio.sleep(min(exc.retry_after, 1.0))
                continue
            m.intake_requests[(self.intake, 200)] += 1
            m.intake_records[self.intake] += done.records
            m.intake_rejects[self.intake] += done.rejects
            return

    def schedule(self, drop_when_busy: bool) -> None:
        """Commit the waiting messages FLUSH_S from now, unless that is arranged."""
        if self.timer is None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(FLUSH_S, self._fire, drop_when_busy)

    def _fire(self, drop_when_busy: bool) -> None:
        self.timer = None
        self.flushing = asyncio.ensure_future(self.flush(drop_when_busy=drop_when_busy))


_SKIP_BYTES = 1 << 16  # an over-long octet-counted frame is read past in blocks of this


async def _read_frames(reader: asyncio.StreamReader, max_line: int) -> tuple[bytes, int | None] | None:
    """The next message of an RFC 6587 stream (None at its end): octet-counted when it
    starts with up to 10 digits and a space (`LEN SP MSG`), else up to a line feed.

    A message longer than max_line is never held whole: its first max_line bytes are
    returned with its span (its length + 1, the line it would have been), the rest is
    read past (octet-counted: the frame's declared length; newline-framed: to the next
    line feed), so the connection and the messages after it go on."""
    first = await reader.read(1)
    while first in (b"\n", b"\r", b"\x00"):
        first = await reader.read(1)
    if not first:
        return None
    prefix = first
    if first.isdigit():
        c = await reader.read(1)
        while c.isdigit() and len(prefix) < 10:
            prefix += c
            c = await reader.read(1)
        if c == b" ":
            return await _read_counted(reader, int(prefix), max_line)
        prefix += c  # not a count: a newline-framed message that starts with digits
        if c in (b"\n", b""):
            return prefix, None
    return await _read_line(reader, prefix, max_line)


async def _read_counted(reader: asyncio.StreamReader, n: int, max_line: int) -> tuple[bytes, int | None]:
    try:
        if n <= max_line:
            return await reader.readexactly(n), None
        kept = await reader.readexactly(max_line)
    except asyncio.IncompleteReadError as exc:  # the stream ended inside the frame: what came
        return exc.partial, None if len(exc.partial) <= max_line else len(exc.partial) + 1
    left = n - max_line
    while left:
        block = await reader.read(min(left, _SKIP_BYTES))
        if not block:
            return kept, n - left + 1
        left -= len(block)
    return kept, n + 1


async def _read_line(reader: asyncio.StreamReader, prefix: bytes, max_line: int) -> tuple[bytes, int | None]:
    kept = bytearray(prefix)
    total = len(prefix)
    while True:
        ended = True
        try:
            part = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:  # no line feed in the buffer: keep its start, read on
            part = await reader.readexactly(exc.consumed)
            ended = False
        except asyncio.IncompleteReadError as exc:  # the stream's last message without its line feed
            part = exc.partial
        total += len(part)
        if len(kept) <= max_line + 1:
            kept += part[:max_line + 2 - len(kept)]
        if ended:
            break
    length = total - 1 if part.endswith(b"\n") else total
    if length <= max_line:
        return bytes(kept), None
    return bytes(kept[:max_line]), length + 1


class SyslogServers:
    """The running listeners (start_syslog), closed before the writer at shutdown."""

    def __init__(self, state: CollectorState) -> None:
        self.state = state
        self.servers: list[asyncio.AbstractServer] = []
        self.transports: list[asyncio.DatagramTransport] = []
        self.senders: set[_Sender] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self, listener: SyslogListener, ctx: ssl.SSLContext | None) -> str:
        loop = asyncio.get_running_loop()
        intake = f"syslog-{listener.protocol}"
        try:
            if listener.protocol == "udp":
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self, listener, intake), local_addr=(listener.host, listener.port))
                self.transports.append(transport)
                host, port = transport.get_extra_info("sockname")[:2]
            else:
                limit = self.state.config.limits.max_line_bytes + 64
                server = await asyncio.start_server(
                    lambda r, w: self._connection(listener, intake, r, w), listener.host, listener.port,
                    ssl=ctx, limit=limit)
                self.servers.append(server)
                host, port = server.sockets[0].getsockname()[:2]
        except OSError as exc:
            raise CollectorError(f"cannot listen for syslog {listener.protocol} on {listener.host}:{listener.port}: "
                                 f"{exc.strerror}") from None
        where = f"{listener.protocol}://{host}:{port}"
        clients = ", ".join([f"certificate {name} -> {cid}" for name, cid in listener.certificates] +
                            [f"{net} -> {cid}" for net, cid in listener.networks] +
                            ([f"others -> {listener.client_id}"] if listener.client_id else []))
        log.info("syslog listening on %s (clients: %s; tz %s)", where, clients, listener.tz)
        return where

    async def _connection(self, listener: SyslogListener, intake: str, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        if listener.certificates:
            client_id, names = listener.client_for_cert(writer.get_extra_info("peercert"))
            why = f"its certificate ({', '.join(names) or 'no names'}) maps to no client"
        else:
            client_id = listener.client_for(peer)
            why = "in none of the listener's networks"
        if client_id is None:
            log.warning("%s: refused a connection from %s: %s", intake, peer, why)
            self.state.metrics.intake_requests[(intake, 403)] += 1
            writer.close()
            self.tasks.discard(task)
            return
        sender = _Sender(self.state, listener, intake, peer, client_id)
        self.senders.add(sender)
        max_line = self.state.config.limits.max_line_bytes
        try:
            while not self.state.shutting_down:
                got = await _read_frames(reader, max_line)
                if got is None:
                    break
                sender.batch.add(*got)
                if sender.batch.nbytes >= BATCH_BYTES:
                    await sender.flush()  # not reading meanwhile: TCP holds the sender back
                elif sender.batch.count:
                    sender.schedule(False)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.warning("%s: connection from %s ended: %s", intake, peer, exc)
        finally:
            await sender.flush()
            if sender.flushing is not None:
                await sender.flushing
            self.senders.discard(sender)
            writer.close()
            self.tasks.discard(task)

    async def close(self) -> None:
        """Stop listening, commit what waits (the writer is still running)."""
        for s in self.servers:
            s.close()
        for t in self.transports:
            t.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for sender in list(self.senders):
            await sender.flush(drop_when_busy=True)
            if sender.flushing is not None:
                await asyncio.gather(sender.flushing, return_exceptions=True)
        for s in self.servers:
            await s.wait_closed()


class _Datagrams(asyncio.DatagramProtocol):
    """A UDP listener: one message per datagram, batched per sender address."""

    def __init__(self, servers: SyslogServers, listener: SyslogListener, intake: str) -> None:
        self.servers, self.listener, self.intake = servers, listener, intake
        self.by_peer: dict[str, _Sender] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        state = self.servers.state
        peer = str(addr[0])
        sender = self.by_peer.get(peer)
        if sender is None:
            client_id = self.listener.client_for(peer)
            if client_id is None:  # in none of the listener's networks
                state.metrics.intake_dropped[self.intake] += 1
                return
            sender = self.by_peer[peer] = _Sender(state, self.listener, self.intake, peer, client_id)
            self.servers.senders.add(sender)
        if state.shutting_down or sender.batch.nbytes >= QUEUE_BYTES:
            state.metrics.intake_dropped[self.intake] += 1
            return
        sender.batch.add(data)
        if sender.batch.nbytes >= BATCH_BYTES:
            sender._fire(True)
        else:
            sender.schedule(True)


def _tls_context(listener: SyslogListener, state: CollectorState) -> ssl.SSLContext:
    cert = listener.tls_cert or state.config.tls_cert
    key = listener.tls_key or state.config.tls_key
    if cert is None or key is None:
        raise CollectorError("a syslog tls listener needs tls_cert and tls_key (its own or the collector's)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise CollectorError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None
    if listener.certificates:  # identity from the client certificate: one is required
        try:
            ctx.load_verify_locations(cafile=str(listener.tls_ca))
        except (OSError, ssl.SSLError) as exc:
            raise CollectorError(f"cannot load the client CA {listener.tls_ca}: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def start_syslog(state: CollectorState) -> SyslogServers:
    """Start the configured listeners (none by default)."""
    servers = SyslogServers(state)
    try:
        for listener in state.config.syslog:
            ctx = _tls_context(listener, state) if listener.protocol == "tls" else None
            await servers.start(listener, ctx)
    except BaseException:
        await servers.close()
        raise
    return servers
