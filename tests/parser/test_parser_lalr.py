"""FastLALR (the tight loop over Lark's tables) must agree with Lark's own parser and
inline transformer on every line: same accept/reject decision, same tokens."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.hypothesis_profiles import examples
from tests.parser.mutations import mutate
from lark.exceptions import UnexpectedInput

from bench.gen_client import client_lines
from logship.parser import list_formats
from logship.parser.grammar import compile_lark
from logship.parser.lalr import FastLALR, FlatTransformer, _Fail, flat


def lark_formats():
    return [f for f in list_formats() if f.lark() is not None]


def outcome(fn, line):
    """("ok", tokens) or ("error",): the fast loop's own decision, without its fallback."""
    try:
        return ("ok", [tuple(t) for t in fn(line)])
    except (UnexpectedInput, _Fail, KeyError):
        return ("error",)


@pytest.mark.parametrize("fmt", lark_formats(), ids=lambda f: f.name)
def test_fast_loop_agrees_with_lark_on_samples_and_mutations(fmt):
    lark = compile_lark(fmt.spec, FlatTransformer())
    fast = FastLALR(lark)
    rnd = random.Random(7)
    lines = list(fmt.samples) + list(fmt.spec.sample_rejects)
    if fmt.name == "client":
        lines += client_lines(300, seed=3).decode().splitlines()
    checked = accepted = 0
    for line in lines:
        for candidate in [line] + [mutate(line, rnd) for _ in range(20)]:
            a, b = outcome(fast._parse, candidate), outcome(lambda s: flat(lark.parse(s)), candidate)
            assert a == b, candidate
            checked += 1
            accepted += a[0] == "ok"
    assert checked >= 21 * len(lines)
    assert 0 < accepted < checked


@settings(max_examples=examples(300), deadline=None)
@given(st.text(alphabet=st.sampled_from(list('0123456789-T:.+Z INFOWARsesion=abcdefmtrvk"%\\')), max_size=80))
def test_fast_loop_agrees_with_lark_on_noise(text):
    fmt = [f for f in lark_formats() if f.name == "client"][0]
    lark = compile_lark(fmt.spec, FlatTransformer())
    fast = FastLALR(lark)
    assert outcome(fast._parse, text) == outcome(lambda s: flat(lark.parse(s)), text)


SHAPES = """\
// format: shapes
// sample: a 1 2 ; x
%import common (INT, SP, REST)
start: head pair* tail?
head: WORD
?pair: INT INT -> two
     | INT
     | "(" INT ")"
?tail: ";" REST
WORD: /[a-z]+/
%ignore SP
"""


def test_fast_loop_agrees_on_aliases_inlined_and_question_rules(tmp_path):
    from logship.parser import FormatRegistry

    (tmp_path / "shapes.lark").write_text(SHAPES)
    fmt = FormatRegistry([tmp_path]).get("shapes")
    lark = compile_lark(fmt.spec, FlatTransformer())
    fast = FastLALR(lark)
    for line in ["a", "a 1", "a 1 2", "a (3) 4 5 6", "a ( 3 ) 4 5 6", "a 1 2 ; rest of it", "a ; x", "a 1 (", "1", "a (1 2)"]:
        assert outcome(fast._parse, line) == outcome(lambda s: flat(lark.parse(s)), line), line
    assert [t[0] for t in fast.parse("a ( 3 ) 1 2 ; r")] == ["RULE", "WORD", "INT", "INT", "INT", "REST"]
