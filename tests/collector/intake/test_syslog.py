"""Syslog over the network against a real collector: util-linux `logger` (TCP with
octet counting, UDP, RFC 5424 and 3164) and rsyslog's omfwd (TCP and UDP).

rsyslogd: taken from the machine (Debian's `rsyslog` package); when it is missing the
session fixture installs it with apt-get if running as root, and the rsyslog test is
skipped with the reason otherwise. `logger` is util-linux's (always on Debian)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.collectorkit import CollectorProc
from tests.collector.intake.conftest import Running

LOGGER = shutil.which("logger") or "/usr/bin/logger"


def _rsyslogd() -> str | None:
    found = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "rsyslog"], capture_output=True, timeout=300,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None)
    return found


@pytest.fixture(scope="session")
def rsyslogd() -> str:
    path = _rsyslogd()
    if path is None:
        pytest.skip("rsyslogd is not installed, and cannot be (apt-get install rsyslog needs root)")
    return path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _client_certs(tmp: Path) -> Path:
    """A CA (ca.pem) and client certificates signed by it, made with the openssl CLI:
    web (CN web-1.example), db (CN other, SAN DNS db-2.example), stranger (CN stranger)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", str(tmp / "ca.key"), "-out", str(tmp / "ca.pem"), "-days", "2",
             "-subj", "/CN=logship test CA")
    for name, subj, san in (("web", "/CN=web-1.example", None), ("db", "/CN=other", "DNS:db-2.example"),
                            ("stranger", "/CN=stranger", None)):
        _openssl("req", "-new", *ec, "-keyout", str(tmp / f"{name}.key"), "-out", str(tmp / f"{name}.csr"),
                 "-subj", subj, *(("-addext", f"subjectAltName={san}") if san else ()))
        _openssl("x509", "-req", "-in", str(tmp / f"{name}.csr"), "-CA", str(tmp / "ca.pem"), "-CAkey",
                 str(tmp / "ca.key"), "-CAcreateserial", "-days", "2", "-copy_extensions", "copy",
                 "-out", str(tmp / f"{name}.pem"))
    return tmp / "ca.pem"


