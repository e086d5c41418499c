#!/usr/bin/env python3
"""Regenerate the fidelity corpus: real logs written by the real programs on this machine.

Run as root on a Debian machine: ``python3 tests/corpus/make_corpus.py`` (``--no-apt``
skips apt-get when the programs are already there). It installs what it needs (apt
packages; python-json-logger and structlog in a throwaway venv, never the project's),
makes each program write its files under tests/corpus/<program>/, and writes the truth
of each file to tests/corpus/expected/<file>.truth.jsonl plus tests/corpus/manifest.json.

Why the truth can be trusted: every writer reports what it logged (level, message,
logger/program) and the second it logged it in, read before and after the call (a
writer keeps out of the last quarter of a second, and a report whose two readings differ
fails the run). The head line of each entry is then found in the file by a marker unique
to the entry (`[#3]`, a request path); lines between two heads belong to the entry
above only when the writer said it spans lines (a traceback). The few files whose
content the corpus does not choose (dpkg.log, apt's history.log, nginx's error log) are
read with a strict pattern of the program's documented layout, checked against what
was asked of it. Every program writes in UTC (the container's zone; TZ=UTC is set).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN = HERE / "gen"
EXPECTED = HERE / "expected"
APT_PACKAGES = ["rsyslog", "nginx", "bsdutils", "liblog4j2-java", "liblogback-java", "libslf4j-java",
                "default-jre-headless", "default-jdk-headless", "golang-go",
                "golang-github-sirupsen-logrus-dev", "lnav", "python3-venv"]
PIP_PACKAGES = ["python-json-logger", "structlog"]
VENV = Path(tempfile.gettempdir()) / "logship-corpus-venv"
ENV = {**os.environ, "TZ": "UTC", "LC_ALL": "C.UTF-8"}


@dataclass
class Entry:
    """One logged entry as its writer reports it; `locate` is unique to its head line."""

    ts: int | None
    level: str | None
    message: str | None
    program: str | None
    locate: str
    multiline: bool = False
    fields: dict = field(default_factory=dict)
    message_alt: list[str] = field(default_factory=list)


@dataclass
class CorpusFile:
    rel: str
    writer: str  # program and version
    kind: str  # what the file is, in the words of the format list
    log_format: str | None  # the logship format that should read it, where one exists today
    entries: list[Entry]
    note: str = ""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, env=ENV, text=True, capture_output=True, **kw)


def version(cmd: list[str], pattern: str = r"(\d+(?:\.\d+)+)") -> str:
    p = subprocess.run(cmd, env=ENV, text=True, capture_output=True)
    m = re.search(pattern, p.stdout + p.stderr)
    return m.group(1) if m else "?"


def deb_version(pkg: str) -> str:
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], text=True, capture_output=True)
    return p.stdout.strip() or "?"


def guard() -> None:
    """Keep out of the last quarter of a second: the second read before a call is the logged one."""
    frac = time.time() % 1
    if frac > 0.75:
        time.sleep(1.02 - frac)


def iso(ts: int | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_reports(lines: str) -> dict[str, list[Entry]]:
    """Group a writer's stdout reports by group; a report whose two second readings differ fails."""
    groups: dict[str, list[Entry]] = {}
    for line in lines.splitlines():
        r = json.loads(line)
        if r["ts"] != r["ts_after"]:
            raise SystemExit(f"{r['group']} {r['locate']}: logged across a second boundary; run again")
        groups.setdefault(r["group"], []).append(Entry(r["ts"], r["level"], r["message"], r["program"],
                                                       r["locate"], r["multiline"]))
    return groups


# --- writers --------------------------------------------------------------------------------


