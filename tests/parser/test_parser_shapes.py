"""The shape cache of FastLALR (a trie of token-type sequences) must give exactly what
the plain loop `_parse` and Lark give: same decision, same tokens, on every format,
whatever order the shapes are learnt in, and also once the cache is full."""

from __future__ import annotations

import random

import pytest
from lark.exceptions import UnexpectedInput

from bench.gen_client import client_lines
from logship.parser import FormatRegistry, list_formats
from logship.parser import lalr
from logship.parser.grammar import compile_lark
from logship.parser.lalr import FastLALR, FlatTransformer, _Fail, flat
from tests.parser.test_parser_lalr import SHAPES, mutate


def outcome(fn, line):
    try:
        return ("ok", [tuple(t) for t in fn(line)])
    except (UnexpectedInput, _Fail, KeyError):
        return ("error",)


def lark_formats():
    return [f for f in list_formats() if f.lark() is not None]


@pytest.mark.parametrize("fmt", lark_formats(), ids=lambda f: f.name)
def test_shape_cache_agrees_with_plain_loop_and_lark(fmt):
    lark = compile_lark(fmt.spec, FlatTransformer())
    fast = FastLALR(lark)
    rnd = random.Random(11)
    lines = list(fmt.samples) + list(fmt.spec.sample_rejects)
    if fmt.name == "client":
        lines += client_lines(200, seed=5).decode().splitlines()
    checked = 0
    for _ in range(2):  # the second pass hits the shapes the first pass learnt
        for line in lines:
            for candidate in [line] + [mutate(line, rnd) for _ in range(10)]:
                plain = outcome(fast._parse, candidate)
                assert outcome(fast._parse_shapes, candidate) == plain, candidate
                assert outcome(lambda s: flat(lark.parse(s)), candidate) == plain, candidate
                checked += 1
    assert checked == 2 * 11 * len(lines)
    assert fast._shapes > 1


def test_shape_cache_with_markers_aliases_and_filtered_tokens(tmp_path):
    (tmp_path / "shapes.lark").write_text(SHAPES)
    fmt = FormatRegistry([tmp_path]).get("shapes")
    lark = compile_lark(fmt.spec, FlatTransformer())
    fast = FastLALR(lark)
    lines = ["a", "a 1", "a 1 2", "a (3) 4 5 6", "a ( 3 ) 4 5 6", "a 1 2 ; rest of it", "a ; x", "a 1 (", "1",
             "a (1 2)", "", " "]
    for line in lines + lines:
        assert outcome(fast._parse_shapes, line) == outcome(lambda s: flat(lark.parse(s)), line), line
    out = fast.parse("a ( 3 ) 1 2 ; r")
    assert [t[0] for t in out] == ["RULE", "WORD", "INT", "INT", "INT", "REST"]
    assert out[0] == ("RULE", "head", 0) and out[-1] == ("REST", "r", 15)


def test_full_shape_cache_falls_back_to_the_plain_loop(monkeypatch):
    fmt = [f for f in lark_formats() if f.name == "client"][0]
    lark = compile_lark(fmt.spec, FlatTransformer())
    fast = FastLALR(lark)
    monkeypatch.setattr(lalr, "MAX_SHAPES", fast._shapes + 3)
    lines = [ln for ln in client_lines(50, seed=9).decode().splitlines() if not ln[:1].isspace()]
    for line in lines:
        assert fast.parse(line) == flat(lark.parse(line))
    assert fast._shapes == lalr.MAX_SHAPES
    with pytest.raises(UnexpectedInput):
        fast.parse(lines[0] + " =")
