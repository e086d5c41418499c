"""Small pieces of the intakes without a collector: auth headers, syslog framing and
cleaning, listener config, the Python-logging record, the bulk body."""

from __future__ import annotations

import asyncio

import base64
import json
from pathlib import Path

import pytest

from logship.collector.auth import request_token
from logship.collector.config import SyslogListener, load_config
from logship.collector.errors import ConfigError
from logship.collector.intake.esbulk import parse_bulk
from logship.collector.intake.http import BadRequest
from logship.collector.intake.pylogging import render_record
from logship.collector.intake import syslognet
from logship.collector.intake.syslognet import clean_message, payload_format


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.mark.parametrize("header,api_key,want", [
    ("Bearer t1", False, "t1"),
    (f"Basic {b64('user:t2')}", False, "t2"),
    (f"Basic {b64('user:pa:ss')}", False, "pa:ss"),
    (f"Basic {b64('nopassword')}", False, None),
    ("Basic !!!", False, None),
    (f"ApiKey {b64('id:t3')}", True, "t3"),
    (f"ApiKey {b64('id:t3')}", False, None),
    (None, False, None),
], ids=["bearer", "basic", "basic-colon-in-token", "basic-no-colon", "basic-bad-b64", "apikey", "apikey-elsewhere",
        "none"])
def test_request_token(header, api_key, want):
    assert request_token(header, api_key=api_key) == want


def test_clean_message_and_payload_format():
    assert clean_message(b"<13>x a\nb\r\n") == b"<13>x a#012b"
    assert clean_message(b"tab\tkept\x00") == b"tab\tkept"
    assert payload_format(b"<34>1 2026-11-30T00:00:00Z h a - - - m") == "syslog5424"
    assert payload_format(b"<34>Nov 30 00:00:00 h a: m") == "syslog"


