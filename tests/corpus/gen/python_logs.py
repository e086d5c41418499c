"""Write the Python corpus files with the real logging, python-json-logger and structlog.

Run by make_corpus.py with a throwaway venv's python (python-json-logger and structlog
installed there, never in the project's venv): ``python python_logs.py OUTDIR``.
Prints one JSON object per logged entry on stdout (what was logged and the second it
was logged in, read before and after the call), which make_corpus.py turns into truth.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

OUT = Path(sys.argv[1])


def guard() -> None:
    """Stay away from the end of a second, so that the second read before the call is the logged one."""
    frac = time.time() % 1
    if frac > 0.75:
        time.sleep(1.02 - frac)


def emit(group: str, level: str | None, message: str, program: str | None, locate: str,
         call, multiline: bool = False, ts: bool = True, **extra) -> None:
    guard()
    before = int(time.time())
    call()
    after = int(time.time())
    print(json.dumps({"group": group, "ts": before if ts else None, "ts_after": after if ts else None,
                      "level": level, "message": message, "program": program, "locate": locate,
                      "multiline": multiline, **extra}), flush=True)


def fresh_logger(name: str, path: Path, fmt: logging.Formatter) -> logging.Logger:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(fmt)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return logging.getLogger(name) if name != "root" else root


def script(group: str, fmt: logging.Formatter, path: Path, ts: bool = True) -> None:
    """The same story in every stdlib format: levels, loggers, unicode, a traceback."""
    steps = [
        ("root", logging.INFO, "service starting, version 2.4.1"),
        ("app.db", logging.DEBUG, "connection pool size=5 timeout=30s"),
        ("app.http", logging.INFO, "GET /api/items 200 in 12ms"),
        ("app.http", logging.WARNING, "slow request: GET /api/report took 2.5s"),
        ("app", logging.INFO, "user café-ünïcode logged in: key=value - dashes - and: colons"),
        ("app.db", logging.ERROR, "query failed: relation \"items\" does not exist"),
        ("app.worker", logging.CRITICAL, "worker 3 died, restarting"),
        ("app.worker", logging.INFO, "INFO: a message that starts with a level word"),
    ]
    for i, (name, lvl, msg) in enumerate(steps):
        log = fresh_logger(name, path, fmt) if i == 0 else logging.getLogger(name)
        text = f"{msg} [#{i}]"
        emit(group, logging.getLevelName(lvl), text, name, f"[#{i}]",
             lambda log=log, lvl=lvl, text=text: log.log(lvl, text), ts=ts)
    log = logging.getLogger("app.jobs")
    text = f"job 17 failed [#{len(steps)}]"

    def boom() -> None:
        try:
            {"a": 1}["missing"]
        except KeyError:
            try:
                raise RuntimeError("could not load job 17")
            except RuntimeError:
                log.exception(text)

    emit(group, "ERROR", text, "app.jobs", f"[#{len(steps)}]", boom, multiline=True, ts=ts)
    text = f"done, 1 job failed [#{len(steps) + 1}]"
    emit(group, "INFO", text, "root", f"[#{len(steps) + 1}]", lambda: logging.getLogger().info(text), ts=ts)
    logging.getLogger().handlers[0].close()


def stdlib() -> None:
    script("python/default", logging.Formatter(logging.BASIC_FORMAT), OUT / "python" / "default.log", ts=False)
    script("python/basicconfig", logging.Formatter("%(asctime)s %(levelname)s %(message)s"),
           OUT / "python" / "basicconfig.log")
    script("python/cookbook", logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"),
           OUT / "python" / "cookbook.log")
    script("python/datefmt", logging.Formatter("[%(asctime)s] %(levelname)-8s %(name)s: %(message)s",
                                               datefmt="%Y-%m-%d %H:%M:%S"), OUT / "python" / "datefmt.log")


def json_logger() -> None:
    try:
        from pythonjsonlogger.json import JsonFormatter  # 3.1 and later
    except ImportError:  # older releases
        from pythonjsonlogger.jsonlogger import JsonFormatter  # type: ignore[no-redef]
    script("python-json-logger/asctime", JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"),
           OUT / "python-json-logger" / "asctime.jsonl")
    script("python-json-logger/renamed",
           JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"}),
           OUT / "python-json-logger" / "renamed.jsonl")


def structlog_json() -> None:
    import structlog

    path = OUT / "structlog" / "json.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        structlog.configure(
            processors=[structlog.processors.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True),
                        structlog.processors.format_exc_info,
                        structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(file=f),
            cache_logger_on_first_use=False,
        )
        log = structlog.get_logger()
        steps = [
            ("info", "server started", {"port": 8080}),
            ("debug", "cache warmed", {"entries": 1200, "took_ms": 35.5}),
            ("info", "user logged in", {"user": "café", "ip": "10.0.0.7"}),
            ("warning", "retrying request", {"attempt": 2, "url": "https://example.org/x"}),
            ("error", "payment declined", {"order": 42, "reason": "card expired"}),
            ("critical", "disk full", {"mount": "/var"}),
        ]
        for i, (lvl, msg, kw) in enumerate(steps):
            text = f"{msg} [#{i}]"
            emit("structlog/json", lvl, text, None, f"[#{i}]",
                 lambda lvl=lvl, text=text, kw=kw: (getattr(log, lvl)(text, **kw), f.flush()))
        text = f"job failed [#{len(steps)}]"

        def boom() -> None:
            try:
                1 / 0
            except ZeroDivisionError:
                log.exception(text, job=17)
            f.flush()

        emit("structlog/json", "error", text, None, f"[#{len(steps)}]", boom)


if __name__ == "__main__":
    stdlib()
    json_logger()
    structlog_json()
