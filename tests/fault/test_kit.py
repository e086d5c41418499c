"""The soak's own parts, checked before they judge the product: the writer's rotations
lose and repeat nothing by themselves, its journal says where every seq went, and the
proxy forwards, resets and black-holes."""

from __future__ import annotations

import gzip
import re
import socket
import threading
from collections import Counter
from pathlib import Path

from tests.fault.proxy import FaultProxy
from tests.fault.writer import SoakWriter
from tests.shipkit import wait_for

_SEQ = re.compile(rb"seq=(\d+) ")


def _file_seqs(path: Path) -> list[int]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"{path.name} ends mid-line"
    return [int(m) for m in _SEQ.findall(data)]


def test_writer_rotations_keep_every_seq_exactly_once(tmp_path):
    w = SoakWriter(tmp_path, rate=2000, keep=2, gzip_delay_s=0.1)
    w.start()
    try:
        for kind in ["rename", "copytruncate", "gzip", "copytruncate", "gzip", "rename", "gzip"]:
            n = w.seq
            wait_for(lambda: w.seq >= n + 50, timeout=10, what="the writer to write")
            w.rotate(kind)
        wait_for(lambda: sum(w.rotations.values()) == 7, timeout=10, what="the rotations")
        n = w.seq  # the last gzip is due (0.1 s) and done by the writer's loop, then some more lines
        wait_for(lambda: all(g.name.endswith(".gz") for g in w.gens if g.how == "gzip") and w.seq >= n + 50,
                 timeout=10, what="the last gzip and more lines")
    finally:
        w.stop()
    assert w.error is None
    assert w.rotations == {"rename": 2, "copytruncate": 2, "gzip": 3}
    counts = Counter()
    for p in tmp_path.iterdir():
        counts.update(_file_seqs(p))
    assert set(counts) == set(range(w.seq)) and max(counts.values()) == 1
    # the journal: generations tile [0, seq) and name the file that holds each one now
    gens = w.journal()
    assert [g["first"] for g in gens[1:]] == [g["end"] for g in gens[:-1]] and gens[-1]["end"] == w.seq
    for g in gens:
        assert _file_seqs(tmp_path / g["name"]) == list(range(g["first"], g["end"])), g
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(g["name"] for g in gens)
    assert sum(1 for p in tmp_path.iterdir() if p.name.endswith(".gz")) == 3


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(c,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


def _echo(c: socket.socket) -> None:
    with c:
        try:
            while data := c.recv(4096):
                c.sendall(data)
        except OSError:
            pass


def test_proxy_forwards_resets_and_blackholes():
    srv, t = _echo_server()
    proxy = FaultProxy().start()
    try:
        proxy.set_target(srv.getsockname()[1])
        c = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        c.sendall(b"ping")
        assert c.recv(4) == b"ping"
        assert proxy.reset() == 1
        try:
            got = c.recv(4)
        except ConnectionResetError:
            got = b"RST"
        assert got in (b"RST", b"")
        c.close()
        c = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        c.sendall(b"one")
        assert c.recv(3) == b"one"
        proxy.blackhole(True)
        c.sendall(b"lost")
        c.settimeout(0.5)
        try:
            silent = c.recv(4) == b""
        except TimeoutError:
            silent = True
        assert silent
        proxy.blackhole(False)   # the connection that lived through it is reset
        c.settimeout(5)
        try:
            after = c.recv(4)
        except ConnectionResetError:
            after = b""
        assert after == b""
        c.close()
        c = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        c.sendall(b"back")
        assert c.recv(4) == b"back"
        c.close()
    finally:
        proxy.close()
        srv.close()
        t.join(5)