def test_syslog_listeners_config(tmp_path: Path):
    tokens = tmp_path / "t.txt"
    tokens.write_text("a tok-a-1234567890\n")
    assert load_config(None, token_file=tokens).syslog == ()
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[syslog]]\nprotocol = "udp"\nclient_id = "r"\nlisten = "0.0.0.0:5514"\ntz = "Europe/Paris"\n')
    assert load_config(cfg, token_file=tokens).syslog == (SyslogListener("udp", "r", "0.0.0.0", 5514, "Europe/Paris"),)
    cfg.write_text('[[syslog]]\nprotocol = "tcp"\nclient_id = "r"\nport = 1\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(cfg, token_file=tokens)
    cfg.write_text('[[syslog]]\nprotocol = "tcp"\n')
    with pytest.raises(ConfigError, match="client_id"):
        load_config(cfg, token_file=tokens)
    cfg.write_text('[[syslog]]\nprotocol = "tcp"\nnetworks = { "10.0.0.0/33" = "x" }\n')
    with pytest.raises(ConfigError, match="not a network"):
        load_config(cfg, token_file=tokens)


def test_syslog_sender_networks_to_client_ids():
    lst = SyslogListener("udp", "", networks=(("10.0.0.0/8", "wide"), ("10.1.0.0/16", "narrow"), ("::1/128", "six")))
    assert [lst.client_for(a) for a in ("10.1.2.3", "10.2.0.1", "::1", "192.168.0.1", "not-an-ip")] == \
        ["narrow", "wide", "six", None, None]
    assert SyslogListener("tcp", "default", networks=(("10.0.0.0/8", "n"),)).client_for("192.168.0.1") == "default"


def test_syslog_certificates_config_and_names(tmp_path: Path):
    tokens = tmp_path / "t.txt"
    tokens.write_text("a tok-a-1234567890\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[syslog]]\nprotocol = "tls"\ntls_ca = "/ca.pem"\ncertificates = { "a.example" = "a" }\n')
    (lst,) = load_config(cfg, token_file=tokens).syslog
    assert (lst.client_id, lst.tls_ca, lst.certificates) == ("", Path("/ca.pem"), (("a.example", "a"),))
    for bad, why in (('protocol = "tcp"\ntls_ca = "/ca.pem"', "needs protocol"), ('protocol = "tls"', "needs protocol"),
                     ('protocol = "tls"\ntls_ca = "/ca.pem"\nclient_id = "x"', "drop client_id")):
        cfg.write_text(f'[[syslog]]\n{bad}\ncertificates = {{ "a.example" = "a" }}\n')
        with pytest.raises(ConfigError, match=why):
            load_config(cfg, token_file=tokens)
    lst = SyslogListener("tls", "", certificates=(("cn.example", "by-cn"), ("dns.example", "by-dns")))
    both = {"subject": ((("commonName", "cn.example"),),), "subjectAltName": (("DNS", "dns.example"),)}
    assert lst.client_for_cert(both) == ("by-dns", ["dns.example", "cn.example"])  # SAN DNS names first
    assert lst.client_for_cert({"subject": ((("commonName", "cn.example"),),)}) == ("by-cn", ["cn.example"])
    assert lst.client_for_cert({"subjectAltName": (("IP Address", "10.0.0.1"),)}) == (None, [])
    assert lst.client_for_cert(None) == (None, [])


def _frames(data: bytes, max_line: int) -> list[tuple[bytes, int | None]]:
    async def go() -> list[tuple[bytes, int | None]]:
        r = asyncio.StreamReader(limit=max_line + 64)  # the listener's limit
        r.feed_data(data)
        r.feed_eof()
        out = []
        while (got := await syslognet._read_frames(r, max_line)) is not None:
            out.append(got)
        return out
    return asyncio.run(go())


@pytest.mark.parametrize("data, max_line, want", [
    (b"3 abc5 hello\n<1>x\n", 8, [(b"abc", None), (b"hello", None), (b"<1>x\n", None)]),
    # over-long: the start kept, the span (length + 1), the rest read past
    (b"12 abcdefghijkl3 xyz", 8, [(b"abcdefgh", 13), (b"xyz", None)]),
    (b"<1>abcdefghij\n<2>ok\n", 8, [(b"<1>abcde", 14), (b"<2>ok\n", None)]),
    (b"<1>" + b"a" * 200 + b"\n<2>ok", 8, [(b"<1>aaaaa", 204), (b"<2>ok", None)]),  # past the reader's limit
    (b"9999999999 abc", 8, [(b"abc", None)]),  # a frame the stream ends inside: what came
    # digits that are not a count: a newline-framed message
    (b"2026-11-30 x\n", 64, [(b"2026-11-30 x\n", None)]),
    (b"12345678901 x\n42", 64, [(b"12345678901 x\n", None), (b"42", None)]),
    (b"0 \n\n", 8, [(b"", None)]),
])
def test_syslog_frames(data, max_line, want):
    assert _frames(data, max_line) == want


def test_python_record_rendering():
    line = render_record({"created": "1795996800.25", "msg": "%(a)s=%(b)d", "args": "{'a': 'x', 'b': 2}",
                          "levelname": "INFO", "lineno": "12", "exc_text": "None"})
    assert json.loads(line) == {"time": 1795996800.25, "msg": "x=2", "levelname": "INFO", "lineno": 12}
    line = render_record({"created": "1", "msg": "%s", "args": "(<object at 0x1>,)"})
    assert json.loads(line) == {"time": 1.0, "msg": "%s", "args": "(<object at 0x1>,)"}
    with pytest.raises(BadRequest, match="created"):
        render_record({"msg": "no time"})


def test_bulk_body_refused_whole():
    with pytest.raises(BadRequest, match="no source line"):
        parse_bulk(b'{"index":{}}\n', "i")
    with pytest.raises(BadRequest, match="not JSON"):
        parse_bulk(b'nope\n', "i")
    items = parse_bulk(b'{"index":{"_index":"x","_id":5}}\n{"a":1}\n', None)
    assert (items[0].index, items[0].id, items[0].source) == ("x", "5", {"a": 1})


def test_otlp_protobuf_lines_share_resource_and_keep_nan_as_text():
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from logship.collector.intake.otlp import CHUNK, render_protobuf

    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for i in range(CHUNK + 1):
        lr = sl.log_records.add()
        lr.time_unix_nano = 1795996800_000000000 + i
        kv = lr.attributes.add()
        kv.key, kv.value.double_value = "ratio", float("nan")
    data, n = render_protobuf(req.SerializeToString())
    lines = data.splitlines()
    assert (n, len(lines)) == (CHUNK + 1, 2)
    first = json.loads(lines[0])["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert len(first) == CHUNK and first[0]["attributes"] == [{"key": "ratio", "value": {"doubleValue": "NaN"}}]


def test_udp_datagrams_dropped_and_counted_when_waiting_or_busy(monkeypatch):
    import asyncio
    from types import SimpleNamespace

    from logship.collector.intake import syslognet
    from logship.collector.metrics import Metrics

    monkeypatch.setattr(syslognet, "QUEUE_BYTES", 100)
    metrics = Metrics()
    # a collector whose queue is full: every append answers Busy
    state = SimpleNamespace(shutting_down=False, metrics=metrics,
                            writer=SimpleNamespace(full=True, health=SimpleNamespace(failing=False)))

    async def go() -> None:
        proto = syslognet._Datagrams(syslognet.SyslogServers(state), SyslogListener("udp", "c"), "syslog-udp")
        for _ in range(5):  # 56 bytes each: the third and later find 100 bytes waiting
            proto.datagram_received(b"<13>Nov 30 00:00:00 h app: " + b"x" * 28, ("127.0.0.1", 514))
        await proto.by_peer["127.0.0.1"].flush(drop_when_busy=True)

    asyncio.run(go())
    assert (metrics.intake_dropped["syslog-udp"], metrics.intake_busy["syslog-udp"]) == (5, 1)


def test_loki_json_metadata_json_text_cannot_hold_is_a_400():
    """A NaN in an entry's metadata was a ValueError (500); it is the push's 400."""
    from logship.collector.intake.loki import render_json

    body = b'{"streams":[{"stream":{"job":"x"},"values":[["1795996800000000000","line",{"m":NaN}]]}]}'
    with pytest.raises(BadRequest, match=r"streams\[0\]\.values\[0\]: a value JSON text cannot hold"):
        render_json(body)
    data, n = render_json(body.replace(b"NaN", b'"1"'))
    assert (n, data) == (1, b'{"timestamp":"2026-11-30T00:00:00.000000000Z","message":"line","labels":{"job":"x"},'
                            b'"metadata":{"m":"1"}}\n')


def test_json_nested_past_the_recursion_limit_is_refused_not_a_crash():
    """A value nested deeper than Python's recursion limit was a RecursionError (500)."""
    from logship.collector.intake.http import load_json

    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(BadRequest, match="not JSON"):
        load_json(deep)
    with pytest.raises(BadRequest, match="line 1: the action is not JSON"):
        parse_bulk(b'{"index":' + deep + b'}\n{}\n', "i")
    (item,) = parse_bulk(b'{"index":{}}\n{"a":' + deep + b'}\n', "i")
    assert (item.status, item.error["type"]) == (400, "mapper_parsing_exception")