def rsyslog(out: Path) -> list[CorpusFile]:
    """rsyslogd with three file templates, fed by util-linux `logger` over its own socket."""
    work = Path(tempfile.mkdtemp(prefix="corpus-rsyslog-"))
    sock = work / "log.sock"
    day = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d")
    trad, rfc3339, p23 = (out / "rsyslog" / f"messages-{day}", out / "rsyslog" / "rfc3339.log",
                          out / "rsyslog" / "rfc5424.log")
    trad.parent.mkdir(parents=True, exist_ok=True)
    for f in (trad, rfc3339, p23):
        f.unlink(missing_ok=True)
    # local5 carries the tags with spaces: RFC 5424's APP-NAME cannot hold them (rsyslog would
    # write APP-NAME "Google" and a message " Chrome[..]: ..."), so they stay out of that file.
    (work / "rsyslog.conf").write_text(f"""
global(workDirectory="{work}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{sock}" CreatePath="on" RateLimit.Interval="0")
*.* action(type="omfile" file="{trad}" template="RSYSLOG_TraditionalFileFormat")
*.* action(type="omfile" file="{rfc3339}" template="RSYSLOG_FileFormat")
*.*;local5.none action(type="omfile" file="{p23}" template="RSYSLOG_SyslogProtocol23Format")
""")
    proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "pid")],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline:
                raise SystemExit("rsyslogd did not create its socket")
            time.sleep(0.05)
        host = socket.gethostname().split(".")[0]
        sends = [  # (tag, with pid, priority, message)
            ("sshd", True, "auth.info", "Accepted publickey for deploy from 10.0.0.5 port 52314 ssh2"),
            ("CRON", True, "cron.info", "(root) CMD (run-parts /etc/cron.hourly)"),
            ("kernel", False, "kern.warning", "[12345.678901] usb 1-1: device descriptor read/64, error -71"),
            ("Google Chrome", True, "local5.notice", "Helper process started"),
            ("Microsoft Word", True, "local5.info", "document saved: report.docx"),
            ("syslogd 1.4.1", False, "local5.info", "restart"),
            ("systemd", True, "daemon.info", "Started Daily apt download activities."),
            ("postfix/smtpd", True, "mail.err", "warning: hostname example.org does not resolve"),
            ("myapp", False, "user.err", "ERROR: job 7 failed: key=value, colons: everywhere"),
            ("dhclient", False, "daemon.debug", "DHCPREQUEST for 10.0.0.12 on eth0 to 10.0.0.1 port 67"),
            ("app", True, "local0.crit", "unicode: café ünïcode ✓"),
            ("backup.sh", False, "local0.notice", "done in 12.5s"),
        ]
        entries_all, entries_5424 = [], []
        for i, (tag, pid, prio, msg) in enumerate(sends):
            text = f"{msg} [#{i}]"
            cmd = ["logger", "-u", str(sock), "-t", tag, "-p", prio, "--", text]
            if pid:
                cmd.insert(1, "-i")
            guard()
            before = int(time.time())
            run(cmd)
            after = int(time.time())
            if before != after:
                raise SystemExit("rsyslog: logged across a second boundary; run again")
            level = prio.split(".")[1]
            e = Entry(before, None, text, tag, f"[#{i}]", fields={"host": host})
            entries_all.append(e)
            if not prio.startswith("local5."):
                # RFC 5424's APP-NAME is rsyslog's programname, which ends before a '/'
                entries_5424.append(Entry(before, level, text, tag.split("/")[0], f"[#{i}]", fields={"host": host}))
        for f in (trad, rfc3339, p23):  # rsyslog writes asynchronously: wait for the last line
            deadline = time.monotonic() + 10
            while not (f.exists() and f"[#{len(sends) - 1}]" in f.read_text(errors="replace")):
                if time.monotonic() > deadline:
                    raise SystemExit(f"rsyslog did not write {f}")
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    ver = f"rsyslogd {version(['rsyslogd', '-v'])}, util-linux logger {version(['logger', '-V'])}"
    return [
        CorpusFile(str(trad.relative_to(out)), ver, "syslog (RSYSLOG_TraditionalFileFormat)", "syslog", entries_all,
                   "logrotate dateext name; program names with spaces; no severity in the line"),
        CorpusFile(str(rfc3339.relative_to(out)), ver, "syslog (RSYSLOG_FileFormat, RFC 3339 high precision)",
                   "syslog", entries_all, "program names with spaces; no severity in the line"),
        CorpusFile(str(p23.relative_to(out)), ver, "syslog RFC 5424 (RSYSLOG_SyslogProtocol23Format)", "syslog5424",
                   entries_5424, "rsyslog keeps the space before MSG (two spaces after the '-' of SD)"),
    ]


