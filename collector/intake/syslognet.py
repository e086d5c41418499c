"""Syslog over the network: TCP (RFC 6587: octet-counted or newline-framed, told apart
per message by its first byte), UDP (one message per datagram) and TLS (RFC 5425: TCP
framing inside TLS). Off by default; each `[[syslog]]` listener stands for one client id, or maps
sender networks to client ids (syslog carries no token), and binds 127.0.0.1 unless
configured otherwise.

Messages are appended, as they came, to the listener's client's `syslog` intake source
of the day and of the sender's address (`&peer=<ip>&format=<f>` in the source's head and
path: the sender's address is kept there), one source per payload format: RFC 5424
(`<PRI>1 `) goes to a `syslog5424` source, anything else to a `syslog` (RFC 3164)
source, which takes the listener's zone and the receive time's year. The shipped
grammars parse them; a message that fits neither is a visible reject. A line feed or
other control character inside a message is written as rsyslog does (`#012`), so that
one message stays one line.

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
    """Messages of one listener and sender waiting for their commit, by format."""

    lines: dict[str, list[bytes]] = field(default_factory=dict)
    nbytes: int = 0
    count: int = 0

    def add(self, msg: bytes) -> None:
        line = clean_message(msg)
        if not line:
            return
        self.lines.setdefault(payload_format(line), []).append(line + b"\n")
        self.nbytes += len(line) + 1
        self.count += 1


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
            m = self.state.metrics
            for fmt, lines in batch.lines.items():
                data = b"".join(lines)
                while True:
                    try:
                        done = await append(self.state, self.client_id, self.intake, data, log_format=fmt,
                                            part=f"peer={self.peer}&format={fmt}", tz=self.listener.tz,
                                            received_at=time.time())
                    except Busy as exc:
                        m.intake_busy[self.intake] += 1
                        if drop_when_busy or self.state.shutting_down:
                            m.intake_dropped[self.intake] += len(lines)
                            log.warning("%s: dropped %d messages from %s: %s", self.intake, len(lines), self.peer, exc)
                            break
                        await asyncio.sleep(min(exc.retry_after, 1.0))
                        continue
                    m.intake_requests[(self.intake, 200)] += 1
                    m.intake_records[self.intake] += done.records
                    m.intake_rejects[self.intake] += done.rejects
                    break

    def schedule(self, drop_when_busy: bool) -> None:
        """Commit the waiting messages FLUSH_S from now, unless that is arranged."""
        if self.timer is None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(FLUSH_S, self._fire, drop_when_busy)

    def _fire(self, drop_when_busy: bool) -> None:
        self.timer = None
        self.flushing = asyncio.ensure_future(self.flush(drop_when_busy=drop_when_busy))


async def _read_frames(reader: asyncio.StreamReader, max_bytes: int) -> bytes | None:
    """The next message of an RFC 6587 stream (None at its end): octet-counted when it
    starts with a digit (`LEN SP MSG`), else up to a line feed."""
    first = await reader.read(1)
    while first in (b"\n", b"\r", b"\x00"):
        first = await reader.read(1)
    if not first:
        return None
    if first.isdigit():
        digits = first + await reader.readuntil(b" ")
        n = int(digits[:-1]) if digits[:-1].isdigit() and len(digits) <= 11 else -1
        if not 0 < n <= max_bytes:
            raise ValueError(f"octet count {digits[:-1][:12]!r} is not 1..{max_bytes}")
        return await reader.readexactly(n)
    try:
        return first + await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:  # the stream's last message without its line feed
        return first + exc.partial


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
        clients = ", ".join([f"{net} -> {cid}" for net, cid in listener.networks] +
                            ([f"others -> {listener.client_id}"] if listener.client_id else []))
        log.info("syslog listening on %s (clients: %s; tz %s)", where, clients, listener.tz)
        return where

    async def _connection(self, listener: SyslogListener, intake: str, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        client_id = listener.client_for(peer)
        if client_id is None:
            log.warning("%s: refused a connection from %s: in none of the listener's networks", intake, peer)
            self.state.metrics.intake_requests[(intake, 403)] += 1
            writer.close()
            self.tasks.discard(task)
            return
        sender = _Sender(self.state, listener, intake, peer, client_id)
        self.senders.add(sender)
        max_bytes = self.state.config.limits.max_frame_bytes
        try:
            while not self.state.shutting_down:
                try:
                    msg = await _read_frames(reader, max_bytes)
                except (ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError) as exc:
                    log.warning("%s: closing the connection from %s: %s", intake, peer, exc)
                    break
                if msg is None:
                    break
                sender.batch.add(msg)
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
