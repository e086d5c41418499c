"""User grammars: one .lark file, no Python, in a --grammar-dir; `grammar check`
against its own samples; named Python transformers; bad grammars are named errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from logship.parser import EntryParser, FormatRegistry, GrammarError, detect_format
from logship.parser.batch import ParsedBatch
from logship.parser.check import CheckError, check_grammar

MYAPP = """\
// myapp.lark: a service's log, described only by terminal names.
//
// format: myapp
// description: myapp service log
// continuation: indent
// detect_priority: 95
// event: myapp.log
// metric_prefix: myapp
// unit latency: seconds
// level_map: NOTE=INFO
//
// sample: 2026-11-27 21:09:05.123 [worker-3] NOTE job.done latency=0.250 items=17 size=1.5MiB -- finished batch 7
// sample: 2026-11-27 21:09:06.000 [main] ERROR job.failed latency=- -- giving up
// sample_reject: 2026-11-27 21:09:05.123 worker-3 INFO job.done

%import common (ISO_TIMESTAMP, KEY, MESSAGE_TAIL, SP, _pair)
start: ISO_TIMESTAMP _LB ATTR_THREAD _RB LEVEL EVENT (METRIC_LATENCY | _pair)* MESSAGE_TAIL?
LEVEL: /NOTE|INFO|WARN|ERROR/
EVENT: /[a-z]+\\.[a-z_]+/
ATTR_THREAD: /[\\w-]+/
METRIC_LATENCY.4: "latency=" /(?:[0-9.]+|-)/
_LB: "["
_RB: "]"
%ignore SP
"""


@pytest.fixture
def grammar_dir(tmp_path: Path) -> Path:
    d = tmp_path / "grammars"
    d.mkdir()
    (d / "myapp.lark").write_text(MYAPP)
    return d


def test_user_grammar_without_python(grammar_dir: Path):
    reg = FormatRegistry([grammar_dir])
    assert [f.name for f in reg.formats()][:2] == ["client", "myapp"]
    data = (b"2026-11-27 21:09:05.123 [worker-3] NOTE job.done latency=0.250 items=17 size=1.5MiB -- finished\n"
            b"    detail line\n"
            b"2026-11-27 21:09:06.000 [main] ERROR job.failed latency=- -- giving up\n")
    res = EntryParser("myapp", tz="UTC", registry=reg).parse(data)
    e, m = res.batch.events, res.batch.metrics
    assert (res.lines, res.entries, len(res.batch.rejects)) == (3, 2, 0)
    assert e.name == ["job.done", "job.failed"]
    assert e.level == ["INFO", "ERROR"]
    assert e.message == ["finished\n    detail line", "giving up"]
    assert json.loads(e.attrs[0]) == {"thread": "worker-3", "items": 17, "size": 1572864}
    assert (m.name, m.value, m.unit) == (["myapp.latency"], [0.25], ["seconds"])
    assert e.ts_us[0] == 1795813745123000


def test_user_grammar_metric_terminal_value_is_stripped_of_its_key(grammar_dir: Path):
    # METRIC_LATENCY matched `latency=0.250`: the value is what follows the `=`
    reg = FormatRegistry([grammar_dir])
    res = EntryParser("myapp", registry=reg).parse(
        b"2026-11-27 21:09:05.123 [w] INFO a.b latency=1.5\n")
    assert res.batch.metrics.value == [1.5]


def test_detection_sees_user_grammars(grammar_dir: Path):
    reg = FormatRegistry([grammar_dir])
    lines = [b"2026-11-27 21:09:05.123 [worker-3] INFO job.done items=1"] * 5
    assert detect_format(lines, registry=reg) == ("myapp", 1.0)


def test_load_user_grammars_reaches_get_format(grammar_dir: Path):
    from logship.parser import get_format, load_user_grammars
    from logship.parser import formats as formats_mod

    saved = formats_mod._default
    try:
        formats_mod._default = None
        load_user_grammars([grammar_dir])
        assert get_format("myapp").name == "myapp"
        assert EntryParser("myapp").format.name == "myapp"
    finally:
        formats_mod._default = saved


def test_a_format_object_travels_to_workers(grammar_dir: Path):
    fmt = FormatRegistry([grammar_dir]).get("myapp")
    again = pickle.loads(pickle.dumps(fmt))
    res = EntryParser(again, tz="UTC").parse(b"2026-11-27 21:09:05.123 [w] INFO a.b\n")
    assert res.batch.events.name == ["a.b"]


def test_user_grammar_overrides_a_shipped_one(tmp_path: Path):
    (tmp_path / "logfmt.lark").write_text(
        "// format: logfmt\n// time: received\n// sample: hello\n%import common (REST)\nstart: REST\n")
    reg = FormatRegistry([tmp_path])
    assert reg.get("logfmt").path == tmp_path / "logfmt.lark"
    assert EntryParser("logfmt", registry=reg).parse(b"hello world\n").batch.events.message == ["hello world"]


def test_grammar_check_passes_on_its_samples(grammar_dir: Path):
    r = check_grammar(grammar_dir / "myapp.lark")
    assert (r.name, r.samples, r.sample_rejects, r.failures, r.ok) == ("myapp", 2, 1, [], True)


def test_grammar_check_reports_failing_samples(tmp_path: Path):
    bad = MYAPP.replace("// sample_reject: 2026-11-27 21:09:05.123 worker-3 INFO job.done",
                        "// sample_reject: 2026-11-27 21:09:05.123 [w] INFO job.done\n"
                        "// sample: 2026-11-27 21:09:05.123 [w] DEBUG job.done")
    (tmp_path / "bad.lark").write_text(bad)
    r = check_grammar(tmp_path / "bad.lark")
    assert not r.ok
    assert len(r.failures) == 2
    assert r.failures[0].startswith("sample does not parse: '2026-11-27 21:09:05.123 [w] DEBUG job.done'")
    assert "bad_level" not in r.failures[0] or "field level" in r.failures[0]
    assert r.failures[1].startswith("sample_reject parses but should not")


@pytest.mark.parametrize("text, message", [
    ("// format: x\nstart: REST\n", "has no `// sample:` line"),
    ("// format: x\n// sample: a\n// colour: red\nstart: A\nA: \"a\"\n", "unknown directive 'colour'"),
    ("// format: x\n// sample: a\n// continuation: sometimes\nstart: A\nA: \"a\"\n", "continuation must be"),
    ("// format: x\n// sample: a\nstart: UNDEFINED\n", "grammar does not load"),
    ("// format: X-Y\n// sample: a\n", "must be lower-case"),
    ("// format: x\n// sample: a\n// unit t: furlongs\nstart: A\nA: \"a\"\n", "unknown directive 'unit t"),
    ("// format: x\n// sample: a\n// transformer: nowhere.module:Thing\nstart: A\nA: \"a\"\n", "cannot be imported"),
])
def test_bad_grammars_are_named_errors(tmp_path: Path, text: str, message: str):
    (tmp_path / "x.lark").write_text(text)
    with pytest.raises(GrammarError, match=message):
        check_grammar(tmp_path / "x.lark")


def test_grammar_check_of_a_missing_file(tmp_path: Path):
    with pytest.raises(CheckError, match="no such grammar file"):
        check_grammar(tmp_path / "none.lark")


def test_a_library_grammar_is_not_a_format(tmp_path: Path):
    (tmp_path / "lib.lark").write_text("// shared rules\nX: \"x\"\n")
    assert "lib" not in FormatRegistry([tmp_path])
    with pytest.raises(GrammarError, match="not a format"):
        check_grammar(tmp_path / "lib.lark")


def test_missing_grammar_dir_is_an_error(tmp_path: Path):
    with pytest.raises(GrammarError, match="does not exist"):
        FormatRegistry([tmp_path / "nope"])


class ShoutingHandler:
    """A named Python transformer (`transformer: tests.parser.test_grammar:ShoutingHandler`)."""

    transformer_class = None

    def __init__(self, spec: Any, lark: Any, tz: Any, mtime: Any, context: Any, path: Any = None) -> None:
        self.seen = 0

    def context(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch, offset: int):
        self.seen += 1
        if head == "boom":
            batch.events.name.append("half a row")  # then fails: the parser must realign
            raise RuntimeError("kaboom")
        if not head.isupper():
            return "not_shouting", f"column 1, field text: {head[:10]!r} is not upper case"
        e = batch.events
        for col, v in (("ts_us", None), ("session_id", None), ("level", "INFO"), ("name", "shout"),
                       ("message", head), ("attrs", None), ("byte_offset", offset)):
            getattr(e, col).append(v)
        return None


def test_named_python_transformer(tmp_path: Path):
    (tmp_path / "shout.lark").write_text(
        "// format: shout\n// time: received\n// transformer: tests.parser.test_grammar:ShoutingHandler\n// sample: HELLO\n"
        "// sample_reject: hello\n")
    reg = FormatRegistry([tmp_path])
    res = EntryParser("shout", registry=reg).parse(b"HEY\nquiet\nboom\nYOU\n")
    e = res.batch.events
    assert e.message == ["HEY", "YOU"]
    assert res.batch.rejects.error_code == ["not_shouting", "transformer_error"]
    assert "RuntimeError: kaboom" in res.batch.rejects.error[1]
    assert len(e.name) == len(e.byte_offset) == 2  # the half row was dropped
    assert res.context == {"seen": 4}
    assert check_grammar(tmp_path / "shout.lark").ok


def test_the_readme_example_grammar_checks_ok(tmp_path: Path):
    readme = (Path(__file__).resolve().parents[2] / "grammars" / "README.md").read_text()
    example = readme.split("```lark\n", 1)[1].split("```", 1)[0]
    (tmp_path / "myapp.lark").write_text(example)
    r = check_grammar(tmp_path / "myapp.lark")
    assert (r.name, r.ok, r.samples, r.sample_rejects) == ("myapp", True, 1, 1)


def test_directives_live_in_the_leading_comment_block(tmp_path: Path):
    (tmp_path / "late.lark").write_text(
        "// format: late\n// sample: x\n\n%import common (REST)\n// note: a comment, not a directive\n"
        "start: REST\n// sample: not a sample either\n")
    fmt = FormatRegistry([tmp_path]).get("late")
    assert fmt.samples == ("x",)


def test_lark_common_names_are_available(tmp_path: Path):
    (tmp_path / "kv.lark").write_text(
        "// format: kv\n// time: received\n// sample: alpha_1 = \"x y\" 42.5\n"
        "%import common (CNAME, ESCAPED_STRING, SIGNED_NUMBER, WS_INLINE)\n"
        "start: NAME _EQ ATTR_TEXT NUM_SIZE\nNAME: CNAME\n_EQ: \"=\"\nATTR_TEXT: ESCAPED_STRING\n"
        "NUM_SIZE: SIGNED_NUMBER\n%ignore WS_INLINE\n")
    assert check_grammar(tmp_path / "kv.lark").ok
    res = EntryParser("kv", registry=FormatRegistry([tmp_path])).parse(b'beta = "q" -3\n')
    assert (res.batch.events.name, json.loads(res.batch.events.attrs[0])) == (["beta"], {"text": "q", "size": -3})


def test_epoch_and_clf_timestamps_in_a_user_grammar(tmp_path: Path):
    (tmp_path / "ep.lark").write_text(
        "// format: ep\n// sample: 1795813745.250 warn disk almost full\n"
        "%import common (EPOCH, LEVEL, REST, SP)\nstart: EPOCH LEVEL REST\n%ignore SP\n")
    reg = FormatRegistry([tmp_path])
    res = EntryParser("ep", registry=reg).parse(
        b"1795813745.250 warn disk almost full\n1795813745250 INFO ms\n1795813745250000 error us\n")
    e = res.batch.events
    assert e.ts_us == [1795813745250000] * 3
    assert e.level == ["WARN", "INFO", "ERROR"]
    assert e.message == ["disk almost full", "ms", "us"]
