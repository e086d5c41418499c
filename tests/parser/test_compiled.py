"""The compiled fast path (parser/compiled.py) against Lark, the reference: on every
shipped format's samples, its sample file, mutations of both, Hypothesis-generated
lines and noise, a line the compiled path accepts gives exactly Lark's tokens, and a
line Lark rejects is never accepted. Then the records: ingesting the sample files with
and without the fast path gives identical batches (records and rejects alike)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from bench.gen_client import client_lines
from logship.parser import EntryParser, FormatRegistry, list_formats
from logship.parser import compiled as compiled_mod
from logship.parser.compiled import compile_status, compiled_for
from logship.parser.grammar import compile_lark
from logship.parser.lalr import FlatTransformer, flat
from tests.hypothesis_profiles import examples
from tests.parser.mutations import mutate as near_miss

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# formats the compiler leaves on the LALR path, and why (a change here is a decision)
NOT_COMPILED: dict[str, str] = {}


def lark_formats():
    return [f for f in list_formats() if f.lark() is not None]


def sample_lines(fmt) -> list[str]:
    lines = list(fmt.samples) + list(fmt.spec.sample_rejects)
    for p in sorted(SAMPLES.glob(f"{fmt.name}*")):
        if p.suffix != ".gz":
            lines += p.read_text(encoding="utf-8", errors="replace").splitlines()[:200]
    if fmt.name == "client":
        lines += client_lines(200, seed=3).decode().splitlines()
    return lines


def reference(lark, line: str):
    try:
        return [tuple(t) for t in flat(lark.parse(line))]
    except UnexpectedInput:
        return None


def check(compiled, lark, line: str) -> bool:
    """True when the compiled path decided the line (and then it must agree with Lark).
    `split` (the repetition's tokens apart, through the word cache) must agree too."""
    got = compiled.parse(line)
    split = compiled.split(line)
    if split is not None:
        lead, head_types, head, pairs, tail_types, tail = split
        joined = ([("RULE", n) for n in lead] + list(zip(head_types, head)) + list(pairs)
                  + list(zip(tail_types, tail)))
        want = reference(lark, line)
        assert want is not None and joined == [t[:2] for t in want], line
    if got is None:
        return False
    assert [tuple(t) for t in got] == reference(lark, line), line
    return True


def mutate(line: str, rnd: random.Random) -> str:
    """Near misses with the brackets and angles of access and syslog lines too."""
    return near_miss(line, rnd, inserts=' =%."\\-:[]<>aZ09\tB', replaces=' =%."x]')


def compiled_of(fmt):
    lark = compile_lark(fmt.spec, FlatTransformer())
    compiled, why = compiled_for(lark)
    return lark, compiled, why


@pytest.mark.parametrize("fmt", lark_formats(), ids=lambda f: f.name)
def test_compiled_agrees_with_lark_on_samples_and_mutations(fmt):
    lark, compiled, why = compiled_of(fmt)
    if fmt.name in NOT_COMPILED:
        assert compiled is None and NOT_COMPILED[fmt.name] in why
        return
    assert compiled is not None, why
    rnd = random.Random(11)
    lines = sample_lines(fmt)
    decided = valid = 0
    for line in lines:
        ok = reference(lark, line) is not None
        valid += ok
        # every line Lark accepts from the samples is decided by the fast path
        assert check(compiled, lark, line) == ok, line
        decided += ok
        for _ in range(10):
            check(compiled, lark, mutate(line, rnd))
    assert valid == decided > 0


@pytest.mark.parametrize("fmt", [f for f in lark_formats() if f.name not in NOT_COMPILED], ids=lambda f: f.name)
def test_compiled_agrees_with_lark_on_generated_lines(fmt):
    """Hypothesis splices characters of the format's own lines into its samples."""
    lark, compiled, _ = compiled_of(fmt)
    lines = sample_lines(fmt)
    alphabet = sorted(set("".join(lines)) | set(' =%"\\-:[]<>\t'))

    @settings(max_examples=examples(60), deadline=None)
    @given(st.sampled_from(lines), st.lists(st.tuples(st.integers(0, 200), st.sampled_from(alphabet),
                                                        st.booleans()), max_size=4))
    def run(line, edits):
        chars = list(line)
        for i, ch, insert in edits:
            i = min(i, len(chars))
            if insert or i == len(chars):
                chars.insert(i, ch)
            else:
                chars[i] = ch
        check(compiled, lark, "".join(chars))

    run()


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from([f.name for f in lark_formats() if f.name not in NOT_COMPILED]),
       st.text(alphabet=st.sampled_from(list('0123456789-T:.+Z INFOWARsesion=abcdefmtrvk"%\\[]<>/')), max_size=80))