def nginx(out: Path) -> list[CorpusFile]:
    """nginx on loopback with four access log formats and an error log."""
    work = Path(tempfile.mkdtemp(prefix="corpus-nginx-"))
    work.chmod(0o755)  # the worker processes run as nobody
    html = work / "html"
    (html / "dir").mkdir(parents=True)
    (html / "index.html").write_text("<p>hello</p>\n")
    (html / "style.css").write_text("p{}\n")
    (html / "limited").write_text("ok\n")
    d = out / "nginx"
    d.mkdir(parents=True, exist_ok=True)
    logs = {"combined": d / "access-combined.log", "main": d / "access-main.log",
            "common": d / "access-common.log", "vhost_combined": d / "access-vhost_combined.log"}
    for f in [*logs.values(), d / "error.log"]:
        f.unlink(missing_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # `main` is the official image's nginx.conf format; common and vhost_combined are
    # Apache's LogFormat nicknames written with nginx variables.
    (work / "nginx.conf").write_text(f"""
pid {work}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    log_format common '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent';
    log_format vhost_combined '$host:$server_port $remote_addr - $remote_user [$time_local] "$request" '
                              '$status $body_bytes_sent "$http_referer" "$http_user_agent"';
    client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
    limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {html};
        access_log {logs['combined']} combined;
        access_log {logs['main']} main;
        access_log {logs['common']} common;
        access_log {logs['vhost_combined']} vhost_combined;
        location = /limited {{ limit_req zone=one nodelay; limit_req_log_level warn; }}
        location /private {{ auth_basic "private"; auth_basic_user_file {work}/htpasswd; }}
    }}
}}
""")
    (work / "htpasswd").write_text("alice:{PLAIN}secret\n")
    run(["nginx", "-p", str(work), "-c", str(work / "nginx.conf")])
    base = f"http://127.0.0.1:{port}"
    reqs = [  # method, path, headers, expected status; or raw bytes
        ("GET", "/", {"User-Agent": "curl/7.88.1"}, 200),
        ("GET", "/style.css", {"Referer": f"{base}/", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0"}, 200),
        ("GET", "/missing.png", {"User-Agent": "Mozilla/5.0 \"quoted\" agent"}, 404),
        ("HEAD", "/index.html", {"X-Forwarded-For": "203.0.113.7, 10.0.0.2"}, 200),
        ("POST", "/index.html", {"Content-Type": "application/x-www-form-urlencoded"}, 405),
        ("GET", "/search?q=caf%C3%A9&page=2", {"X-Forwarded-For": "198.51.100.23"}, 404),
        ("GET", "/dir/", {}, 403),
        ("GET", "/limited", {}, 200),
        ("GET", "/limited", {}, 503),
        ("GET", "/private/", {"Authorization": "Basic YWxpY2U6d3Jvbmc="}, 401),
        ("GET", "/a%22quote", {}, 404),
        ("RAW", b"GARBAGE\r\n\r\n", {}, 400),
        ("GET", "/index.html", {"User-Agent": "Wget/1.21.3"}, 200),
    ]
    access: list[Entry] = []
    errors: list[tuple[int, str | None]] = []  # each request's second and request line
    try:
        for i, (method, path, headers, status) in enumerate(reqs):
            guard()
            before = int(time.time())
            if method == "RAW":
                with socket.create_connection(("127.0.0.1", port)) as s:
                    s.sendall(path)
                    got = int(s.recv(4096).split()[1])
                request = None
            else:
                data = b"a=1" if method == "POST" else None
                req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
                try:
                    with urllib.request.urlopen(req) as r:
                        got = r.status
                except urllib.error.HTTPError as e:
                    got = e.code
                request = f"{method} {path} HTTP/1.1"
            after = int(time.time())
            if before != after:
                raise SystemExit("nginx: request across a second boundary; run again")
            if got != status:
                raise SystemExit(f"nginx: {method} {path} answered {got}, expected {status}")
            fields = {"status": status, "client": "127.0.0.1"}
            if request:
                fields.update(method=method, path=path)
            locate = f'"{request}"' if request else '"GARBAGE"'
            access.append(Entry(before, None, None, None, locate, fields=fields))
            errors.append((before, request))
    finally:
        run(["nginx", "-p", str(work), "-c", str(work / "nginx.conf"), "-s", "quit"])
        deadline = time.monotonic() + 10
        while (work / "nginx.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(work, ignore_errors=True)
    ver = f"nginx {version(['nginx', '-v'])}"
    files = []
    for name, f in logs.items():
        locs = [Entry(e.ts, None, None, None, e.locate, fields=dict(e.fields)) for e in access]
        files.append(CorpusFile(str(f.relative_to(out)), ver, f"access log ({name})",
                                "access" if name in ("combined", "common") else None, locs,
                                {"combined": "nginx's default format",
                                 "main": "the official Docker image's format: combined plus \"$http_x_forwarded_for\"",
                                 "common": "Apache's common log format",
                                 "vhost_combined": "Apache's vhost_combined: host:port first"}[name]))
    files.append(nginx_errors(out, d / "error.log", errors, ver))
    return files


NGINX_ERROR = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] (\d+)#(\d+): (\*\d+ )?(.*)$")


def nginx_errors(out: Path, path: Path, asked: list, ver: str) -> CorpusFile:
    """The error log's truth: its documented layout read strictly, each line checked against a request made."""
    entries = []
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines):
        m = NGINX_ERROR.match(line)
        if not m:
            raise SystemExit(f"nginx error.log line {n + 1} does not have the documented layout: {line!r}")
        stamp, level, pid, tid, conn, msg = m.groups()
        ts = int(dt.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp())
        if not any(a[0] == ts and f'request: "{a[1]}"' in msg for a in asked):
            raise SystemExit(f"nginx error.log line {n + 1} matches no request made: {line!r}")
        entries.append(Entry(ts, level, msg, None, line, fields={"pid": int(pid)},
                             message_alt=[f"{conn}{msg}"] if conn else []))
    return CorpusFile(str(path.relative_to(out)), ver, "nginx error log", None, entries,
                      "message: the text after 'pid#tid: *connection '; the variant with '*connection' is accepted")


def python_family(out: Path) -> list[CorpusFile]:
    """stdlib logging, python-json-logger and structlog, in a throwaway venv."""
    if not (VENV / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(VENV)])
    run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *PIP_PACKAGES])
    p = run([str(VENV / "bin" / "python"), str(GEN / "python_logs.py"), str(out)])
    groups = from_reports(p.stdout)
    py = version([str(VENV / "bin" / "python"), "--version"])
    pkgs = {n.split("==")[0].lower(): n.split("==")[1]
            for n in run([str(VENV / "bin" / "python"), "-m", "pip", "freeze"]).stdout.split()}
    pjl = f"Python {py} logging, python-json-logger {pkgs.get('python-json-logger', '?')}"
    files = [
        CorpusFile("python/default.log", f"Python {py} logging", "Python logging default format "
                   "%(levelname)s:%(name)s:%(message)s", None, groups["python/default"],
                   "no time in the line (truth ts null); a traceback from logger.exception"),
        CorpusFile("python/basicconfig.log", f"Python {py} logging", "Python logging "
                   "'%(asctime)s %(levelname)s %(message)s'", None, groups["python/basicconfig"],
                   "no logger name in the line"),
        CorpusFile("python/cookbook.log", f"Python {py} logging", "Python logging cookbook "
                   "'%(asctime)s - %(name)s - %(levelname)s - %(message)s'", None, groups["python/cookbook"]),
        CorpusFile("python/datefmt.log", f"Python {py} logging", "Python logging "
                   "'[%(asctime)s] %(levelname)-8s %(name)s: %(message)s', datefmt '%Y-%m-%d %H:%M:%S'", None,
                   groups["python/datefmt"]),
        CorpusFile("python-json-logger/asctime.jsonl", pjl, "JSON lines, python-json-logger keys asctime/levelname/"
                   "name/message", "jsonl", groups["python-json-logger/asctime"], "exc_info key holds the traceback"),
        CorpusFile("python-json-logger/renamed.jsonl", pjl, "JSON lines, python-json-logger with rename_fields "
                   "timestamp/level/logger", "jsonl", groups["python-json-logger/renamed"],
                   "asctime-style time in 'timestamp'"),
        CorpusFile("structlog/json.jsonl", f"Python {py}, structlog {pkgs.get('structlog', '?')}",
                   "JSON lines, structlog JSONRenderer event/level/timestamp", "jsonl", groups["structlog/json"],
                   "the message is the 'event' key"),
    ]
    for f in files:
        if f.rel == "python/basicconfig.log":
            for e in f.entries:
                e.program = None  # the format has no %(name)s
    return files