@pytest.fixture(scope="module")
def syslog_collector(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("syslog")
    config = ('[limits]\nmax_line_bytes = 4096\nmax_frame_bytes = 16384\n\n'
              '[[syslog]]\nprotocol = "tcp"\nclient_id = "net-tcp"\n\n'
              '[[syslog]]\nprotocol = "udp"\ntz = "Europe/Berlin"\n'
              'networks = { "127.0.0.0/8" = "net-udp", "10.0.0.0/8" = "elsewhere" }\n')
    want = 2
    if shutil.which("openssl"):
        cert, key = tmp / "cert.pem", tmp / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        config += f'\n[[syslog]]\nprotocol = "tls"\nclient_id = "net-tls"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        ca = _client_certs(tmp)
        config += (f'\n[[syslog]]\nprotocol = "tls"\ntls_cert = "{cert}"\ntls_key = "{key}"\ntls_ca = "{ca}"\n'
                   'certificates = { "web-1.example" = "cert-web", "db-2.example" = "cert-db" }\n')
        want = 4
    proc = CollectorProc(tmp, config=config).start()
    try:
        ports: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while len(ports) < want and time.monotonic() < deadline:
            ports = {m[0] + ("-cert" if m[2].startswith("certificate") else ""): int(m[1]) for m in re.findall(
                r"syslog listening on (tcp|udp|tls)://127\.0\.0\.1:(\d+) \(clients: (\w*)", proc.log.read_text())}
            time.sleep(0.02)  # polling the log for the condition
        assert len(ports) == want, proc.log.read_text()
        running = Running(proc)
        running.ports = ports  # type: ignore[attr-defined]
        yield running
    finally:
        proc.stop()


def wait_rows(coll: Running, sql: str, want: list, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = coll.query(sql)
        if rows == want or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)  # polling the database for the condition


def test_logger_tcp_octet_count_and_udp(syslog_collector):
    c = syslog_collector
    tcp, udp = c.ports["tcp"], c.ports["udp"]
    subprocess.run([LOGGER, "--tcp", "--octet-count", "-n", "127.0.0.1", "-P", str(tcp), "-t", "billing",
                    "--sd-id", "meta@1", "--sd-param", 'order="77"', "-p", "user.err", "tcp five four two four"],
                   check=True, timeout=30)
    subprocess.run([LOGGER, "--udp", "--rfc3164", "-n", "127.0.0.1", "-P", str(udp), "-t", "cron",
                    "-p", "cron.info", "udp three one six four"], check=True, timeout=30,
                   env={**os.environ, "TZ": "Europe/Berlin"})  # RFC 3164: the sender's wall clock, no zone
    sql = ("SELECT e.client_id, level, message, s.log_format, s.path LIKE '%peer=127.0.0.1%' FROM events e "
           "JOIN sources s USING (source_id) WHERE message LIKE '% four' ORDER BY e.client_id")
    rows = wait_rows(c, sql, [["net-tcp", "ERROR", "tcp five four two four", "syslog5424", True],
                              ["net-udp", "INFO", "udp three one six four", "syslog", True]])
    assert rows == [["net-tcp", "ERROR", "tcp five four two four", "syslog5424", True],
                    ["net-udp", "INFO", "udp three one six four", "syslog", True]]
    assert c.query("SELECT attrs->>'meta@1.order', attrs->>'app' FROM events WHERE message LIKE 'tcp five%'") == \
        [["77", "billing"]]
    # the listener's zone, and the receive time's year: within minutes of now
    assert c.query("SELECT abs(epoch(ts) - epoch(now())) < 600 FROM events WHERE message LIKE 'udp three%'") == \
        [[True]]


def test_overlong_messages_are_rejects_and_the_connection_goes_on(syslog_collector):
    """An octet-counted frame over max_line_bytes (and one over max_frame_bytes) and a
    newline-framed line over it: each one `line_too_long` reject keeping its start;
    the messages between and after them are stored (one connection throughout)."""
    c = syslog_collector

    def counted(msg: bytes) -> bytes:
        return b"%d %s" % (len(msg), msg)

    big = b"<14>1 2026-11-30T12:00:00Z h app - - - long-a " + b"a" * 10_000
    huge = b"<14>1 2026-11-30T12:00:00Z h app - - - long-b " + b"b" * 100_000
    line = b"<14>1 2026-11-30T12:00:00Z h app - - - long-c " + b"c" * 10_000 + b"\n"
    ok = [b"<14>1 2026-11-30T12:00:0%dZ h app - - - goes on %d" % (i, i) for i in range(4)]
    with socket.create_connection(("127.0.0.1", c.ports["tcp"]), timeout=30) as s:
        s.sendall(counted(ok[0]) + counted(big) + counted(ok[1]) + counted(huge) + counted(ok[2]) + line + ok[3])
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""  # the collector read to the end and closed
    sql = "SELECT message FROM events WHERE message LIKE 'goes on %' ORDER BY 1"
    want = [[f"goes on {i}"] for i in range(4)]
    assert wait_rows(c, sql, want) == want
    rej = c.query("SELECT error_code, octet_length(raw), left(raw::VARCHAR, 45), error FROM rejects "
                  "WHERE raw::VARCHAR LIKE '%long-%' ORDER BY byte_offset")
    assert [r[:3] for r in rej] == [["line_too_long", 4096, f"<14>1 2026-11-30T12:00:00Z h app - - - long-{x}"]
                                    for x in "abc"]
    assert [r[3].split(" is ")[1].split(" bytes")[0] for r in rej] == \
        [str(len(big) + 1), str(len(huge) + 1), str(len(line))]


def test_rsyslog_omfwd_tcp_and_udp(syslog_collector, rsyslogd, tmp_path):
    c = syslog_collector
    sock = tmp_path / "in.sock"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(f'''
global(workDirectory="{tmp_path}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" CreatePath="on")
action(type="omfwd" target="127.0.0.1" port="{c.ports['tcp']}" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{c.ports['udp']}" protocol="udp")
''')
    proc = subprocess.Popen([rsyslogd, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sock.exists(), "rsyslogd did not create its input socket"
        for i in range(3):
            subprocess.run([LOGGER, "-u", str(sock), "-t", "shop", "-p", "local0.warning", f"rsyslog relay {i}"],
                           check=True, timeout=30)
        sql = ("SELECT e.client_id, s.log_format, count(*), min(level) FROM events e JOIN sources s "
               "USING (source_id) WHERE message LIKE 'rsyslog relay %' GROUP BY ALL ORDER BY 1")
        want = [["net-tcp", "syslog5424", 3, "WARN"], ["net-udp", "syslog", 3, "WARN"]]
        assert wait_rows(c, sql, want) == want
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()


def test_tls_octet_counted_and_newline_framed(syslog_collector):
    c = syslog_collector
    if "tls" not in c.ports:
        pytest.skip("needs the openssl CLI to make a certificate")
    cert = c.proc.tmp / "cert.pem"
    ctx = ssl.create_default_context(cafile=str(cert))
    msgs = [b"<165>1 2026-11-30T12:00:00.5Z web-1 app 42 ID7 - tls one",
            b"<13>Nov 30 12:00:01 web-1 app[42]: tls two\nwith a second line"]
    with socket.create_connection(("127.0.0.1", c.ports["tls"]), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"%d %s" % (len(msgs[0]), msgs[0]) + b"%d %s" % (len(msgs[1]), msgs[1]))
            s.sendall(b"<14>1 2026-11-30T12:00:02Z web-1 app - - - tls three\n")
            # end as a sender should: a TLS close, which reads to the collector's close.
            # (Closing with the server's TLS 1.3 session tickets unread sends a reset,
            # and a reset drops what the collector had not read yet.)
            try:
                s.unwrap()  # close_notify both ways (reads the tickets on the way)
            except (ssl.SSLError, OSError):
                pass
    sql = ("SELECT e.client_id, ts, message FROM events e JOIN sources s USING (source_id) "
           "WHERE message LIKE 'tls %' ORDER BY ts")
    want = [["net-tls", "2026-11-30T12:00:00.500000+00:00", "tls one"],
            ["net-tls", "2026-11-30T12:00:01+00:00", "tls two#012with a second line"],
            ["net-tls", "2026-11-30T12:00:02+00:00", "tls three"]]
    assert wait_rows(c, sql, want) == want


def _send_tls(port: int, server_ca: Path, cert: Path | None, key: Path | None, data: bytes) -> None:
    """Send over TLS with a client certificate, end with a TLS close (which waits for the
    collector's: it has read everything, or refused the connection)."""
    ctx = ssl.create_default_context(cafile=str(server_ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            try:
                s.sendall(data)
                s.unwrap()
            except (ssl.SSLError, OSError):
                pass  # refused: the collector closed first


def test_tls_client_certificate_names_the_client(syslog_collector):
    """A listener with `certificates`: the client id from the certificate's SAN DNS name
    or subject CN; a certificate that maps to none is refused with one log line."""
    c = syslog_collector
    if "tls-cert" not in c.ports:
        pytest.skip("needs the openssl CLI to make certificates")
    tmp, port = c.proc.tmp, c.ports["tls-cert"]
    for name in ("web", "db", "stranger"):
        msg = b"<14>1 2026-11-30T12:00:00Z h app - - - cert from %s\n" % name.encode()
        _send_tls(port, tmp / "cert.pem", tmp / f"{name}.pem", tmp / f"{name}.key", msg)
    sql = ("SELECT e.client_id, message FROM events e WHERE message LIKE 'cert from %' ORDER BY 1")
    want = [["cert-db", "cert from db"], ["cert-web", "cert from web"]]
    assert wait_rows(c, sql, want) == want
    refused = [ln for ln in c.proc.log.read_text().splitlines() if "maps to no client" in ln]
    assert len(refused) == 1 and "(stranger)" in refused[0], refused
    assert c.query("SELECT count(*) FROM events WHERE message = 'cert from stranger'") == [[0]]
    # without a client certificate the handshake itself fails: nothing is stored
    _send_tls(port, tmp / "cert.pem", None, None, b"<14>1 2026-11-30T12:00:00Z h app - - - cert from nobody\n")
    assert c.query("SELECT count(*) FROM events WHERE message = 'cert from nobody'") == [[0]]
