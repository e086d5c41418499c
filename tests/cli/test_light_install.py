"""`pip install logship` without the collector extra, tested without a second venv: the
command runs in a child whose prelude makes duckdb, pyarrow and lark unimportable.

Database and parsing commands must then print one line naming the extra and exit 1;
the client-side commands must work as usual.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.run import REPO

SAMPLES = REPO / "samples"

# A meta-path finder ahead of every other: the collector extra is "not installed".
PRELUDE = """
import importlib.abc, sys

class NoCollectorExtra(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("duckdb", "pyarrow", "lark"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoCollectorExtra())
sys.argv[0] = "logship"
from logship.cli import main
main()
"""


def light(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-c", PRELUDE, *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


DB_COMMANDS = {
    "ingest": ["ingest", SAMPLES / "client.log"],
    "query": ["query", "SELECT 1"],
    "sessions": ["sessions"],
    "rejects": ["rejects"],
    "summary": ["summary"],
    "reparse": ["reparse"],
    "export": ["export", "--out", "{tmp}/export"],
    "check": ["check", SAMPLES / "syslog.log"],
    "formats": ["formats"],
    "grammar check": ["grammar", "check", REPO / "grammars" / "logfmt.lark"],
    "collect": ["collect", "--listen", "127.0.0.1:0"],
}
NO_DB = {"check", "formats", "grammar check"}


@pytest.mark.parametrize("name", list(DB_COMMANDS))
def test_database_commands_name_the_extra(name, tmp_path: Path):
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in DB_COMMANDS[name]]
    if name not in NO_DB:
        args += ["--db", str(tmp_path / "x.duckdb")]
    r = light(*args)
    assert r.returncode == 1 and r.stdout == "", r
    assert re.fullmatch(rf"error: logship {name} needs the collector extra \((duckdb|pyarrow|lark) is not "
                        r"installed\): pip install 'logship\[collector\]'\n", r.stderr), r.stderr
    assert not (tmp_path / "x.duckdb").exists()


def test_client_side_commands_work_without_the_extra(tmp_path: Path):
    sim = light("simulate", "--out", tmp_path / "fleet", "--clients", "1", "--duration", "10s", "--seed", "1")
    assert sim.returncode == 0 and sim.stdout.startswith("simulated 1 clients"), sim
    assert light("ship", "--help").returncode == 0
    backlog = light("backlog", "--state-dir", tmp_path / "st")
    assert backlog.returncode == 1 and backlog.stderr.startswith("error: ") and "collector extra" not in backlog.stderr