def java(out: Path) -> list[CorpusFile]:
    """log4j2 and logback (through slf4j), Debian's jars, compiled with javac."""
    jars = "/usr/share/java"
    cp = ":".join(f"{jars}/{j}.jar" for j in ("log4j-api", "log4j-core", "slf4j-api", "logback-classic",
                                             "logback-core"))
    build = Path(tempfile.mkdtemp(prefix="corpus-java-"))
    for d in ("log4j2", "logback"):
        shutil.rmtree(out / d, ignore_errors=True)
    day = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    try:
        run(["javac", "-d", str(build), "-cp", cp, str(GEN / "java" / "CorpusLog.java")])
        p = run(["java", "-cp", f"{build}:{cp}", f"-Dlog4j2.configurationFile={GEN / 'java' / 'log4j2.xml'}",
                 f"-Dlogback.configurationFile={GEN / 'java' / 'logback.xml'}", f"-Dcorpus.out={out}",
                 f"-Dcorpus.day={day}", "CorpusLog"])
        if date_changed(day):
            raise SystemExit("java: the day changed while logging; run again")
    finally:
        shutil.rmtree(build, ignore_errors=True)
    groups = from_reports(p.stdout)
    jre = version(["java", "-version"], r'version "([^"]+)"')
    l4 = f"log4j2 {deb_version('liblog4j2-java')} (Debian), OpenJDK {jre}"
    lb = f"logback {deb_version('liblogback-java')}, slf4j {deb_version('libslf4j-java')} (Debian), OpenJDK {jre}"

    def short(entries: list[Entry]) -> list[Entry]:
        return [Entry(e.ts, e.level, e.message, e.program.rsplit(".", 1)[-1], e.locate, e.multiline)
                for e in entries]

    return [
        CorpusFile("log4j2/iso-millis.log", l4, "log4j2 '%d{yyyy-MM-dd HH:mm:ss.SSS} [%t] %-5level %logger{36} - "
                   "%msg%n'", None, groups["log4j2"], "an exception with cause (\\tat, Caused by:, ... 1 more)"),
        CorpusFile("log4j2/iso8601.log", l4, "log4j2 '%d{ISO8601} %-5p [%t] %c - %m%n' (T, comma millis)", None,
                   groups["log4j2"]),
        CorpusFile("log4j2/spark.log", l4, "log4j2 '%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n' (Spark's pattern)", None,
                   short(groups["log4j2"]), "two-digit year; short logger name"),
        CorpusFile("logback/iso.log", lb, "logback '%d [%thread] %-5level %logger{36} - %msg%n' (ISO 8601, comma "
                   "millis)", None, groups["logback"], "logback's '... N common frames omitted'"),
        CorpusFile(f"logback/app-{day}.log", lb, "logback '%d{HH:mm:ss.SSS} [%thread] %-5level %logger{36} - "
                   "%msg%n' (time of day only)", None, groups["logback"], "the date only in the file name"),
    ]


