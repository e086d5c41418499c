"""The jsonl format's OTLP shortcuts against the long way (parser/jsonl.py): a scope's
resource and scope encoded once and spliced into each record's attrs, a record's
attributes equal to the previous record's not converted again, a text level read once.
Each differential test compares the handler with its shortcuts (`share`) against the
same handler without them, on export lines built to trip each shortcut; the last
tests force a shortcut wrong and check that the comparison catches it. ~0.3 s."""

from __future__ import annotations

import json
from typing import Any

import pytest

from logship.parser import EntryParser, jsonl
from logship.parser.batch import ParsedBatch
from logship.parser.generic import _level_uncached


def _handler(share: bool) -> Any:
    h = EntryParser("jsonl", tz="UTC", mtime=1.0, path="x")._handler
    assert h.share is True  # the jsonl format reads nothing inside resource, scope or attributes
    h.share = share
    return h


def _rows(share: bool, lines: list[str]) -> list[Any]:
    h = _handler(share)
    out = []
    for off, line in enumerate(lines):
        batch = ParsedBatch()
        err = h.handle(line, None, batch, off)
        out.append(err if err is not None else batch.events.columns())
    return out


def _kv(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


def _export(resources: list[tuple[list[Any] | None, list[tuple[Any, list[dict[str, Any]]]]]]) -> str:
    """An export line: per resource its attributes (None: no resource) and scopes
    (scope object or None, records)."""
    rls = []
    for attrs, scopes in resources:
        rl: dict[str, Any] = {"scopeLogs": [{**({"scope": sc} if sc is not None else {}), "logRecords": recs}
                                            for sc, recs in scopes]}
        if attrs is not None:
            rl["resource"] = {"attributes": attrs}
        rls.append(rl)
    return json.dumps({"resourceLogs": rls}, ensure_ascii=False)


RES = [_kv("service.name", {"stringValue": "api"}), _kv("host.name", {"stringValue": "h\u00e9"})]
CODE = [_kv("code.function.name", {"stringValue": "f"}), _kv("code.line.number", {"intValue": "12"})]


def _rec(i: int, **extra: Any) -> dict[str, Any]:
    return {"timeUnixNano": str(1795996800_000000000 + i), "severityText": "WARN", "severityNumber": 13,
            "body": {"stringValue": f"m{i}"}, **extra}


LINES = [
    # the SDK's shape: a resource, a scope, records sharing their attributes
    _export([(RES, [({"name": "s"}, [_rec(i, attributes=CODE) for i in range(4)])])]),
    # no resource; no scope name; an empty scope; several scopes and resources
    _export([(None, [(None, [_rec(0, attributes=CODE)]), ({"name": ""}, [_rec(1)]), ({"name": "t"}, [_rec(2)])]),
             ([], [({"name": "u"}, [_rec(3)])]), (RES, [({"name": "v"}, [_rec(4), _rec(5, attributes=CODE)])])]),
    # records holding keys `resource` / `scope` of their own: their place in the attrs stays theirs
    _export([(RES, [({"name": "s"}, [_rec(0, resource="mine"), {"scope": 1, "timeUnixNano": "1795996800000000005"},
                                     _rec(1, attributes=CODE)])])]),
    # a record that is nothing but its resource and scope once its keys are taken
    _export([(RES, [({"name": "s"}, [{"body": {"stringValue": "only"}}, {}])])]),
    # equal attributes that are not the same JSON value (1 == 1.0 == True), and nested ones
    _export([(RES, [({"name": "s"}, [
        _rec(0, attributes=[_kv("n", {"doubleValue": 1})]), _rec(1, attributes=[_kv("n", {"doubleValue": 1.0})]),
        _rec(2, attributes=[_kv("n", {"boolValue": True})]), _rec(3, attributes=[_kv("n", {"intValue": 1})]),
        _rec(4, attributes=[_kv("a", {"arrayValue": {"values": [{"intValue": "1"}]}})]),
        _rec(5, attributes=[_kv("a", {"arrayValue": {"values": [{"intValue": "1"}]}})]),
        _rec(6, attributes=[{"value": {"stringValue": "x"}, "key": "k"}]),
        _rec(7, attributes=[{"key": "k", "value": {"stringValue": "x"}, "more": 1}]),
        _rec(8, attributes=[_kv("k", {"stringValue": "x", "intValue": "1"})]),
        _rec(9, attributes=[_kv("k", {"stringValue": "x"}), _kv("k", {"stringValue": "y"})]),
        _rec(10, attributes=[_kv("k", {"stringValue": "x"}), _kv("k", {"stringValue": "y"})]),
    ])])]),
    # shared attributes across scopes and resources, next to records that cannot share the tail
    _export([(RES, [({"name": "s"}, [_rec(0, attributes=CODE), _rec(1, attributes=CODE, resource="own"),
                                     _rec(2, attributes=CODE), {"attributes": CODE}]),
                    (None, [_rec(3, attributes=CODE), _rec(4, attributes=CODE, scope={"x": 1})])]),
             (None, [(None, [_rec(5, attributes=CODE), {"attributes": CODE, "timeUnixNano": "0"}])])]),
    # a resource JSON text cannot hold: every record a reject, as before
    '{"resourceLogs":[{"resource":{"attributes":[{"key":"x","value":{"doubleValue":NaN}}]},'
    '"scopeLogs":[{"scope":{"name":"s"},"logRecords":[{"body":{"stringValue":"a"}}]}]}]}',
    # a lone surrogate in the resource: the line is a reject, as before
    '{"resourceLogs":[{"resource":{"attributes":[{"key":"x","value":{"stringValue":"\\ud800"}}]},'
    '"scopeLogs":[{"scope":{"name":"s"},"logRecords":[{"body":{"stringValue":"a"}}]}]}]}',
    # a bad record time after good ones: the whole line one outcome
    _export([(RES, [({"name": "s"}, [_rec(0), {"timeUnixNano": "soon"}])])]),
]


def test_shortcuts_store_what_the_long_way_stores() -> None:
    assert _rows(True, LINES) == _rows(False, LINES)


def test_levels_read_once_are_the_levels_read_each_time() -> None:
    h = _handler(True)
    f = h.fields
    values = ["WARN", "warning", " info ", "30", "13", "Information", "", "E", "x" * 40]
    for key in ("level", "severityText", "severityNumber", "PRIORITY", "labels.level"):
        for v in values * 2:
            from logship.parser.generic import _level_value
            assert _level_value(f, key, v) == _level_uncached(f, key, v)
    assert len(f.levels) == 5 * len(values)


def test_a_forced_wrong_attributes_shortcut_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reusing attributes that are only == equal (doubleValue 1 then 1.0) changes a row:
    the differential test above must see it."""
    monkeypatch.setattr(jsonl, "_strings_only", lambda items: True)
    assert _rows(True, LINES) != _rows(False, LINES)


def test_a_forced_wrong_splice_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record's own `resource` key spliced as if it were not there changes its attrs."""
    real = jsonl._otlp_records

    def no_check(obj: dict[str, Any], share: bool = False) -> Any:
        out = real(obj, share)
        return out if out is None else [(rec, tail if tail is not None else jsonl._tail({}, "s") or None)
                                        for rec, tail in out]

    monkeypatch.setattr(jsonl, "_otlp_records", no_check)
    assert _rows(True, LINES[2:3]) != _rows(False, LINES[2:3])
