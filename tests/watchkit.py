"""Watchdog test helpers: an app script that sends events with the stdlib helper,
`logship watch` around it, and the log lines it wrote, read back by kind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.run import REPO, logship_cmd

__all__ = ["Entry", "app_script", "watch_argv", "watch_json_argv", "entries", "log_files"]

_HEAD = re.compile(r"(\S+) (\w+) +sess=([0-9a-f]{16}) (session|metric|event) (\S+) ?(.*)")


@dataclass(frozen=True)
class Entry:
    ts: str
    level: str
    session: str
    kind: str
    name: str
    rest: str

    def field(self, key: str) -> str | None:
        m = re.search(r"(?:^| )" + re.escape(key) + r"=(\"(?:[^\"\\]|\\.)*\"|\S+)", self.rest)
        return m.group(1) if m else None


def app_script(tmp: Path, body: str, name: str = "app.py") -> Path:
    """A Python app that has `emit` (the copied-in helper, watch/emit.py) and runs ``body``."""
    path = tmp / name
    path.write_text("import os, signal, socket, sys, time\n"
                    f"sys.path.insert(0, {str(REPO / 'watch')!r})\n"
                    "from emit import emit\n" + textwrap.dedent(body))
    return path


def watch_argv(log_dir: Path, script: Path, *opts: str | Path) -> list[str]:
    """`logship watch` (the load-average rule off: the test machine is shared) around the script."""
    return logship_cmd("watch", "--log-dir", log_dir, "--busy-load", "0", *opts, "--", sys.executable, script)


def watch_json_argv(**cfg: object) -> list[str]:
    """The lean entry with options the CLI does not offer (event_rate, event_burst)."""
    doc = {k: (str(v) if isinstance(v, Path) else list(map(str, v)) if isinstance(v, tuple) else v)
           for k, v in cfg.items()}
    doc.setdefault("busy_load", 0.0)
    return [sys.executable, "-P", "-m", "logship.watch.main", "--config-json", json.dumps(doc)]


def log_files(log_dir: Path, name: str = "app.log") -> list[Path]:
    """The log files, oldest first (app.log.N ... app.log.1, app.log)."""
    rotated = sorted((p for p in log_dir.glob(name + ".*") if p.name[len(name) + 1:].isdigit()),
                     key=lambda p: -int(p.name[len(name) + 1:]))
    return rotated + ([log_dir / name] if (log_dir / name).exists() else [])


def entries(log_dir: Path, name: str = "app.log") -> list[Entry]:
    out = []
    for p in log_files(log_dir, name):
        for line in p.read_text(encoding="utf-8").splitlines():
            m = _HEAD.fullmatch(line)
            if m:
                out.append(Entry(*m.groups()))
    return out


def run(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)