def date_changed(day: str) -> bool:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d") != day


def golang(out: Path) -> list[CorpusFile]:
    """Go's log package and logrus (Debian's source package, GOPATH mode)."""
    build = Path(tempfile.mkdtemp(prefix="corpus-go-"))
    env = {**ENV, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(build / "cache")}
    try:
        for prog in ("golog", "logrus"):
            subprocess.run(["go", "build", "-o", str(build / prog), "."], cwd=GEN / "go" / prog, env=env,
                           check=True, capture_output=True)
        reports = run([str(build / "golog"), str(out)]).stdout + run([str(build / "logrus"), str(out)]).stdout
    finally:
        shutil.rmtree(build, ignore_errors=True)
    groups = from_reports(reports)
    go = f"Go {version(['go', 'version'])} log"
    lr = f"logrus {deb_version('golang-github-sirupsen-logrus-dev')} (Debian), Go {version(['go', 'version'])}"
    prefix = groups["go/log-prefix"]
    for e in prefix:  # Lmsgprefix's prefix cannot be told from a message's own colon: it stays in it
        e.message, e.message_alt, e.program = f"worker: {e.message}", [e.message], None
    return [
        CorpusFile("go/log-default.log", go, "Go log, default flags (2006/01/02 15:04:05 msg)", None,
                   groups["go/log-default"], "no level, no program in the line"),
        CorpusFile("go/log-micro.log", go, "Go log, LstdFlags|Lmicroseconds", None, groups["go/log-micro"]),
        CorpusFile("go/log-prefix.log", go, "Go log, prefix 'worker: ' with Lmsgprefix", None, prefix,
                   "the prefix stays in the message (golog.lark); the message without it is accepted"),
        CorpusFile("logrus/text.log", lr, "logrus TextFormatter to a file (time= level= msg= fields)", "logfmt",
                   groups["logrus/text"]),
        CorpusFile("logrus/json.jsonl", lr, "logrus JSONFormatter (time/level/msg)", "jsonl", groups["logrus/json"]),
    ]


