"""The shipper's ask_command: asked with the size and age of the backlog, its exit status
is the answer. A real collector and shipper; the backlog is made by a collector outage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.shipkit import Collector, ShipperProc, line, wait_for


def _answering(tmp: Path, code: int) -> list[str]:
    """An ask command that records its arguments and environment, then exits with ``code``."""
    script = tmp / "ask.py"
    script.write_text("import json, os, sys\n"
                      f"with open({str(tmp / 'asked.jsonl')!r}, 'a') as f:\n"
                      "    f.write(json.dumps({'argv': sys.argv[1:], 'bytes': os.environ['LOGSHIP_BACKLOG_BYTES'],"
                      " 'files': os.environ['LOGSHIP_BACKLOG_FILES']}) + '\\n')\n"
                      f"sys.exit({code})\n")
    return [sys.executable, str(script)]


def _asked(tmp: Path) -> list[dict]:
    p = tmp / "asked.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


@pytest.mark.parametrize("code,answer", [(0, "yes"), (1, "no")], ids=["yes", "no"])
def test_the_ask_command_answers_for_the_user(tmp_path: Path, code: int, answer: str):
    """~8 s each. 300 kB written while the collector is down is backlog (over
    backlog_bytes); the command is asked once with its size; yes sends it, no keeps it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    coll = Collector(tmp_path).start()
    ship = ShipperProc(tmp_path, [str(logs / "app.log")], coll.url, backlog="ask", backlog_bytes=20_000,
                       ask_command=_answering(tmp_path, code), ask_interval=3600).start()
    try:
        with open(logs / "app.log", "ab") as f:
            f.write(b"".join(line(i) for i in range(50)))
            f.flush()
            ship.wait_caught_up()
            port = coll.port
            coll.stop()
            wait_for(lambda: ship.status().get("connection", {}).get("state") != "connected", what="down")
            f.write(b"".join(line(i) for i in range(50, 3050)))
            f.flush()
        coll = Collector(tmp_path, port=port).start()
        wait_for(lambda: ship.status().get("ask", {}).get("answer") == answer, timeout=30, what="the answer")
        asked = _asked(tmp_path)
        assert len(asked) == 1 and asked[0]["files"] == "1"
        assert asked[0]["argv"][0] == asked[0]["bytes"] and int(asked[0]["bytes"]) > 200_000
        if answer == "yes":
            wait_for(lambda: ship.status().get("consent") == "none_needed", timeout=30, what="the backlog sent")
            ship.wait_caught_up(live=(logs / "app.log",))   # and the live tail's last entry, flushed by time
        else:
            at = ship.status()["ask"]["at"]   # a no is not asked again within ask_interval:
            wait_for(lambda: ship.status().get("updated_at", 0) > at + 2.0, what="housekeeping after the no")
            assert ship.status()["consent"] == "needed" and len(_asked(tmp_path)) == 1
    finally:
        ship.stop()
        coll.stop()
    stored = coll.seqs()
    assert max(stored.values()) == 1
    assert (len(stored) == 3050) == (answer == "yes")
