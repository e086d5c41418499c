"""The watchdog's small parts without processes: datagrams, the pace rules, the
collector's slow-down factor and how a shipper reads it. Well under a second."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from logship.collector.credit import slow_down_factor
from logship.kernel.protocol import read_slow_down
from logship.watch.events import MAX_DATAGRAM, RateLimit, decode_datagram
from logship.watch.pace import LAG_BYTES, Pace

SESS = "3f2a9c1e5b7d9e01"


@pytest.mark.parametrize("raw,name,level,fields,message", [
    (b'{"name":"a.b"}', "a.b", "INFO", {}, None),
    (b'{"name":"t.x","level":"warn","n":3,"f":1.5,"ok":true,"s":"x y"}', "t.x", "WARN",
     {"n": 3, "f": 1.5, "ok": True, "s": "x y"}, None),
    (b'{"name":"e","message":"one\\ntwo"}', "e", "INFO", {}, "one"),
], ids=["bare", "typed-fields", "multi-line-message"])
def test_good_datagrams(raw, name, level, fields, message):
    ev = decode_datagram(raw, SESS)
    assert (ev.name, ev.level, ev.fields, ev.message) == (name, level, fields, message)


@pytest.mark.parametrize("raw,reason", [
    (b"", "not JSON"), (b"\x00\x01", "not JSON"), (b'"s"', "not a JSON object"), (b"{}", "no string name"),
    (b'{"name":"a","level":"LOUD"}', "level is not one of TRACE DEBUG INFO WARN ERROR FATAL"),
    (b'{"name":"a","bad key":1}', "field key 'bad key' is not [A-Za-z_][A-Za-z0-9_.]*"),
    (b'{"name":"a","n":null}', "field 'n' is not a string, number or boolean"),
    (b'{"name":"a","pad":"' + b"p" * MAX_DATAGRAM + b'"}', f"over {MAX_DATAGRAM} bytes"),
], ids=["empty", "binary", "string", "no-name", "level", "key", "null", "oversized"])
def test_bad_datagrams_are_events_never_exceptions(raw, reason):
    ev = decode_datagram(raw, SESS)
    assert (ev.name, ev.level, ev.fields["reason"], ev.fields["bytes"]) == ("watch.bad_datagram", "WARN", reason,
                                                                             len(raw))


def test_rate_limit_counts_what_it_drops():
    t = [0.0]
    rl = RateLimit(rate=10, burst=5, clock=lambda: t[0])
    assert [rl.admit() for _ in range(8)] == [True] * 5 + [False] * 3
    t[0] = 0.2                               # two more tokens
    assert [rl.admit() for _ in range(3)] == [True, True, False]
    assert rl.take_dropped() == 4 and rl.take_dropped() == 0


def test_slow_down_on_the_wire():
    assert [slow_down_factor(f) for f in (0, 0.49, 0.5, 0.8, 1.0, 3.0)] == [1, 1, 2, 4, 8, 8]
    assert [read_slow_down(m) for m in ({}, {"slow_down": 4}, {"slow_down": 0.5}, {"slow_down": "x"},
                                        {"slow_down": True}, {"slow_down": 1e9})] == [1, 4, 1, 1, 1, 64]


def _status(tmp: Path, **doc) -> Path:
    (tmp / "status.json").write_text(json.dumps({"version": 1, "client_id": "c", **doc}))
    os.utime(tmp / "status.json", (1, len(json.dumps(doc))))  # a new mtime per content
    return tmp


def test_pace_takes_the_largest_factor_within_the_cap(tmp_path: Path):
    p = Pace(1.0, 4.0, _status(tmp_path, slow_down=8.0), busy_load=0)
    assert (p.decide().interval, p.current.reason) == (4.0, "slow_down")
    _status(tmp_path, slow_down=1.0, files=[{"lag_bytes": LAG_BYTES, "lag_seconds": 301.0}])
    assert (p.decide().interval, p.current.reason) == (2.0, "lag")
    _status(tmp_path, slow_down=1.0, files=[{"lag_bytes": 400, "lag_seconds": 9000.0}])  # a live file's tail
    assert (p.decide().interval, p.current.reason) == (1.0, "normal")
    assert Pace(1.0, 60.0, None, busy_load=0).decide().reason == "normal"


def test_a_session_resumes_across_a_clock_step(tmp_path: Path):
    """The session file names the app's process by pid and start; after the wall clock
    stepped (every wall-clock time moved by an hour, the time since boot did not) a
    restarted watchdog still finds its session; another process's start does not."""
    from logship.watch.session import load_session, save_session

    save_session(tmp_path, 4242, 1_764_500_000.25, 1_764_400_000.0, "0123456789abcdef")
    assert load_session(tmp_path, 4242, 1_764_500_000.25, 1_764_400_000.0) == "0123456789abcdef"
    assert load_session(tmp_path, 4242, 1_764_503_600.25, 1_764_403_600.0) == "0123456789abcdef"
    assert load_session(tmp_path, 4242, 1_764_503_600.25, 1_764_400_000.0) is None
    assert load_session(tmp_path, 4243, 1_764_500_000.25, 1_764_400_000.0) is None