DPKG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (startup|status|configure|install|upgrade|remove|purge|"
                       r"trigproc|conffile) (.*)$")


def dpkg(out: Path) -> list[CorpusFile]:
    """/var/log/dpkg.log and /var/log/apt/history.log, as written by this machine's installs, trimmed."""
    d = out / "dpkg"
    d.mkdir(parents=True, exist_ok=True)
    lines = Path("/var/log/dpkg.log").read_text().splitlines()[-150:]
    (d / "dpkg.log").write_text("".join(line + "\n" for line in lines))
    entries = []
    for n, line in enumerate(lines):
        m = DPKG_LINE.match(line)
        if not m:
            raise SystemExit(f"dpkg.log line does not have dpkg's documented layout: {line!r}")
        ts = int(dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp())
        entries.append(Entry(ts, None, f"{m.group(2)} {m.group(3)}", None, line))
    # apt's history.log: stanzas of "Key: value" lines between blank lines; the last few whose
    # lines are short enough to keep the corpus small.
    stanzas = [s for s in Path("/var/log/apt/history.log").read_text().split("\n\n") if s.strip()]
    kept: list[str] = []
    for s in reversed(stanzas):  # the installs people type; not this machine's image set-up (-o Dir::...)
        if re.search(r"^Commandline: apt(-get)? install (?!.*Dir::)", s, re.M) and max(map(len, s.splitlines())) < 4000:
            kept.insert(0, s.strip("\n"))
        if len(kept) == 4:
            break
    (d / "history.log").write_text("".join(f"\n{s}\n" for s in kept))
    hist = []
    for s in kept:
        start = re.search(r"^Start-Date: (\d{4}-\d\d-\d\d)  (\d\d:\d\d:\d\d)$", s, re.M)
        cmd = re.search(r"^Commandline: (.*)$", s, re.M)
        if not start:
            raise SystemExit("apt history.log stanza without Start-Date")
        ts = int(dt.datetime.strptime(" ".join(start.groups()), "%Y-%m-%d %H:%M:%S")
                 .replace(tzinfo=dt.timezone.utc).timestamp())
        hist.append(Entry(ts, None, cmd.group(1) if cmd else None, None, start.group(0), multiline=True))
    v = f"dpkg {deb_version('dpkg')}"
    return [
        CorpusFile("dpkg/dpkg.log", v, "dpkg.log (YYYY-MM-DD HH:MM:SS action ...)", None, entries,
                   "the last 150 lines after this script's installs; no program or level in the line"),
        CorpusFile("dpkg/history.log", f"apt {deb_version('apt')}", "apt history.log (stanzas, blank line first)",
                   None, hist, "an entry is a stanza from its blank line; message: the Commandline value"),
    ]


