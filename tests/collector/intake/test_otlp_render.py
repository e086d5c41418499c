"""render_protobuf reading LogRecord attributes as bytes (_RAW_LOGS) against the full
parse: the same export lines for every kind of attribute, the same refusal for a body
whose attribute does not parse; forced wrong, the comparison sees it. ~0.2 s."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from logship.collector.intake import otlp
from logship.collector.intake.http import BadRequest

from .test_stored_rows import _otlp_request


def _full(body: bytes) -> tuple[bytes, int]:
    raw, otlp._RAW_LOGS = otlp._RAW_LOGS, None
    try:
        return otlp.render_protobuf(body)
    finally:
        otlp._RAW_LOGS = raw


def _bodies() -> list[bytes]:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.add(key="service.name").value.string_value = "svc"
    sl = rl.scope_logs.add()
    sl.scope.name = "s"
    for i in range(6):  # the same attributes record after record, then others
        lr = sl.log_records.add(time_unix_nano=1795996800_000000000 + i)
        lr.body.string_value = f"r{i}"
        lr.attributes.add(key="code.line.number").value.int_value = 12 if i < 4 else i
        lr.attributes.add(key="f").value.double_value = -0.0 if i % 2 else 0.0
        lr.attributes.add(key="k\u00e9").value.kvlist_value.values.add(key="in").value.bool_value = i == 5
        lr.attributes.add(key="empty")
    return [_otlp_request(), req.SerializeToString()]


def test_attributes_read_as_bytes_render_what_the_full_parse_renders() -> None:
    assert otlp._RAW_LOGS is not None
    for body in _bodies():
        assert otlp.render_protobuf(body) == _full(body)


def _bad_attribute(kv_bytes: bytes) -> bytes:
    """An export whose one record's attribute (LogRecord field 6) is `kv_bytes`."""
    def ld(field: int, data: bytes) -> bytes:
        return bytes([field << 3 | 2, len(data)]) + data
    return ld(1, ld(2, ld(2, ld(6, kv_bytes))))


@pytest.mark.parametrize("kv", [b"\x0a\x05ab", b"\x0a\x02\xff\xfe", b"\x12\x03\x0a\x01\xff", b"\x0b"])
def test_an_attribute_that_does_not_parse_is_refused_in_the_same_words(kv: bytes) -> None:
    body = _bad_attribute(kv)
    with pytest.raises(BadRequest) as full:
        _full(body)
    with pytest.raises(BadRequest) as raw:
        otlp.render_protobuf(body)
    assert str(raw.value) == str(full.value)
    assert "ExportLogsServiceRequest" in str(full.value)


class _ByKey(dict):  # type: ignore[type-arg]
    """A KeyValue's text found by its key's bytes only, not its value's."""

    def get(self, key, default=None):  # noqa: ANN001, ANN201
        return super().get(key[:key[1] + 2], default)

    def __setitem__(self, key, value) -> None:  # noqa: ANN001
        super().__setitem__(key[:key[1] + 2], value)


class _ByCount(dict):  # type: ignore[type-arg]
    """A record's attributes text found by how many there are."""

    def get(self, key, default=None):  # noqa: ANN001, ANN201
        return super().get(len(key), default)

    def __setitem__(self, key, value) -> None:  # noqa: ANN001
        super().__setitem__(len(key), value)


@pytest.mark.parametrize("name,wrong", [("_KV_TEXT", _ByKey), ("_ATTRS_TEXT", _ByCount)])
def test_a_forced_wrong_cache_is_caught(monkeypatch: pytest.MonkeyPatch, name: str, wrong: type) -> None:
    """Text found by too little of its bytes changes the lines: the comparison above
    would see such a shortcut."""
    body = _bodies()[1]
    monkeypatch.setattr(otlp, "_KV_TEXT", {})
    monkeypatch.setattr(otlp, "_ATTRS_TEXT", {})
    monkeypatch.setattr(otlp, name, wrong())
    bad = otlp.render_protobuf(body)
    monkeypatch.setattr(otlp, "_KV_TEXT", {})
    monkeypatch.setattr(otlp, "_ATTRS_TEXT", {})
    assert bad != _full(body)
    assert otlp.render_protobuf(body) == _full(body)