def test_compiled_agrees_with_lark_on_noise(name, text):
    fmt = next(f for f in lark_formats() if f.name == name)
    lark, compiled, _ = compiled_of(fmt)
    check(compiled, lark, text)


def batches(fmt, data: bytes) -> tuple:
    res = EntryParser(fmt, tz="UTC", mtime=1_795_000_000.0, path=f"{fmt.name}.log").parse(data, received_at=1_795_000_100.0)
    b = res.batch
    return (b.metrics.columns(), b.events.columns(), b.rejects.columns(), res.entries)


@pytest.mark.parametrize("fmt", lark_formats(), ids=lambda f: f.name)
def test_records_are_the_same_with_and_without_the_fast_path(fmt, monkeypatch):
    data = b"\n".join(line.encode() for line in sample_lines(fmt)) + b"\n"
    rnd = random.Random(5)
    data += b"\n".join(mutate(line, rnd).encode() for line in sample_lines(fmt)[:100]) + b"\n"
    compiled_for(fmt.lark())  # built now, not after WARM_LINES lines: every line on the fast path
    fast = batches(fmt, data)
    # LALR alone: no grammar counts as built (handlers ask `is_built`, bound at import),
    # and none gets built
    monkeypatch.setattr(compiled_mod, "_COMPILED", {})
    monkeypatch.setenv("LOGSHIP_FAST_PATH", "0")
    slow = batches(fmt, data)
    assert fast == slow
    assert fast[3] > 0


SHAPES = """\
// format: shapes
// sample: a 1 2 ; x
%import common (INT, SP, REST)
start: head pair* tail?
head: WORD
?pair: INT INT -> two
     | INT
     | "(" INT ")"
     | "null"
     | BARE
?tail: ";" REST
WORD: /[a-z]+/
BARE: /[a-z]+[0-9]*/
%ignore SP
"""


def test_user_grammar_gets_a_fast_path_with_aliases_keywords_and_markers(tmp_path):
    """No work by the grammar's author: aliases, inlined and `?` rules, a keyword that
    Lark reads through a looser terminal (`null` inside BARE) -- all as Lark has them."""
    (tmp_path / "shapes.lark").write_text(SHAPES)
    fmt = FormatRegistry([tmp_path]).get("shapes")
    lark, compiled, why = compiled_of(fmt)
    assert compiled is not None, why
    assert compile_status(fmt.lark()) == "compiled"
    lines = ["a", "a 1", "a 1 2", "a (3) 4 5 6", "a ( 3 ) 4 5 6", "a 1 2 ; rest of it", "a ; x", "a 1 (",
             "1", "a (1 2)", "a null", "a nullx 1", "a x1 null 2 3", "a  null  ;  r"]
    for line in lines:
        check(compiled, lark, line)
    assert [t[0] for t in compiled.parse("a ( 3 ) 1 2 ; r")] == ["RULE", "WORD", "INT", "INT", "INT", "REST"]
    assert compiled.parse("a nullx 1") is not None
    # a token whose text is the keyword: Lark retypes it; the fast path leaves such lines to Lark
    assert compiled.parse("a null") is None and reference(lark, "a null") is not None


