"""The watchdog as the first link of the chain: watch -> log files -> ship -> collect ->
query, and the "measure less" loop from a loaded collector back to the watchdog's
sampling interval. Real processes on 127.0.0.1; every wait is on a condition."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.collectorkit import client_lines
from tests.run import stop_process, wait_for
from tests.shipkit import CLIENT, Collector, ShipperProc
from tests.watchkit import app_script, entries, run, watch_argv


def test_watch_ship_collect_query_returns_the_100_events_and_the_session(tmp_path: Path):
    """~6 s."""
    logs = tmp_path / "logs"
    script = app_script(tmp_path, """
        for i in range(100):
            assert emit("test.ev", seq=i)
        time.sleep(0.6)
        sys.exit(3)
    """)
    res = run(watch_argv(logs, script, "--interval", "0.2"))
    assert res.returncode == 3, res.stderr
    written = entries(logs)
    sess = written[0].session
    coll = Collector(tmp_path).start()
    ship = ShipperProc(tmp_path, [str(logs / "app.log*")], coll.url).start()
    try:
        ship.wait_caught_up(live=(logs / "app.log",))
    finally:
        ship.stop()
        coll.stop()
    rows = coll.query("SELECT CAST(json_extract(attrs, '$.seq') AS BIGINT) FROM events "
                      "WHERE name = 'test.ev' ORDER BY 1")
    assert [r[0] for r in rows] == list(range(100))
    assert coll.query("SELECT client_id, session_id, end_reason, exit_code FROM sessions") == [
        (CLIENT, sess, "crashed", 3)]
    assert coll.query("SELECT count(*) FROM metrics WHERE name = 'proc.cpu'") == [
        (sum(e.kind == "metric" for e in written),)]
    assert coll.query("SELECT count(*) FROM rejects") == [(0,)]


def test_the_slow_down_factor_of_a_loaded_collector_reaches_the_watchdogs_interval(tmp_path: Path):
    """~10 s. A slow store and a small writer queue: a bulk file fills the queue, acks
    carry slow_down, the shipper writes it to status.json, the watchdog samples less
    often and says so; once the bulk is stored it samples at its own interval again."""
    logs, bulk = tmp_path / "logs", tmp_path / "bulk"
    bulk.mkdir()
    coll = Collector(tmp_path, config=(
        "commit_delay_s = 0.3\nmin_credit = 16384\n"
        "[limits]\nqueue_bytes = 65536\nmax_batch_bytes = 32768\ninflight_budget = 262144\n"
        "initial_credit = 131072\n")).start()
    ship = ShipperProc(tmp_path, [str(logs / "app.log*"), str(bulk / "*.log")], coll.url,
                       status_interval=0.1, backlog="always", max_frame_bytes=16384).start()
    script = app_script(tmp_path, """
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        while True:
            time.sleep(0.05)
    """)
    watch = subprocess.Popen(watch_argv(logs, script, "--interval", "0.2", "--shipper-state", ship.state))

    def intervals() -> list[tuple[str, str, str]]:
        return [(e.field("reason"), e.field("interval"), e.field("previous"))
                for e in entries(logs) if e.name == "watch.interval"]

    try:
        wait_for(lambda: ship.status().get("connection", {}).get("state") == "connected", what="the shipper")
        (bulk / "bulk.log").write_bytes(client_lines(0, 6000))   # ~400 KiB
        wait_for(lambda: any(r == "slow_down" for r, _, _ in intervals()), timeout=30,
                 what="an interval change for slow_down")
        wait_for(lambda: intervals()[-1][0] == "normal", timeout=30, what="the interval back to its own")
        size = (bulk / "bulk.log").stat().st_size
        # app.log is never caught up while it is written to: its last entry waits for the next
        wait_for(lambda: any(f["path"].endswith("bulk.log") and f["acked"] == size
                             for f in ship.status().get("files", [])), what="the bulk file stored")
    finally:
        rc, killed = stop_process(watch, timeout=20)
        ship.stop()
        coll.stop()
    assert (rc, killed) == (0, False)
    got = intervals()
    slow = [g for g in got if g[0] == "slow_down"]
    assert slow[0][2] == "200ms" and slow[0][1] in ("400ms", "800ms", "1.6s")
    assert got[-1] == ("normal", "200ms", got[-2][1])
    assert coll.query("SELECT count(*) FROM events WHERE name = 'test.line'") == [(6000,)]
