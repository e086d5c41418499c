"""take_keyed's plan (parser/generic.py `_plan`) against the search it skips: the keys
a record's fields are taken from, known from its set of keys alone, give the same
values, the same error and the same attrs left as trying each field's keys in order.
Records are built from the jsonl format's own `key` keys (shared ones, dotted ones
present as written and nested, byte-array messages, bad timestamps) and other keys;
the last test forces a wrong plan and checks that the comparison catches it. ~1 s."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logship.parser import EntryParser, generic
from tests.hypothesis_profiles import examples


def _fields() -> generic.FieldReader:
    return EntryParser("jsonl", tz="UTC", mtime=1.0, path="x")._handler.fields


KEYS = sorted({k for keys in _fields().keys.values() for k in keys}) + ["host", "log", "labels", "x.y"]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 2_000_000_000_000),
                   st.sampled_from(["info", "WARN", "30", "2026-11-30T10:00:00Z", "1796000000", "not a time",
                                    "", "hello"]),
                   st.lists(st.integers(0, 300), min_size=1, max_size=3))


def _record() -> st.SearchStrategy[dict[str, Any]]:
    nested = st.dictionaries(st.sampled_from(["level", "severity", "detected_level", "y", "other"]), VALUES,
                             max_size=3)
    return st.dictionaries(st.sampled_from(KEYS), st.one_of(VALUES, nested), max_size=8)


def _take(fields: generic.FieldReader, attrs: dict[str, Any]) -> tuple[Any, list[tuple[str, Any]]]:
    try:
        got: Any = generic.take_keyed(fields, attrs)
    except generic.TimestampError as exc:
        got = ("error", str(exc))
    return got, list(attrs.items())


def _searched(monkeypatch: pytest.MonkeyPatch, record: dict[str, Any]) -> tuple[Any, list[tuple[str, Any]]]:
    with monkeypatch.context() as m:
        m.setattr(generic, "_plan", lambda cands, present: None)
        return _take(_fields(), copy.deepcopy(record))


@settings(max_examples=examples(200), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(_record(), min_size=1, max_size=6))
def test_planned_take_is_the_search(monkeypatch: pytest.MonkeyPatch, records: list[dict[str, Any]]) -> None:
    fields = _fields()
    for record in records:  # one reader: plans cached across records, as in a source
        assert _take(fields, copy.deepcopy(record)) == _searched(monkeypatch, record)


def test_plans_are_made_for_the_common_shapes_only() -> None:
    fields = _fields()
    ecs = {"@timestamp": "2026-11-30T10:00:00Z", "log.level": "warn", "message": "m", "service": {"name": "a"}}
    assert fields.keyed(ecs)[1] == ("@timestamp", "log.level", "message", None, None)
    nested = {"@timestamp": "2026-11-30T10:00:00Z", "log": {"level": "warn"}, "message": "m"}
    assert fields.keyed(nested)[1] is None  # log.level may or may not be found inside `log`
    shared = {"time": "2026-11-30T10:00:00Z", "event": "started"}
    assert fields.keyed(shared)[1] is None  # `event`: a message key and a name key


def test_a_wrong_plan_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    record = {"ts": "2026-11-30T10:00:00Z", "level": "warn", "msg": "m", "message": "other"}
    fields = _fields()
    monkeypatch.setattr(generic, "_plan", lambda cands, present: ("ts", "level", "message", None, None))
    assert _take(fields, copy.deepcopy(record)) != _searched(monkeypatch, record)