# --- truth -----------------------------------------------------------------------------------


def truth_rows(path: Path, cf: CorpusFile) -> list[dict]:
    """Find each entry's head line in order; lines between heads continue a multi-line entry."""
    lines = path.read_bytes().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    heads: list[int] = []
    cursor = 0
    for e in cf.entries:
        while cursor < len(lines) and e.locate not in lines[cursor]:
            cursor += 1
        if cursor == len(lines):
            raise SystemExit(f"{cf.rel}: no line holds {e.locate!r}")
        heads.append(cursor)
        cursor += 1
    rows = []
    for k, (e, h) in enumerate(zip(cf.entries, heads)):
        end = heads[k + 1] if k + 1 < len(heads) else len(lines)
        start = h  # apt's blank line before a stanza ends the one above (the file's first belongs to none)
        if end - h > 1 and not e.multiline:
            raise SystemExit(f"{cf.rel}: line {h + 2} is no entry's head and {e.locate!r} is one line")
        row = {"line": start + 1, "lines": end - start, "ts": iso(e.ts), "level": e.level, "message": e.message,
               "program": e.program}
        if e.fields:
            row["fields"] = e.fields
        if e.message_alt:
            row["message_alt"] = e.message_alt
        rows.append(row)
    if heads and heads[0] != 0 and not (cf.rel == "dpkg/history.log" and heads[0] == 1):
        raise SystemExit(f"{cf.rel}: lines before the first entry")
    return rows


def write_truth(out: Path, files: list[CorpusFile]) -> None:
    shutil.rmtree(EXPECTED, ignore_errors=True)
    manifest = []
    for cf in files:
        path = out / cf.rel
        rows = truth_rows(path, cf)
        t = EXPECTED / f"{cf.rel}.truth.jsonl"
        t.parent.mkdir(parents=True, exist_ok=True)
        t.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        nlines = len(path.read_bytes().splitlines())
        manifest.append({"file": cf.rel, "writer": cf.writer, "kind": cf.kind, "log_format": cf.log_format,
                         "tz": "UTC", "lines": nlines, "entries": len(rows), "note": cf.note})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_readme_table(manifest)


def write_readme_table(manifest: list[dict]) -> None:
    """The README's file table, between its two marker comments."""
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index("<!-- files:")
    start = text.index("\n", start) + 1
    end = text.index("<!-- /files -->")
    rows = ["| file | written by | what | lines | entries | logship format today | note |", "|---|---|---|---|---|---|---|"]
    for m in manifest:
        cells = [f"`{m['file']}`", m["writer"], m["kind"], str(m["lines"]), str(m["entries"]),
                 m["log_format"] or "-", m["note"]]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    readme.write_text(text[:start] + "\n".join(rows) + "\n" + text[end:], encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-apt", action="store_true", help="do not run apt-get (the programs are installed)")
    args = ap.parse_args()
    if not args.no_apt:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True,
                       env={**ENV, "DEBIAN_FRONTEND": "noninteractive"})
    sys.path.insert(0, str(GEN))
    import documented

    out = HERE
    files: list[CorpusFile] = []
    files += rsyslog(out)
    files += nginx(out)
    files += python_family(out)
    files += java(out)
    files += golang(out)
    files += dpkg(out)  # last: its log holds this run's installs
    for rel, writer, kind, log_format, text, rows, note in documented.EXAMPLES:
        p = out / "documented" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        files.append(CorpusFile(f"documented/{rel}", writer, kind, log_format,
                                [Entry(**r) for r in rows], note))
    write_truth(out, files)
    total = sum((out / f.rel).stat().st_size for f in files)
    print(f"{len(files)} files, {total:,} bytes; truth in {EXPECTED.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