def test_the_fast_path_is_built_only_after_warm_lines(tmp_path):
    """Detection's samples stay on the LALR path (building costs more than parsing
    them); the WARM_LINES-th line builds the compiled path, and every line parses the
    same before and after."""
    (tmp_path / "shapes.lark").write_text(SHAPES)
    lark = FormatRegistry([tmp_path]).get("shapes").lark()
    parse = compiled_mod.fast_parser(lark)
    lines = ["a 1 2 ; rest", "a ( 3 ) 1 2 ; r", "a null", "a nullx 1"] * (compiled_mod.WARM_LINES // 4 + 2)
    before = [[tuple(t) for t in parse(line)] for line in lines[:compiled_mod.WARM_LINES - 1]]
    assert not compiled_mod.is_built(lark)
    after = [[tuple(t) for t in parse(line)] for line in lines[compiled_mod.WARM_LINES - 1:]]
    assert compiled_mod.is_built(lark) and compiled_for(lark)[0] is not None
    assert before + after == [reference(lark, line) for line in lines]
    # a parser made once it is built uses it at once
    assert [tuple(t) for t in compiled_mod.fast_parser(lark)("a 1 2")] == reference(lark, "a 1 2")


def test_a_recursive_grammar_runs_on_lalr_alone_and_says_why(tmp_path):
    (tmp_path / "nest.lark").write_text(
        '// format: nest\n// sample: (a)\n%import common (SP)\nstart: item\n'
        'item: "(" item ")" | WORD\nWORD: /[a-z]+/\n%ignore SP\n')
    fmt = FormatRegistry([tmp_path]).get("nest")
    assert compile_status(fmt.lark()).startswith("lalr (rule item is recursive")
    res = EntryParser(fmt).parse(b"((a))\n(b\n")
    assert res.batch.rejects.error_code == ["no_timestamp", "bad_field"]
    assert res.batch.rejects.error[1] == 'column 3, field (b: expected ")", got end of line'


WORDS = """\
// format: words
// sample: h ab cd
%import common (SP)
start: HEAD item+ TAIL?
?item: NEAR | FAR | QUOTE
HEAD: /h/
NEAR.3: /[a-z]+(?= )/
FAR.2: /[a-z]+(?=\\s|$)/
QUOTE: /'[^']*'/
TAIL: /--.*/
%ignore SP
"""


def test_the_word_cache_keeps_only_words_that_decide_alone(tmp_path):
    """A token whose type depends on what follows its word (NEAR: a space must follow,
    not the end) or that may run past its word (QUOTE) is never cached by its word:
    the same word in another place gives Lark's tokens there."""
    (tmp_path / "words.lark").write_text(WORDS)
    fmt = FormatRegistry([tmp_path]).get("words")
    lark, compiled, why = compiled_of(fmt)
    assert compiled is not None, why
    lines = ["h ab cd", "h cd ab", "h ab cd ab", "h 'x y' ab", "h 'x' 'x y'", "h ab --", "h ab  -- t", "h ab\tcd",
             "h 'x y", "h ab cd ", "h cd ab"]
    decided = 0
    for _ in range(2):  # the second time through a warm cache
        for line in lines:
            check(compiled, lark, line)
            decided += compiled.split(line) is not None
    assert decided == 14
    body = next(b for _, _, p in compiled._root.leaves.values() if p for b, _, _ in p)
    cache = body.words[2]
    # NEAR outranks FAR and is not local, QUOTE may run past its word: only a word no
    # alternative can start is cached ("--", where the repetition ends; "\tcd", where
    # `parse` goes on after FAR's "ab", the token of the word "ab\tcd")
    assert cache == {b"--": compiled_mod._FAIL, b"\tcd": compiled_mod._FAIL}  # keys: UTF-8, digits as 0


DIGITS = """\
// format: digits
// sample: h 1a 2a
%import common (SP)
start: HEAD item+
?item: ONE | OTHER
HEAD: /h/
ONE.2: /1[a-z]*(?=\\s|$)/
OTHER: /[0-9][a-z]*/
%ignore SP
"""


def test_the_word_cache_keys_by_digit_shape_only_where_digits_are_alike(tmp_path):
    """ONE tells the digit 1 from the others: words differing only in their digits may
    differ in type, so the cache keys by the word itself here (keyed by its shape, `2a`
    would be taken for the `1a` seen before)."""
    (tmp_path / "digits.lark").write_text(DIGITS)
    lark, compiled, why = compiled_of(FormatRegistry([tmp_path]).get("digits"))
    assert compiled is not None, why
    for line in ["h 1a 2a", "h 2a 1a", "h 1 2", "h 2 1", "h 3b 1b"]:
        assert check(compiled, lark, line) and compiled.split(line) is not None, line
    body = next(b for _, _, p in compiled._root.leaves.values() if p for b, _, _ in p)
    index, rules, cache, uniform, _ = body.words
    assert not uniform and cache == {"1a": "ONE", "2a": "OTHER", "1": "ONE", "2": "OTHER", "3b": "OTHER",
                                     "1b": "ONE"}


def test_no_whitespace_above_the_last_space_the_word_cache_knows():
    """_local's whitespace table stops at LAST_SPACE (a full scan costs a worker 70 ms)."""
    import sys

    assert not [c for c in range(compiled_mod.LAST_SPACE + 1, sys.maxunicode + 1) if chr(c).isspace()]
    assert compiled_mod._whitespace() == frozenset(ch for ch in map(chr, range(sys.maxunicode + 1)) if ch.isspace())


def _word_bodies(compiled):
    """The word-cached repetitions of a compiled line (after its first segment, and
    after the segment that follows such a repetition)."""
    bodies = [b for _, _, p in compiled._root.leaves.values() if p for b, _, after in p]
    bodies += [b for _, _, p in compiled._root.leaves.values() if p for _, _, after in p
               for _, _, q in after.leaves.values() if q for b, _, _ in q]
    return [b for b in bodies if b.words is not None]


def test_logfmt_bare_pairs_are_cached_by_their_word():
    """logfmt's quoted pair outranks its bare one and may run past its word, but its
    probe (`_probe`: `key="`, the local start of it) rules it out for a word without
    `="`: bare pairs are cached by their word, a quoted value with spaces is read by the
    regex and the words go on after it; the tokens are Lark's."""
    from bench.formats import logfmt_lines

    fmt = next(f for f in lark_formats() if f.name == "logfmt")
    lark, compiled, why = compiled_of(fmt)
    assert compiled is not None, why
    lines = logfmt_lines(1200).decode().splitlines()
    for line in lines:
        assert check(compiled, lark, line)
    words = _word_bodies(compiled)
    assert words and not any(b.regex_only for b in words)
    cache = {k: v for b in words for k, v in b.words[2].items()}
    assert cache[b"method=GET"] == "PAIR_TEXT" and cache[b"status=000"] == "PAIR_INT"
    assert b'msg="request' not in cache  # not its token's whole text
    for line in lines[:300] + [mutate(line, random.Random(i)) for i, line in enumerate(lines[:300])]:
        check(compiled, lark, line)


def test_a_repetition_whose_words_mostly_miss_reads_them_with_the_regex_alone(tmp_path):
    """NEAR outranks FAR and is not local (a space must follow, not the end): a FAR word
    is never cached. After WORDS_TRIAL words looked up, more than half missed, `parse`
    reads its iterations with the regex alone, and its tokens are still Lark's."""
    (tmp_path / "words.lark").write_text(WORDS)
    lark, compiled, why = compiled_of(FormatRegistry([tmp_path]).get("words"))
    assert compiled is not None, why
    rnd = random.Random(7)
    lines = ["h " + " ".join(rnd.choice(["ab", "cd", "'x y'", "ef"]) for _ in range(rnd.randint(1, 6)))
             + rnd.choice(["", " -- t"]) for _ in range(2000)]
    words = _word_bodies(compiled)
    assert words and not any(b.regex_only for b in words)
    for line in lines:
        assert check(compiled, lark, line)
    assert any(b.regex_only for b in words)
    assert all(b.looked < 2 * compiled_mod.WORDS_TRIAL for b in words if b.regex_only)  # it stopped looking
    for line in lines[:300] + [mutate(line, random.Random(i)) for i, line in enumerate(lines[:300])]:
        check(compiled, lark, line)


FUSED = """\
// format: fused
// sample: <1> [a x=1 y="2 3"][b] rest
start: PRI _SP _sd (_SP MSG)?
_sd: "-" | elem+
?elem: "[" ID (_SP PAIR)* "]" -> element
     | "{" ID (_SP PAIR)* "}"
PRI: /<\\d+>/
ID: /[a-z]+/
PAIR: /[a-z]+=(?:\\d+|"[^"]*")/
MSG: /[^\\[{ ].*/
_SP: " "
"""


def test_a_repetition_and_the_segment_after_it_are_matched_in_one_regex(tmp_path):
    """`_Segment.fuse`: an iteration's one-token repetition and what follows it (`]`)
    in the segment's own regex, its tokens read back from the span: Lark's tokens on
    lines where the repetition is empty, cut short, followed by something else, holds a
    keyword (`null`, which Lark reads through ID), and with a rule marker per element."""
    for text in (FUSED, FUSED.replace("-> element", ""), FUSED.replace("ID (_SP", '(ID | "null") (_SP')):
        (tmp_path / "fused.lark").write_text(text)
        fmt = FormatRegistry([tmp_path]).get("fused")
        lark, compiled, why = compiled_of(fmt)
        assert compiled is not None, why
        segs, fused = [compiled._root], 0
        while segs:
            seg = segs.pop()
            fused += seg.fused
            segs += [s for _, _, p in seg.leaves.values() for b, _, a in p or () for s in (b, a)]
        assert fused == 2
        lines = ['<1> [a x=1 y="2 3"][b] rest', "<1> [a x=1 y=2 ][b]", "<1> [a x=1", "<1> [a x=1]] z",
                 "<1> [null x=1]", "<1> [a null=1]", "<1> -", "<1> - m", "<1> [a][b x=1] m", "<1> {a x=1}[b y=2]",
                 "<1> [a x=1}", "<1> [a  x=1]", "<1> [a x=]", '<1> [a x="1]"] m', "<1> [a x=1 y=2 z=3 w=4]"]
        rnd = random.Random(5)
        decided = 0
        for line in lines:
            decided += check(compiled, lark, line)
            for _ in range(20):
                check(compiled, lark, mutate(line, rnd))
        assert decided >= 8


def test_the_words_after_a_token_read_past_its_word_go_on_from_one_split(tmp_path):
    """`_words`: a token the regex reads past its word (a quoted value with spaces)
    that ends where a word starts is followed by the words of the same split; one that
    ends inside a word, by a new split from there. Lark's tokens either way."""
    (tmp_path / "words.lark").write_text(WORDS)
    fmt = FormatRegistry([tmp_path]).get("words")
    lark, compiled, why = compiled_of(fmt)
    assert compiled is not None, why
    lines = ["h 'x y' ab", "h 'x y'ab cd", "h 'x  y'  ab", "h 'x y' ", "h 'x y'", "h ab 'x y' 'z w' cd",
             "h 'a b c' 'd' e -- t", "h 'x y'  'z'w", "h 'x y' -- t", "h '' ''  ab", "h 'x\ty' ab"]
    rnd = random.Random(2)
    for _ in range(2):
        for line in lines:
            assert check(compiled, lark, line) == (reference(lark, line) is not None), line
            for _ in range(20):
                check(compiled, lark, mutate(line, rnd))
