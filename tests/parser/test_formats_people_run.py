"""The formats people run (issue 10): multi-line entries by head pattern (`head:`), the
"timestamp, level, rest" family, access/error logs, logcat, and the JSON key
conventions, on files written by the real programs (samples/, copied from the corpus)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from logship.parser import EntryParser, detect_format, get_format, list_formats
from logship.store.segments import iter_segments

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DEC1 = datetime.fromisoformat("2026-12-01T00:00:00+00:00").timestamp()
NEW = ["python", "python_asctime", "log4j", "golog", "dpkg", "windows_cbs", "access_vhost",
       "nginx_error", "apache_error", "logcat"]


def us(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000)


def parse(name: str, fmt: str, **kw):
    data = (SAMPLES / name).read_bytes()
    return data, EntryParser(fmt, tz="UTC", mtime=DEC1, path=name, **kw).parse(data, 0, final=True)


def row(res, i: int) -> tuple:
    e = res.batch.events
    return e.ts_us[i], e.level[i], e.name[i], e.message[i], json.loads(e.attrs[i]) if e.attrs[i] else {}


# ---- head: ------------------------------------------------------------------------

def test_python_traceback_joins_the_entry_above():
    data, res = parse("python.log", "python")
    assert (res.lines, res.entries, len(res.batch.events.name), len(res.batch.rejects)) == (22, 10, 10, 0)
    ts, level, name, msg, attrs = row(res, 8)
    assert (level, name, attrs) == ("ERROR", "python", {"logger": "app.jobs"})
    lines = msg.split("\n")
    assert lines[0] == "job 17 failed [#8]"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: could not load job 17"
    assert "During handling of the above exception, another exception occurred:" in lines
    assert len(lines) == 13  # the head and its 12 traceback lines, blank ones included
    assert row(res, 9)[3] == "done, 1 job failed [#9]"


def test_java_stack_trace_joins_the_entry_above():
    _, res = parse("log4j.log", "log4j")
    assert (res.entries, len(res.batch.rejects)) == (8, 0)
    msgs = res.batch.events.message
    failed = next(m for m in msgs if "\tat " in m)
    assert failed.split("\n")[1:] == [
        "java.lang.IllegalStateException: charge declined",
        "\tat CorpusLog.failure(CorpusLog.java:38) ~[corpus-java-7c96ukct/:?]",
        "\tat CorpusLog.main(CorpusLog.java:68) ~[corpus-java-7c96ukct/:?]",
        "Caused by: java.io.IOException: connection reset by peer",
        "\tat CorpusLog.failure(CorpusLog.java:36) ~[corpus-java-7c96ukct/:?]",
        "\t... 1 more",
    ]


def test_head_regex_comes_from_the_grammar():
    h = get_format("log4j").head_regex()
    assert h.match(b"2026-11-30T14:41:04,028 INFO  [main] x - y")
    assert h.match(b"14:41:04.104 [main] INFO  com.example.App - x")
    assert h.match(b"26/11/30 14:41:04 INFO App: x")
    for line in (b"\tat CorpusLog.main(CorpusLog.java:68)", b"Caused by: java.io.IOException: x",
                 b"java.lang.IllegalStateException: charge declined", b"", b"\t... 1 more"):
        assert h.match(line) is None, line
    assert get_format("python").head_regex().match(b"Traceback (most recent call last):") is None
    assert get_format("syslog").head_regex() is None  # formats without `head:` keep one line per entry


def test_head_unfinished_last_entry_waits_and_orphans_are_one_reject():
    data = (b"Traceback (most recent call last):\n  File \"x.py\", line 1\n"
            b"INFO:root:one\nERROR:app:two\nTraceback (most recent call last):\n")
    res = EntryParser("python", tz="UTC").parse(data, 0, final=False)
    last = data.index(b"ERROR:app:two")
    assert (res.end_offset, res.entries, res.batch.events.message) == (last, 2, ["one"])
    assert res.batch.rejects.error_code == ["orphan_continuation"]
    assert res.batch.rejects.error[0].startswith("field head: 2 line(s) at the start of the data")
    assert res.batch.rejects.byte_offset == [0]
    rest = EntryParser("python", tz="UTC").parse(data[last:], last, final=True)
    assert rest.batch.events.message == ["two\nTraceback (most recent call last):"]
    assert rest.end_offset == len(data)


def test_head_with_a_byte_order_mark_and_crlf():
    res = EntryParser("python", tz="UTC").parse(b"\xef\xbb\xbfINFO:root:one\r\n  tail\r\n", 0, final=True)
    assert (res.batch.events.message, res.batch.rejects.error_code) == (["one\n  tail"], [])


def test_file_ingest_cuts_only_before_a_head_line():
    data = (SAMPLES / "python_asctime-cookbook.log").read_bytes() * 20
    head = get_format("python_asctime").head_regex()
    segs = list(iter_segments(io.BytesIO(data), 300, 1 << 20, indent=False, head=head))
    assert len(segs) > 10 and b"".join(s.data for s in segs) == data
    for s in segs:
        assert head.match(s.data), s.data[:60]
    whole = EntryParser("python_asctime", tz="UTC").parse(data, 0, final=True)
    parts = [EntryParser("python_asctime", tz="UTC").parse(s.data, s.start, final=True) for s in segs]
    assert sum(len(p.batch.events.message) for p in parts) == len(whole.batch.events.message) == 200
    assert [m for p in parts for m in p.batch.events.message] == whole.batch.events.message
    assert sum(len(p.batch.rejects) for p in parts) == 0


# ---- records, exact -----------------------------------------------------------------

@pytest.mark.parametrize("name, fmt, i, want", [
    ("python_asctime-cookbook.log", "python_asctime", 3,
     (us("2026-11-30T14:40:59.179+00:00"), "WARN", "python", "slow request: GET /api/report took 2.5s [#3]",
      {"logger": "app.http"})),
    ("log4j.log", "log4j", 1,
     (us("2026-11-30T14:41:04.062+00:00"), "DEBUG", "java", "pool size=5 timeout=30s [#1]",
      {"thread": "main", "logger": "com.example.db.Pool"})),
    ("logback-2026-11-30.log", "log4j", 0,  # time of day: the date from the file name
     (us("2026-11-30T14:41:04.104+00:00"), "INFO", "java", "Starting App v2.4.1 on host vm [#0]",
      {"thread": "main", "logger": "com.example.App"})),
    ("golog.log", "golog", 0,
     (us("2026-11-30T14:41:07.025516+00:00"), None, "golog", "server listening on :8080 [#0]", {})),
    ("dpkg.log", "dpkg", 1,
     (us("2026-11-30T14:29:07+00:00"), None, "dpkg", "status half-installed libfastjson4:amd64 1.2304.0-1", {})),
    ("windows_cbs.log", "windows_cbs", 2,
     (us("2016-10-03T14:35:22+00:00"), "ERROR", "windows",
      "Failed to internally open package. [HRESULT = 0x800f0805 - CBS_E_INVALID_PACKAGE]", {"component": "CBS"})),
    ("nginx_error.log", "nginx_error", 3,
     (us("2026-11-30T14:40:58+00:00"), "WARN", "nginx",
      'limiting requests, excess: 1.000 by zone "one", client: 127.0.0.1, server: localhost, '
      'request: "GET /limited HTTP/1.1", host: "127.0.0.1:59049"',
      {"pid": 22285, "tid": 22285, "connection": 9})),
    ("apache_error.log", "apache_error", 0,
     (us("2000-10-11T14:32:52+00:00"), "ERROR", "apache",
      "client denied by server configuration: /export/home/live/ap/htdocs/test", {"client": "127.0.0.1"})),
    ("apache_error.log", "apache_error", 5,
     (us("2011-09-09T10:43:01.523187+00:00"), "ERROR", "apache",
      "AH01630: client denied by server configuration: /usr/local/apache2/htdocs/private",
      {"module": "authz_core", "pid": 35709, "tid": 4328636500, "client": "72.15.99.188:52001"})),
    ("logcat.log", "logcat", 5,
     (us("2026-11-30T09:15:04.250+00:00"), "FATAL", "logcat",
      "Fatal signal 11 (SIGSEGV), code 1, fault addr 0x0 in tid 566", {"pid": 566, "tid": 566, "tag": "libc"})),
])
def test_real_program_record(name, fmt, i, want):
    _, res = parse(name, fmt)
    assert len(res.batch.rejects) == 0
    assert row(res, i) == want


def test_nginx_main_and_vhost_combined():
    _, res = parse("access-main.log", "access")
    assert len(res.batch.rejects) == 0
    a = [json.loads(x) for x in res.batch.events.attrs]
    assert a[3]["x_forwarded_for"] == "203.0.113.7, 10.0.0.2"
    assert a[0]["x_forwarded_for"] is None  # "-"
    _, res = parse("access_vhost.log", "access_vhost")
    assert len(res.batch.rejects) == 0
    a0 = json.loads(res.batch.events.attrs[0])
    assert (a0["vhost"], a0["client"], a0["status"], a0["path"]) == ("127.0.0.1:59049", "127.0.0.1", 200, "/")


def test_json_key_conventions():
    _, res = parse("conventions.jsonl", "jsonl")
    assert len(res.batch.rejects) == 0
    e = res.batch.events
    got = {(e.message[i], e.level[i], e.ts_us[i]) for i in range(len(e.name))}
    for want in [
        ("hi", "INFO", us("2013-01-04T18:46:23.851+00:00")),  # bunyan: level 30
        ("something failed", "ERROR", us("2018-07-09T21:18:03+00:00")),  # pino: 50, epoch ms
        ("giving up", "ERROR", us("2019-10-25T19:20:33.25+00:00")),  # zap: ts float seconds
        ("hello world", "DEBUG", us("2017-05-12T05:41:55+00:00")),  # zerolog: message, epoch s
        ("Example message!", "DEBUG", us("2021-01-08T15:13:40.556+00:00")),  # ECS
        ("foo", "INFO", us("2015-02-14T20:15:16.375353+00:00")),  # journald: PRIORITY 6, µs
        ("Connection to db lost", "ERROR", us("2018-12-13T14:51:01.3+00:00")),  # OTLP: ns
        ("user logged in [#2]", "INFO", us("2026-11-30T14:40:59.269342+00:00")),  # structlog event
        ("job 17 failed [#8]", "ERROR", us("2026-11-30T14:40:59.214+00:00")),  # python-json-logger asctime
    ]:
        assert want in got, want
    ecs = next(json.loads(e.attrs[i]) for i in range(len(e.name)) if e.message[i] == "Example message!")
    assert "level" not in ecs["log"] and ecs["log"]["logger"] == "app"  # nested log.level taken out
    otel = next(json.loads(e.attrs[i]) for i in range(len(e.name)) if e.message[i] == "Example log record")
    assert otel["resource"] == {"service.name": "my.service"} and otel["scope"] == "my.library"


def test_otlp_line_with_many_records_is_one_outcome():
    rec = {"timeUnixNano": "1544712660300000000", "severityText": "INFO", "body": {"stringValue": "a"}}
    bad = {"timeUnixNano": "soon", "body": {"stringValue": "b"}}
    line = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [rec, rec]}]}]}).encode()
    res = EntryParser("jsonl", tz="UTC").parse(line + b"\n")
    assert res.batch.events.message == ["a", "a"] and res.batch.events.byte_offset == [0, 0]
    line = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [rec, bad]}]}]}).encode()
    res = EntryParser("jsonl", tz="UTC").parse(line + b"\n")
    assert (len(res.batch.events.name), res.batch.rejects.error_code) == (0, ["bad_timestamp"])


# ---- detection ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", NEW)
def test_samples_are_detected_as_their_own_format(fmt):
    lines = [s.encode() for s in get_format(fmt).samples]
    name, rate = detect_format(lines, tz="UTC", mtime=DEC1)
    assert (name, rate) == (fmt, 1.0)


@pytest.mark.parametrize("name, fmt", [
    ("python.log", "python"), ("python_asctime-cookbook.log", "python_asctime"), ("log4j.log", "log4j"),
    ("logback-2026-11-30.log", "log4j"), ("golog.log", "golog"), ("dpkg.log", "dpkg"),
    ("windows_cbs.log", "windows_cbs"), ("nginx_error.log", "nginx_error"), ("apache_error.log", "apache_error"),
    ("access-main.log", "access"), ("access_vhost.log", "access_vhost"), ("logcat.log", "logcat"),
    ("conventions.jsonl", "jsonl"),
])
def test_real_files_are_detected_right(name, fmt):
    data = (SAMPLES / name).read_bytes()
    assert detect_format(data.splitlines(), tz="UTC", mtime=DEC1) == (fmt, 1.0)


@pytest.mark.parametrize("fmt", NEW)
def test_new_formats_do_not_take_syslog_or_client_lines(fmt):
    """Each new format rejects the syslog and client samples (it could not steal them)."""
    p = EntryParser(fmt, tz="UTC", mtime=DEC1)
    for other in ("syslog", "client"):
        for s in get_format(other).samples:
            res = p.parse(s.encode() + b"\n")
            assert len(res.batch.events.name) == 0, (other, s)


def test_every_format_is_listed():
    assert set(NEW) <= {f.name for f in list_formats()}


def test_spark_logger_and_bracketed_asctime():
    res = EntryParser("log4j", tz="UTC").parse(b"26/11/30 14:41:04 INFO Controller: GET /api/items -> 200\n")
    assert row(res, 0) == (us("2026-11-30T14:41:04+00:00"), "INFO", "java", "GET /api/items -> 200",
                           {"logger": "Controller"})
    data = (b"[2026-11-30 14:40:59] ERROR    app.jobs: job 17 failed\n"
            b"Traceback (most recent call last):\nKeyError: 'missing'\n")
    assert get_format("python_asctime").head_regex().match(data)  # `head: _LB? ISO_TIMESTAMP`
    res = EntryParser("python_asctime", tz="UTC").parse(data)
    assert row(res, 0) == (us("2026-11-30T14:40:59+00:00"), "ERROR", "python",
                           "job 17 failed\nTraceback (most recent call last):\nKeyError: 'missing'",
                           {"logger": "app.jobs"})


def test_journald_byte_array_message():
    line = b'{"__REALTIME_TIMESTAMP":"1423944918375353","PRIORITY":"4","MESSAGE":[104,105,255]}\n'
    res = EntryParser("jsonl", tz="UTC").parse(line)
    assert row(res, 0) == (us("2015-02-14T20:15:18.375353+00:00"), "WARN", "jsonl", "hi\ufffd",
                           {"MESSAGE": [104, 105, 255]})  # lossy as text: the bytes are kept
    line = b'{"__REALTIME_TIMESTAMP":"1423944918375353","PRIORITY":"6","MESSAGE":[104,105]}\n'
    assert row(EntryParser("jsonl", tz="UTC").parse(line), 0)[3:] == ("hi", {})


def test_syslog_program_names_with_spaces_and_5424_message_start():
    data = (b"Nov 30 14:40:58 vm Google Chrome[22262]: Helper process started\n"
            b"Nov 30 14:40:58 vm syslogd 1.4.1: restart\n"
            b"Nov 30 14:40:58 vm dhclient bound to 10.0.0.7 -- renewal in 1800 seconds.\n")
    res = EntryParser("syslog", tz="UTC", mtime=DEC1).parse(data)
    got = [(json.loads(a).get("app"), json.loads(a).get("pid"), m)
           for a, m in zip(res.batch.events.attrs, res.batch.events.message)]
    assert got == [("Google Chrome", 22262, "Helper process started"), ("syslogd 1.4.1", None, "restart"),
                   ("dhclient", None, "bound to 10.0.0.7 -- renewal in 1800 seconds.")]
    data = (b"<38>1 2026-11-30T14:40:58.022980+00:00 vm sshd 22258 - -  Accepted publickey\n"
            b'<165>1 2026-11-30T14:40:58.1Z vm app - ID47 [x@1 iut="3"]An event\n')
    res = EntryParser("syslog5424", tz="UTC").parse(data)
    assert res.batch.events.message == ["Accepted publickey", "An event"]


def test_syslog_year_from_a_date_in_the_file_name_over_the_mtime():
    """A rotated file copied in 2028 (mtime 2028) named by its rotation day keeps 2025."""
    data = b"Dec 30 23:59:58 vm CRON[1]: (root) CMD (true)\nJan  1 00:00:01 vm CRON[2]: (root) CMD (true)\n"
    copied = datetime.fromisoformat("2028-06-01T00:00:00+00:00").timestamp()
    res = EntryParser("syslog", tz="UTC", mtime=copied, path="/srv/old/messages-20260101").parse(data)
    assert res.batch.events.ts_us == [us("2025-12-30T23:59:58+00:00"), us("2026-01-01T00:00:01+00:00")]
    res = EntryParser("syslog", tz="UTC", mtime=copied, path="/srv/old/messages").parse(data)
    assert res.batch.events.ts_us == [us("2027-12-30T23:59:58+00:00"), us("2028-01-01T00:00:01+00:00")]


def test_syslog_year_from_the_sources_other_dated_lines():
    """A year-less line takes the year of the full-date line above it, not the mtime's
    (rsyslog switched templates mid-file; the file was copied years later)."""
    data = (b"2025-12-31T23:59:58+00:00 vm CRON[1]: (root) CMD (true)\n"
            b"Jan  1 00:00:01 vm CRON[2]: (root) CMD (true)\n"
            b"2026-03-01T10:00:00+00:00 vm app: marker\n"
            b"Mar  1 10:00:05 vm app: after\n")
    copied = datetime.fromisoformat("2029-06-01T00:00:00+00:00").timestamp()
    res = EntryParser("syslog", tz="UTC", mtime=copied).parse(data)
    assert res.batch.events.ts_us == [us("2025-12-31T23:59:58+00:00"), us("2026-01-01T00:00:01+00:00"),
                                      us("2026-03-01T10:00:00+00:00"), us("2026-03-01T10:00:05+00:00")]


def test_syslog_year_given_explicitly():
    """`--year` (context {"year": N}): the first year-less line is in N, the New Year rolls on."""
    data = b"Dec 30 23:59:58 vm CRON[1]: (root) CMD (true)\nJan  1 00:00:01 vm CRON[2]: (root) CMD (true)\n"
    copied = datetime.fromisoformat("2028-06-01T00:00:00+00:00").timestamp()
    res = EntryParser("syslog", tz="UTC", mtime=copied, context={"year": 2019}).parse(data)
    assert res.batch.events.ts_us == [us("2019-12-30T23:59:58+00:00"), us("2020-01-01T00:00:01+00:00")]


def test_a_multi_line_entry_is_capped_at_max_line_bytes_and_the_rest_is_visible():
    """A traceback that never ends does not grow one record without bound: the entry keeps
    what fits, the lines after are `entry_too_long` rejects (each within the cap), and the
    next entry parses as usual; every byte is in a record or a reject."""
    frames = [b"  at frame %05d " % i + b"z" * 40 for i in range(200)]
    data = b"2026-11-30 14:00:01,123 ERROR x\n" + b"\n".join(frames) + b"\n2026-11-30 14:00:02,123 INFO after\n"
    res = EntryParser("python_asctime", tz="UTC", max_line_bytes=1000).parse(data)
    ev, rj = res.batch.events, res.batch.rejects
    assert ev.message[1] == "after" and len(ev.message) == 2
    kept = ev.message[0].count("at frame")
    assert len(ev.message[0].encode()) <= 1000 and kept == 16  # 31-byte head + 16 x 58 bytes; 17 would pass 1000
    assert set(rj.error_code) == {"entry_too_long"} and all(len(r) <= 1000 for r in rj.raw)
    rejected = b"\n".join(rj.raw).count(b"at frame")
    assert kept + rejected == 200
    assert rj.byte_offset[0] == data.index(frames[kept])


def test_apt_history_stanzas_are_one_event_each_and_a_broken_stanza_is_one_reject():
    data = (b"\nStart-Date: 2026-11-30  14:28:56\nCommandline: apt-get install -y nginx\n"
            b"Install: nginx:amd64 (1.22.1-9)\nEnd-Date: 2026-11-30  14:29:19\n"
            b"\nStart-Date: 2026-11-30  15:00:00\nCommandline: apt-get remove -y nginx\nthis is no field\n"
            b"End-Date: 2026-11-30  15:00:02\n")
    res = EntryParser("apt_history", tz="UTC").parse(data)
    ev, rj = res.batch.events, res.batch.rejects
    assert ev.message == ["apt-get install -y nginx"] and ev.ts_us == [us("2026-11-30T14:28:56+00:00")]
    assert json.loads(ev.attrs[0]) == {"Install": "nginx:amd64 (1.22.1-9)", "End-Date": "2026-11-30  14:29:19"}  # as written
    assert ev.byte_offset == [1] and ev.name == ["apt"]
    assert rj.error_code == ["bad_field"] and rj.error == ["line 3 of the stanza: expected 'Key: value', got 'this is no field'"]
    assert rj.byte_offset == [data.index(b"Start-Date: 2026-11-30  15")]


def test_apt_history_stanzas_run_together_are_a_reject_not_one_entry_with_the_later_fields():
    """A stanza whose Start-Date line was lost joins the one above; its Commandline must
    not silently replace the first one's."""
    data = (b"Start-Date: 2026-11-30  14:28:56\nCommandline: apt-get install -y nginx\n"
            b"End-Date: 2026-11-30  14:29:19\n\nStart-Dat: 2026-11-30  15:00:00\n"
            b"Commandline: apt-get remove -y nginx\nEnd-Date: 2026-11-30  15:00:02\n")
    res = EntryParser("apt_history", tz="UTC").parse(data)
    assert res.batch.events.message == [] and res.batch.rejects.error_code == ["bad_field"]
    assert res.batch.rejects.error == ["line 6 of the stanza: key 'Commandline' again (a stanza holds each key once)"]
