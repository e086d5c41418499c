"""Typed values, quoting and levels: the small conversions every format shares."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship.parser.levels import normalize_level, syslog_severity_level
from logship.parser.values import base_type, convert, convert_pair, loose_unquote, unquote
from tests.hypothesis_profiles import examples


@pytest.mark.parametrize("type_, text, want", [
    ("SIZE", "512B", (512, "bytes")),
    ("SIZE", "4.7GB", (4700000000, "bytes")),
    ("SIZE", "210.3MiB", (210.3 * 2**20, "bytes")),
    ("SIZE", "1TiB", (2**40, "bytes")),
    ("SIZE", "-2KB", (-2000, "bytes")),
    ("DURATION", "750ms", (0.75, "seconds")),
    ("DURATION", "1.5s", (1.5, "seconds")),
    ("DURATION", "2m", (120.0, "seconds")),
    ("DURATION", "1h", (3600.0, "seconds")),
    ("DURATION", "350us", (0.00035, "seconds")),
    ("DURATION", "5ns", (5e-09, "seconds")),
    ("PERCENT", "12.5%", (12.5, "percent")),
    ("PERCENT", "-3%", (-3.0, "percent")),
    ("FLOAT", "1e-05", (1e-05, None)),
    ("INT", "-17", (-17, None)),
    ("BOOL", "false", (False, None)),
    ("QUOTED", '"a \\"b\\" \\u00e9\\n"', ('a "b" é\n', None)),
    ("BARE", "v1.4", ("v1.4", None)),
    ("MYOWN", "kept", ("kept", None)),
])
def test_convert(type_, text, want):
    assert convert(type_, text) == want


def test_convert_pair_and_namespaces():
    assert base_type("common__PAIR_SIZE") == "PAIR_SIZE"
    assert convert_pair("common__PAIR_SIZE", "rss=12MiB") == ("rss", 12582912, "bytes", True)
    assert convert_pair("PAIR_QUOTED", 'msg="a=b"') == ("msg", "a=b", None, False)
    assert convert_pair("PAIR_TEXT", "path=/a?b=c") == ("path", "/a?b=c", None, False)
    assert convert_pair("PAIR_SD", 'note="x \\] y"') == ("note", "x ] y", None, False)


def test_unquote_refuses_lone_surrogates_and_bad_escapes():
    with pytest.raises(ValueError, match="lone surrogate"):
        unquote('"\\ud800"')
    with pytest.raises(ValueError):
        unquote('"\\q"')
    assert unquote('"\\ud83d\\ude00"') == "\U0001F600"  # a surrogate pair is one character


@pytest.mark.parametrize("text, want", [
    ('"plain"', "plain"),
    ('"nginx \\x22quoted\\x22"', 'nginx "quoted"'),
    ('"apache \\"quoted\\""', 'apache "quoted"'),
    ('"back\\\\slash"', "back\\slash"),
    ('"rfc5424 \\] bracket"', "rfc5424 ] bracket"),
    ('"unknown \\q stays"', "unknown \\q stays"),
    ("-", "-"),
])
def test_loose_unquote(text, want):
    assert loose_unquote(text) == want


@pytest.mark.parametrize("word, want", [
    ("info", "INFO"), ("Warning", "WARN"), ("err", "ERROR"), ("CRIT", "FATAL"), ("notice", "INFO"),
    ("dbg", "DEBUG"), ("trace", "TRACE"), ("emerg", "FATAL"), ("custom", "CUSTOM"), (None, None),
])
def test_levels(word, want):
    assert normalize_level(word) == want


def test_level_map_and_syslog_severity():
    assert normalize_level("note", {"NOTE": "INFO"}) == "INFO"
    assert syslog_severity_level(13) == ("INFO", "user", 5)
    assert syslog_severity_level(34) == ("FATAL", "auth", 2)
    assert syslog_severity_level(191) == ("DEBUG", "local7", 7)


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(["PAIR_SIZE", "common__PAIR_DURATION", "PAIR_PERCENT", "PAIR_FLOAT", "PAIR_INT",
                        "PAIR_BOOL", "PAIR_QUOTED", "PAIR_BARE", "PAIR_SD", "PAIR_MYOWN"]),
       st.text(alphabet="ab=0123456789.-eE%MiBKms\"\\u ", max_size=12))
def test_convert_pair_answers_are_kept_only_when_they_are_the_same(terminal, text):
    """convert_pair keeps its answers by terminal and text: warm or cold, the answer
    (or the error, never kept) is the uncached one's, with the same types (1 is not 1.0 nor True)."""
    from logship.parser import values as V

    V._PAIRS.clear()
    for _ in range(2):
        try:
            want = V._convert_pair(terminal, text)
        except Exception as exc:  # noqa: BLE001 - texts a grammar would not give fail in their own ways
            with pytest.raises(type(exc)) as got:
                convert_pair(terminal, text)
            assert str(got.value) == str(exc)
        else:
            got = convert_pair(terminal, text)
            assert got == want and [type(x) for x in got] == [type(x) for x in want]
