"""Issue 10, items 1-2 at the parser: a format counts in detection only when its lines
really are that format (unknown otherwise), and an entry without a timestamp is a
``no_timestamp`` reject unless something is declared to stand in (each well under 1 s)."""

from __future__ import annotations

from pathlib import Path

from logship.parser import EntryParser, FormatRegistry
from logship.parser.check import check_file
from logship.parser.grammar import builtin_grammar_dir
from logship.parser.detect import DETECT_MARGIN, DETECT_MIN_RATE, detect_lines, detect_stream

PYTHON_LOGGING = (b"2026-11-30 14:00:01,123 - app - INFO - started\n"
                  b"2026-11-30 14:00:02,456 - app.db - WARNING - pool low\n"
                  b"2026-11-30 14:00:03,789 - app - ERROR - failed\n")
BASIC_CONFIG = b"2026-11-30 14:40:59,177 INFO service starting, version 2.4.1\n" * 3
DPKG = b"2026-11-30 14:29:07 status half-installed libfastjson4:amd64 1.2304.0-1\n" * 3
README = (b"# logship\n\nShips logs from desktop clients to a collector.\n\n"
          b"## Install\n\n    pip install logship\n\nSee docs/ for the details.\n")


def test_the_margins_are_what_docs_say():
    assert (DETECT_MIN_RATE, DETECT_MARGIN) == (0.5, 0.05)


def test_python_logging_is_never_syslog():
    """Each is its own format now (grammars/python_asctime.lark, dpkg.lark); without those
    formats syslog still does not take them: its detect_requires wants a host and a tag."""
    shipped = [(d.name, d.detected) for d in (detect_stream(x, at_end=True, tz="UTC")
                                              for x in (PYTHON_LOGGING, BASIC_CONFIG, DPKG))]
    assert shipped == [("python_asctime", True), ("python_asctime", True), ("dpkg", True)]
    only_syslog = FormatRegistry(include_builtin=False)  # the formats of before issue 10
    for name in ("syslog", "syslog5424", "client", "access", "jsonl", "logfmt"):
        only_syslog.add_file(builtin_grammar_dir() / f"{name}.lark")
    for data in (PYTHON_LOGGING, BASIC_CONFIG, DPKG):
        d = detect_stream(data, at_end=True, tz="UTC", registry=only_syslog)
        assert (d.name, d.detected) == ("unknown", False), data[:40]


def test_a_readme_is_unknown_never_client():
    d = detect_stream(README, at_end=True, tz="UTC")
    assert (d.name, d.rate, d.nearest()) == ("unknown", 0.0, "none")


def test_a_syslog_file_is_still_syslog_and_nearest_names_rates():
    line = b"Nov 27 21:09:05 web-01 sshd[4242]: Accepted publickey\n"
    d = detect_stream(line * 3 + b"not syslog at all\n", at_end=True, tz="UTC", mtime=1795813747.0)
    assert (d.name, d.rate, d.nearest()) == ("syslog", 0.75, "syslog 75%")
    half = detect_lines([line, b"junk one", b"junk two", b"junk three"], tz="UTC", mtime=1795813747.0)
    assert (half.name, half.rate, half.nearest()) == ("unknown", 0.25, "syslog 25%")


def test_check_says_unknown_and_names_no_other_format(tmp_path: Path):
    p = tmp_path / "README.md"
    p.write_bytes(README)
    r = check_file(p)
    assert (r.log_format, r.detected, r.records, r.entries, r.rejects) == ("unknown", True, 0, 9, 9)
    codes = {e[2] for e in r.errors}
    assert codes == {"unknown_format"}
    assert all("sess" not in e[3] and "nearest" not in e[3] or "none" in e[3] for e in r.errors)
    assert "no format reads its lines" in r.errors[0][3]


def test_an_entry_without_a_timestamp_is_a_no_timestamp_reject():
    res = EntryParser("jsonl").parse(b'{"msg": "no time"}\n{"ts": 1795813747, "msg": "timed"}\n')
    assert res.batch.rejects.error_code == ["no_timestamp"]
    assert res.batch.rejects.byte_offset == [0]
    assert res.batch.events.message == ["timed"] and res.batch.events.ts_source == ["line"]


def test_the_receive_time_stands_in_when_the_intake_says_so():
    res = EntryParser("jsonl").parse(b'{"msg": "no time"}\n{"ts": 1795813747, "msg": "timed"}\n',
                                     received_at=1795813800.5)
    e = res.batch.events
    assert len(res.batch.rejects) == 0
    assert e.ts_us == [1795813800500000, 1795813747000000]
    assert e.ts_source == ["received", "line"]


def test_time_previous_and_time_received_directives(tmp_path: Path):
    (tmp_path / "prev.lark").write_text(
        "// format: prev\n// time: previous\n// sample: 2026-11-27T21:09:05Z a\n"
        "%import common (ISO_TIMESTAMP, REST, SP)\nstart: (ISO_TIMESTAMP | NOTIME) REST\nNOTIME: \"-\"\n%ignore SP\n")
    reg = FormatRegistry([tmp_path])
    res = EntryParser("prev", registry=reg).parse(b"- first, no time\n2026-11-27T21:09:05Z a\n- b\n")
    assert res.batch.rejects.error_code == ["no_timestamp"]  # nothing above it to stand in
    assert res.batch.events.ts_source == ["line", "previous"]
    assert res.batch.events.ts_us[0] == res.batch.events.ts_us[1]


def test_future_dated_entries_are_counted_against_the_reference():
    day = 86400
    lines = b"".join(b'{"ts": %d, "msg": "m"}\n' % t for t in (1795813747, 1795813747 + day + 5, 1795813747 + 3 * day))
    assert EntryParser("jsonl", mtime=1795813747.0).parse(lines).future == 2
    assert EntryParser("jsonl").parse(lines, received_at=1795813747.0 + day).future == 1
