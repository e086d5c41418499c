"""The client handler's conversion caches (pair texts, JSON objects) give exactly what
a fresh parser gives: equal-comparing values of different texts (-0.0 and 0.0, 1 and
1.0) never share a JSON text, failures are not cached, a full cache starts again."""

from __future__ import annotations

from logship.parser import EntryParser
from logship.parser import client, timestamps

HEAD = "2026-11-27T21:09:05.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 "


def lines(*bodies: str) -> bytes:
    return "".join(HEAD + b + "\n" for b in bodies).encode()


def columns(res):
    b = res.batch
    return b.metrics.columns(), b.events.columns(), b.rejects.columns()


def one_by_one(data: bytes):
    """Each line through a new parser (empty caches), offsets as in one parse."""
    out = []
    off = 0
    for line in data.splitlines(keepends=True):
        # the conversion caches are process-wide: empty them for a really fresh parser
        client._PAIRS.clear()
        client._OBJECTS.clear()
        timestamps._SECONDS.clear()
        out.append(columns(EntryParser("client", tz="UTC").parse(line, off, True)))
        off += len(line)
    merged = [{}, {}, {}]
    for cols in out:
        for part, got in zip(merged, cols):
            for k, v in got.items():
                part.setdefault(k, []).extend(v)
    return tuple(merged)


BODIES = [
    "event a.b x=-0.0", "event a.b x=0.0", "event a.b x=0", "event a.b x=1", "event a.b x=1.0",
    "event a.b x=true", "event a.b x=1", 'event a.b x="1"', "event a.b x=1 x=2", "event a.b x=-0.0",
    "metric net down=1KiB iface=eth0", "metric net down=2KiB iface=eth0", "metric net down=2KiB iface=eth1",
    "metric net down=2KiB iface=eth0 -- with text", "metric net down=2KiB message=m -- text wins",
    "metric net iface=eth0", "event a.b big=1e999", "event a.b big=1e999", "metric n big=1e999 v=1",
    "metric n s=100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000TB", "event a.b q=\"\\ud800\"", "event a.b q=\"\\ud800\"",
    "session start version=\"1.4.2\" os=linux", "session end exit=0",
]


def test_cached_parse_equals_fresh_parsers():
    data = lines(*BODIES)
    client._PAIRS.clear()  # the caches are process-wide: this parse fills them from empty
    client._OBJECTS.clear()
    res = EntryParser("client", tz="UTC").parse(data, 0, True)
    assert columns(res) == one_by_one(data)
    ev = res.batch.events
    assert ev.attrs[:6] == ['{"x":-0.0}', '{"x":0.0}', '{"x":0}', '{"x":1}', '{"x":1.0}', '{"x":true}']
    assert ev.attrs[7:9] == ['{"x":"1"}', '{"x":2}']
    codes = res.batch.rejects.error_code
    assert codes == ["no_metrics", "transformer_error", "transformer_error", "transformer_error",
                     "bad_value", "bad_value"]
    assert res.batch.rejects.error[3] == "the format's transformer raised OverflowError: int too large to convert to float"


def test_full_caches_start_again(monkeypatch):
    monkeypatch.setattr(client, "MAX_CACHED", 2)
    data = lines(*BODIES) * 3
    res = EntryParser("client", tz="UTC").parse(data, 0, True)
    assert columns(res) == one_by_one(data)
