"""The shipped formats: their own samples, the sample files with exact records, and
detection (most specific first, with hit rates)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from logship.parser import EntryParser, detect_format, get_format, list_formats
from logship.parser.errors import UnknownFormatError

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SHIPPED = ["client", "syslog5424", "logcat", "windows_cbs", "apache_error", "nginx_error", "log4j", "dpkg",
           "python_asctime", "python", "apt_history", "syslog", "access_vhost", "access", "jsonl", "golog", "logfmt"]
NOV27 = datetime.fromisoformat("2026-11-27T23:00:00+00:00").timestamp()


def us(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1_000_000)


def parse_file(name: str, fmt: str, tz: str = "UTC", mtime: float = NOV27):
    data = (SAMPLES / name).read_bytes()
    return EntryParser(fmt, tz=tz, mtime=mtime, path=name).parse(data, 0, final=True)


def attrs(res, i: int) -> dict:
    a = res.batch.events.attrs[i]
    return json.loads(a) if a else {}


def test_shipped_formats_most_specific_first():
    assert [f.name for f in list_formats()] == SHIPPED
    assert {f.name: f.context_free for f in list_formats()} == {
        "client": True, "syslog5424": True, "syslog": False, "access": True, "jsonl": True, "logfmt": True,
        "logcat": False, "windows_cbs": True, "apache_error": True, "nginx_error": True, "log4j": False,
        "dpkg": True, "python_asctime": True, "python": True, "access_vhost": True, "golog": True, "apt_history": True}


@pytest.mark.parametrize("name", SHIPPED)
def test_each_format_parses_its_samples_and_rejects_its_bad_samples(name):
    fmt = get_format(name)
    assert len(fmt.samples) >= 3 and fmt.description
    for line in fmt.samples:
        res = EntryParser(fmt, tz="UTC", mtime=NOV27).parse(line.encode() + b"\n")
        assert (res.entries, len(res.batch.rejects)) == (1, 0), (line, res.batch.rejects.error)
        assert res.batch.records >= 1
    for line in fmt.spec.sample_rejects:
        res = EntryParser(fmt, tz="UTC", mtime=NOV27).parse(line.encode() + b"\n")
        assert (res.entries, len(res.batch.rejects), res.batch.records) == (1, 1, 0), line
        assert res.batch.rejects.error_code[0] != "transformer_error"
        assert re.match(r"(column \d+, )?field \w+: ", res.batch.rejects.error[0]), res.batch.rejects.error[0]


def test_unknown_format_is_a_named_error():
    with pytest.raises(UnknownFormatError, match="unknown log format 'nope'.*client"):
        get_format("nope")


def test_syslog_file_across_new_year():
    res = parse_file("syslog.log", "syslog", mtime=datetime.fromisoformat("2027-01-01T00:05:00+00:00").timestamp())
    e = res.batch.events
    assert (res.lines, res.entries, len(e.name), len(res.batch.rejects)) == (22, 22, 21, 1)
    assert res.batch.rejects.error_code == ["bad_timestamp"]
    assert e.ts_us[0] == us("2026-12-31T23:58:01+00:00")
    assert e.ts_us[5] == us("2026-12-31T23:59:59+00:00")
    assert e.ts_us[6] == us("2027-01-01T00:00:01+00:00")
    assert e.ts_us[-1] == us("2027-01-01T00:03:01+00:00")
    assert res.context == {"year": 2027, "month": 1}
    assert set(e.name) == {"syslog"} and set(e.level) == {None}
    assert attrs(res, 1) == {"host": "web-01", "app": "sshd", "pid": 30244}
    assert attrs(res, 5) == {"host": "web-01", "app": "kernel"}
    assert e.message[5].startswith("[8123456.789012] [UFW BLOCK] IN=eth0")
    assert attrs(res, 7) == {"host": "web-01", "app": "(sd-pam)", "pid": 30251}  # parentheses
    assert attrs(res, 8) == {"host": "web-01", "app": "dhclient"}  # no colon, no pid
    assert e.message[8] == "bound to 10.0.0.7 -- renewal in 1800 seconds."
    assert attrs(res, 9) == {"host": "web-01", "app": "postfix/smtpd", "pid": 30310}
    assert attrs(res, 15) == {"host": "db-02.example.net", "app": "postgres", "pid": 912}  # dashed host
    assert attrs(res, 17) == {"host": "web-01", "app": "rsyslogd"}
    assert e.message[17] == "-- MARK --"


def test_syslog_zone_applies_to_wall_times():
    res = EntryParser("syslog", tz="America/New_York", mtime=NOV27).parse(b"Nov  7 01:02:03 h app: x\n")
    assert res.batch.events.ts_us == [us("2026-11-07T06:02:03+00:00")]  # EST (UTC-5), two-space day


def test_syslog_priority_gives_level_and_facility():
    res = EntryParser("syslog", tz="UTC", mtime=NOV27).parse(b"<86>Nov 27 21:09:08 web-01 sudo: x\n")
    assert res.batch.events.level == ["INFO"]
    assert attrs(res, 0) == {"facility": "authpriv", "severity": 6, "host": "web-01", "app": "sudo"}


def test_syslog5424_file():
    res = parse_file("syslog5424.log", "syslog5424")
    e = res.batch.events
    assert (res.lines, len(e.name), res.batch.rejects.error_code) == (11, 9, ["bad_version", "bad_field"])
    assert e.ts_us[0] == us("2026-11-27T21:09:05.003+00:00")
    assert e.level[0] == "INFO" and e.level[1] == "FATAL" and e.level[4] == "ERROR"
    assert attrs(res, 0) == {"facility": "local4", "severity": 5, "version": 1, "host": "web-01.example.net",
                             "app": "evntslog", "procid": "4242", "msgid": "ID47",
                             "exampleSDID@32473.iut": "3", "exampleSDID@32473.eventSource": "Application",
                             "exampleSDID@32473.eventID": "1011"}
    assert e.message[0] == "An application event log entry"
    assert e.ts_us[2] == us("2026-11-27T21:09:07+00:00")
    assert attrs(res, 2)["origin.swVersion"] == "4.2.0" and attrs(res, 2)["meta.sequenceId"] == "1029"
    assert attrs(res, 3)["meta.note"] == 'a "quoted" ] bracket' and e.message[3] is None
    # all NILVALUEs: the syslog5424 format declares `time: received` (RFC 5424 6.2.3.1)
    assert e.ts_source[6] == "received" and e.ts_source[5] == "line" and attrs(res, 6)["host"] is None


def test_syslog5424_bom_is_dropped():
    line = "<13>1 2026-11-27T21:09:05Z h a - - - \ufeffgrüße\n".encode()
    assert EntryParser("syslog5424").parse(line).batch.events.message == ["grüße"]


def test_access_file():
    res = parse_file("access.log", "access")
    e, m = res.batch.events, res.batch.metrics
    assert (res.lines, len(e.name), len(m.name), res.batch.rejects.error_code) == (12, 11, 8, ["bad_timestamp"])
    assert set(e.name) == {"http.request"} and set(e.level) == {"INFO"}
    assert attrs(res, 0) == {"client": "10.0.0.5", "ident": None, "user": None, "method": "GET", "path": "/",
                             "protocol": "HTTP/1.1", "status": 200, "bytes": 5120, "referer": None,
                             "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"}
    assert e.ts_us[2] == us("2026-11-27T21:09:06+00:00")  # +0100
    assert attrs(res, 2)["user"] == "deploy" and attrs(res, 2)["client"] == "2001:db8::1"
    assert attrs(res, 3)["path"] == '/search?q="quoted"'  # nginx \x22
    assert attrs(res, 3)["user_agent"] == 'sqlmap/1.7.2#stable (https://sqlmap.org) "probe"'
    assert attrs(res, 4)["request"].startswith("\x16\x03\x01") and "method" not in attrs(res, 4)
    assert attrs(res, 9)["path"] == 'a"b'.join(["/", ""]) and attrs(res, 9)["user_agent"] == 'apache-style "escaped" agent'
    assert "referer" not in attrs(res, 8)  # common log format: no referer, agent or time
    assert set(m.name) == {"http.request_time"} and set(m.unit) == {"seconds"}
    assert m.value == [0.004, 0.001, 0.125, 0.002, 0.0, 60.001, 0.0, 1.514]
    assert m.byte_offset[2] == e.byte_offset[2]  # the sample belongs to its request's entry


def test_logfmt_file():
    res = parse_file("logfmt.log", "logfmt")
    e = res.batch.events
    assert (res.lines, len(e.name), res.batch.rejects.error_code) == (11, 9, ["bad_value", "bad_field"])
    assert e.ts_us[0] == us("2026-11-27T21:09:05.123+00:00")
    assert (e.level[0], e.message[0]) == ("INFO", "server listening")
    assert attrs(res, 0) == {"addr": ":8080", "version": "v2.4.1", "pid": 4242}
    assert attrs(res, 1) == {"method": "GET", "path": "/api/items?page=2", "status": 200, "took": 0.0125,
                             "bytes": 4300.8}
    assert attrs(res, 3)["err"] == "dial tcp 10.0.0.9:443: connect: connection refused"
    assert attrs(res, 3)["retry"] is True
    assert (e.level[4], e.message[4]) == ("DEBUG", "")
    assert attrs(res, 4) == {"component": "gc", "freed": 12582912, "heap": 189267968, "pause": 0.00035}
    assert attrs(res, 5) == {"hits": 99120, "misses": 1042, "ratio": 98.96, "warm": True}
    assert (e.level[6], e.ts_us[6]) == ("INFO", us("2026-11-27T21:09:09+00:00"))  # ts=, lvl=, +01:00
    assert e.ts_us[7] == us("2026-11-27T21:09:10+00:00")  # epoch seconds
    assert attrs(res, 8) == {"reason": "SIGTERM", "uptime": 7200.0}


def test_jsonl_file():
    res = parse_file("app.jsonl", "jsonl", tz="Europe/Berlin")
    e = res.batch.events
    assert (res.lines, len(e.name), res.batch.rejects.error_code) == (11, 8, ["bad_json", "bad_json", "bad_timestamp"])
    assert (e.ts_us[0], e.level[0], e.message[0], e.name[0]) == (
        us("2026-11-27T21:09:05.123+00:00"), "INFO", "server listening", "jsonl")
    assert attrs(res, 0) == {"addr": ":8080", "version": "2.4.1"}
    assert (e.ts_us[2], e.level[2]) == (us("2026-11-27T21:09:06.450+00:00"), "WARN")  # epoch ms
    assert (e.ts_us[3], e.level[3], e.message[3]) == (us("2026-11-27T21:09:07.020+00:00"), "ERROR", "upstream failed")
    assert attrs(res, 3) == {"err": {"code": "ECONNREFUSED", "addr": "10.0.0.9:443"}, "attempt": 3}
    assert (e.name[5], e.session_id[5], e.message[5]) == ("cache.stats", "3f2a9c1e5b7d9e01", None)
    assert e.ts_us[6] == us("2026-11-27T21:09:09+01:00")  # no offset: the source's zone


def test_jsonl_lone_surrogate_is_a_reject_and_a_pair_is_text():
    """JSON can escape a lone surrogate; text cannot hold one (the store could not
    write it): that line is a bad_value reject, the others are read."""
    from logship.parser import EntryParser

    data = (b'{"ts":"2026-11-30T00:00:00Z","msg":"lone \\ud800"}\n'
            b'{"ts":"2026-11-30T00:00:00Z","msg":"ok","k":{"\\uDC00":1}}\n'
            b'{"ts":"2026-11-30T00:00:00Z","msg":"pair \\ud83d\\ude00"}\n')
    res = EntryParser("jsonl").parse(data)
    assert res.batch.events.message == ["pair \U0001f600"]
    assert res.batch.rejects.error_code == ["bad_value", "bad_value"]
    assert res.batch.rejects.error == ["field message: a lone surrogate (\\ud800) is not text",
                                       "field attrs: a lone surrogate (\\udc00) is not text"]


@pytest.mark.parametrize("name, fmt, rate", [
    ("client.log", "client", 20 / 21),
    ("client-crash.log", "client", 17 / 19),
    ("syslog.log", "syslog", 20 / 22),  # the tag-less dhclient line parses but does not count (detect_requires)
    ("syslog5424.log", "syslog5424", 9 / 11),
    ("access.log", "access", 11 / 12),
    ("logfmt.log", "logfmt", 9 / 11),
    ("app.jsonl", "jsonl", 8 / 11),
])
def test_detection_of_each_sample_file(name, fmt, rate):
    lines = (SAMPLES / name).read_bytes().splitlines()
    got, hit = detect_format(lines, tz="UTC", mtime=NOV27)
    assert got == fmt
    assert hit == pytest.approx(rate)


def test_detection_prefers_the_specific_format_and_reports_none_for_noise():
    assert detect_format([b"\x00\x01 binary", b"no format here", b""]) == (None, 0.0)
    assert detect_format([]) == (None, 0.0)
    # client lines also read as logfmt? no: but an ISO-stamped line with a program tag is syslog
    iso = b"2026-11-27T21:09:05.123+00:00 web-01 systemd[1]: Started."
    assert detect_format([iso] * 3) == ("syslog", 1.0)
    # logfmt only when nothing more specific reads the lines
    assert detect_format([b"t=1795813747 a=1 b=2", b"time=2026-11-27T21:09:05Z level=info msg=x"]) == ("logfmt", 1.0)
    assert detect_format([b'{"ts": 1795813747, "a": 1}']) == ("jsonl", 1.0)
    # lines with no time read by no format: nothing is chosen (they would be no_timestamp rejects)
    assert detect_format([b"a=1 b=2", b"level=info msg=x"]) == (None, 0.0)


def test_detection_caps_at_200_lines():
    good = b"time=2026-11-27T21:09:05Z level=info msg=x"
    lines = [good] * 200 + [b"garbage"] * 1000
    assert detect_format(lines) == ("logfmt", 1.0)
