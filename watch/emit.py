"""Send one event to the logship watchdog: copy this file into your app.

Standard library only, no logship needed. The watchdog that started the app puts its
address in the environment variable ``LOGSHIP_EVENTS``: ``unix:/path/to/socket`` (a
Unix datagram socket) or ``udp:127.0.0.1:PORT``. One JSON object per datagram:
``{"name": "torrent.added", "level": "INFO", "message": "...", <fields>}``
(docs/watch.md). Sending never raises and waits at most ``SEND_TIMEOUT`` seconds (a
Unix socket's queue holds a few hundred datagrams; a burst waits for the watchdog to
read): without a watchdog, when its socket is gone or that wait runs out, the event is
dropped and ``emit`` returns False.

    from emit import emit
    emit("torrent.added", peers=12, size_bytes=734003200)
    emit("disk.write_failed", level="ERROR", message="No space left on device", errno=28)
"""

from __future__ import annotations

import json
import os
import socket

__all__ = ["emit", "MAX_DATAGRAM", "SEND_TIMEOUT"]

# the watchdog's limit: a larger datagram is recorded as watch.bad_datagram
MAX_DATAGRAM = 8192
SEND_TIMEOUT = 0.5

_sock: socket.socket | None = None
_addr: object = None
_env: str | None = None


def _connect(address: str) -> tuple[socket.socket, object] | None:
    kind, _, rest = address.partition(":")
    if kind == "unix" and rest and hasattr(socket, "AF_UNIX"):
        return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), rest
    if kind == "udp" and rest:
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            return socket.socket(socket.AF_INET, socket.SOCK_DGRAM), (host, int(port))
    return None


def emit(name: str, level: str = "INFO", message: str | None = None, **fields: object) -> bool:
    """Send one event (name: a dotted identifier such as ``tracker.timeout``).

    Field values: strings, numbers, booleans. Returns whether a datagram left.
    """
    global _sock, _addr, _env
    address = os.environ.get("LOGSHIP_EVENTS", "")
    if not address:
        return False
    try:
        if _sock is None or address != _env:
            target = _connect(address)
            if target is None:
                return False
            _sock, _addr = target
            _sock.settimeout(SEND_TIMEOUT)
            _env = address
        doc: dict[str, object] = {"name": name, "level": level}
        if message is not None:
            doc["message"] = message
        doc.update(fields)
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        _sock.sendto(data, _addr)
        return True
    except (OSError, TypeError, ValueError):
        return False
