"""The shipped grammars' quoted fields are written unrolled for speed; this checks they
still match exactly what the per-character alternation they replaced matched."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from logship.parser.grammar import builtin_grammar_dir
from tests.hypothesis_profiles import examples

_OLD = {"QUOTED_FIELD": r'"(?:[^"\\]|\\.)*"', "PAIR_SD": r'[^\s=\]"]+="(?:[^"\\]|\\.)*"'}


def _pattern(grammar: str, terminal: str) -> str:
    text = (builtin_grammar_dir() / grammar).read_text()
    return re.search(rf"^{terminal}: /(.*)/$", text, re.M).group(1)  # type: ignore[union-attr]


PAIRS = [(re.compile(_pattern("common.lark", "QUOTED_FIELD")), re.compile(_OLD["QUOTED_FIELD"])),
         (re.compile(_pattern("syslog5424.lark", "PAIR_SD")), re.compile(_OLD["PAIR_SD"]))]


@settings(max_examples=examples(400), deadline=None)
@given(st.text(alphabet='"\\ ax\n]=\t', max_size=24))
def test_unrolled_quoted_patterns_match_what_the_alternations_matched(text):
    """At every start, the same match (or none) as `"(?:[^"\\\\]|\\\\.)*"`: the same
    tokens for Lark and for the compiled path."""
    for new, old in PAIRS:
        assert new.pattern != old.pattern
        for start in range(len(text) + 1):
            a, b = new.match(text, start), old.match(text, start)
            assert (a and a.group()) == (b and b.group()), (new.pattern, text, start)
