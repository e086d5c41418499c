"""`logship watch` around real processes: a session per run with its start and end,
samples at the interval, the app's events, signals forwarded, `--pid` attached.

Each test waits on the log file or the process, never a fixed time. About 12 s in all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from logship.store import Store
from tests.run import stop_process, wait_for
from tests.watchkit import app_script, entries, run, watch_argv, watch_json_argv


def test_a_child_that_sends_100_events_and_exits_3(tmp_path: Path, db_path: Path):
    """~3 s. T = 2.5 s at 0.25 s: at least floor(T / interval) - 1 = 9 samples."""
    t, interval = 2.5, 0.25
    script = app_script(tmp_path, f"""
        t0 = time.monotonic()
        for i in range(100):
            assert emit("test.ev", seq=i, label="a b")
        time.sleep({t} - (time.monotonic() - t0))
        sys.exit(3)
    """)
    res = run(watch_argv(tmp_path / "logs", script, "--interval", str(interval), "--app-version", "1.4.2"))
    assert res.returncode == 3, res.stderr
    es = entries(tmp_path / "logs")
    sess = {e.session for e in es}
    assert len(sess) == 1
    starts = [e for e in es if e.kind == "session" and e.name == "start"]
    ends = [e for e in es if e.kind == "session" and e.name == "end"]
    assert len(starts) == 1 and es[0] == starts[0]
    assert starts[0].field("version") == '"1.4.2"' and starts[0].field("os") == sys.platform
    assert len(ends) == 1 and es[-1] == ends[0] and ends[0].rest == "exit=3" and ends[0].level == "ERROR"
    evs = [e for e in es if e.kind == "event"]
    assert [int(e.field("seq")) for e in evs] == list(range(100))
    metrics = [e for e in es if e.kind == "metric"]
    assert len(metrics) >= int(t / interval) - 1
    assert all(m.name == "proc" and m.field("cpu").endswith("%") and m.field("rss") for m in metrics)
    # once ingested: the session crashed with exit 3, the 100 events, nothing rejected
    with Store(db_path) as st:
        data = (tmp_path / "logs" / "app.log").read_bytes()
        src = st.resolve_source("c1", data[:1024], path="app.log", log_format="client", tz="UTC")
        st.ingest(src.source_id, 0, data, final=True, kind="file")
        assert st.con.execute("SELECT end_reason, exit_code FROM sessions").fetchall() == [("crashed", 3)]
        assert st.con.execute("SELECT count(*) FROM events WHERE name = 'test.ev'").fetchall() == [(100,)]
        assert st.con.execute("SELECT count(*) FROM rejects").fetchall() == [(0,)]
        assert st.con.execute("SELECT count(*) FROM metrics WHERE name = 'proc.cpu'").fetchall() == [(len(metrics),)]


def test_sampling_keeps_its_pace_while_the_app_uses_every_core(tmp_path: Path):
    """~3 s. The app and its children spin on every core for T = 2 s at 0.25 s: at least
    floor(T / interval) - 1 samples, with --children the children counted and summed in
    (the CPU figure itself depends on what else runs on the machine: only > 0 is asserted)."""
    t, interval = 2.0, 0.25
    cores = max(2, os.cpu_count() or 2)
    spin = tmp_path / "spin.py"
    spin.write_text(f"import time\nt = time.monotonic()\nwhile time.monotonic() - t < {t}:\n    pass\n")
    script = app_script(tmp_path, f"""
        import subprocess
        kids = [subprocess.Popen([sys.executable, {str(spin)!r}]) for _ in range({cores} - 1)]
        exec(open({str(spin)!r}).read())
        for k in kids:
            k.wait()
    """)
    res = run(watch_argv(tmp_path / "logs", script, "--interval", str(interval), "--children"))
    assert res.returncode == 0, res.stderr
    metrics = [e for e in entries(tmp_path / "logs") if e.kind == "metric"]
    assert len(metrics) >= int(t / interval) - 1
    assert max(int(m.field("children")) for m in metrics) == cores - 1
    assert max(float(m.field("cpu").rstrip("%")) for m in metrics) > 0


def test_a_child_killed_by_sigkill_is_recorded_with_the_signal(tmp_path: Path):
    """~1 s."""
    script = app_script(tmp_path, "emit('about.to.die')\nos.kill(os.getpid(), signal.SIGKILL)\n")
    res = run(watch_argv(tmp_path / "logs", script, "--interval", "0.2"))
    assert res.returncode == 128 + signal.SIGKILL
    end = entries(tmp_path / "logs")[-1]
    assert (end.kind, end.name, end.rest, end.level) == ("session", "end", "signal=SIGKILL", "ERROR")


def test_sigterm_is_forwarded_and_the_session_ends_stopped(tmp_path: Path):
    """~2 s. The app gets the SIGTERM sent to the watchdog, cleans up, exits 0: `stopped`."""
    script = app_script(tmp_path, """
        def bye(sig, frame):
            emit("app.bye", got=signal.Signals(sig).name)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        emit("app.ready")
        while True:
            time.sleep(0.05)
    """)
    logs = tmp_path / "logs"
    proc = subprocess.Popen(watch_argv(logs, script, "--interval", "0.2"))
    try:
        wait_for(lambda: any(e.name == "app.ready" for e in entries(logs)), what="the app's first event")
    finally:
        rc, killed = stop_process(proc, signal.SIGTERM, timeout=20)
    assert (rc, killed) == (0, False)
    es = entries(logs)
    assert [e.rest for e in es if e.name == "app.bye"] == ["got=SIGTERM"]
    assert (es[-1].name, es[-1].rest) == ("end", "exit=0 reason=stopped stop=SIGTERM")


def test_bad_datagrams_and_a_flood(tmp_path: Path):
    """~1 s. Garbage becomes watch.bad_datagram (raw escaped); over the rate, counted."""
    script = app_script(tmp_path, """
        kind, _, path = os.environ["LOGSHIP_EVENTS"].partition(":")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for raw in (b"not json", b"\\xff\\xfe\\n", b"[1]", b'{"name": "x y"}', b'{"name": "a", "v": [1]}',
                    b'{"name": "big", "pad": "' + b"p" * 9000 + b'"}'):
            s.sendto(raw, path)
        emit("flood.done")
        for i in range(100):
            emit("flood.ev", i=i)
    """)
    logs = tmp_path / "logs"
    res = run(watch_json_argv(log_dir=logs, command=(sys.executable, script), interval=0.2,
                              event_rate=0.001, event_burst=8))
    assert res.returncode == 0, res.stderr
    es = entries(logs)
    bad = [e for e in es if e.name == "watch.bad_datagram"]
    assert [e.field("reason") for e in bad] == [
        '"not JSON"', '"not UTF-8"', '"not a JSON object"', "\"event name 'x y' is not a dotted identifier\"",
        "\"field 'v' is not a string, number or boolean\"", '"over 8192 bytes"']
    assert bad[1].field("raw") == r'"\\xff\\xfe\\x0a"'
    assert [e.name for e in es if e.name.startswith("flood")] == ["flood.done", "flood.ev"]
    dropped = [int(e.field("count")) for e in es if e.name == "watch.events_dropped"]
    assert sum(dropped) == 99


def test_attached_with_pid_ends_unknown_and_a_restart_resumes(tmp_path: Path):
    """~4 s. --pid: a watchdog killed -9 and started again continues the session; when the
    process goes, its exit cannot be read: exit=unknown."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    logs = tmp_path / "logs"
    argv = watch_json_argv(log_dir=logs, pid=sleeper.pid, interval=0.2)
    try:
        w1 = subprocess.Popen(argv)
        wait_for(lambda: sum(e.kind == "metric" for e in entries(logs)) >= 2, what="two samples")
        stop_process(w1, signal.SIGKILL)
        w2 = subprocess.Popen(argv)
        wait_for(lambda: any(e.name == "watch.resumed" for e in entries(logs)), what="the resumed mark")
        n = len(entries(logs))
        wait_for(lambda: len(entries(logs)) > n + 1, what="samples after the restart")
        stop_process(sleeper, signal.SIGKILL)
        assert w2.wait(timeout=20) == 0
    finally:
        stop_process(sleeper, signal.SIGKILL)
    es = entries(logs)
    assert len({e.session for e in es}) == 1
    assert [e.name for e in es if e.kind == "session"] == ["start", "end"]
    assert (es[-1].rest, es[-1].level) == ("exit=unknown", "WARN")
