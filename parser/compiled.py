"""The compiled fast path: a format grammar's line rules as Python regular expressions.

Lark stays the single source of truth. After Lark has loaded a grammar, this module reads
what Lark made of it -- its rules (EBNF already expanded into plain alternatives and
left-recursive helper rules), its LALR parse table and its contextual lexer (per parser
state: the terminals in Lark's order, the ignored terminals, the keyword callbacks) --
and builds `re` patterns that accept a line only where Lark would accept it with the very
same tokens: one pattern from the start of the line to its end or to the start of a
repetition, one per repetition's iteration, one for what follows it.
`CompiledLine.parse(text)` returns the same flat token list as `FastLALR.parse`
(parser/lalr.py), or None: "not decided here", and the caller parses the
line with the LALR path, which accepts it or rejects it with Lark's own error. So a
mistake here can only cost speed, never a record -- provided the regex never accepts a
line differently from Lark; tests/parser/test_compiled.py checks that for every shipped
format on samples, generated lines and noise.

How the regex follows Lark's lexer exactly:

- shapes: the start rule is expanded into linear sequences of terminals (and RULE markers
  for named rules); a left-recursive helper (`X: item | X item`, how Lark writes `item+`)
  becomes a repetition; any other recursion makes the grammar not regular (LALR alone);
- the shapes share prefixes in a trie, so a line is matched once, left to right; where
  several tokens may come next, Lark's lexer picks ONE (the first in its order that
  matches) and never another: an atomic choice of first tokens, then a conditional
  `(?(group)...)` continues with the rest of the one that matched;
- at every place the parser states that can be current are known (each shape is fed
  through Lark's parse table), and with them the contextual lexers there: a terminal X is
  emitted as `(?!H1|H2|...)(?>X)` where the H are the terminals those lexers try before X
  (Lark's order: -priority, -max_width, -len, name; the first match wins, and a chosen
  token is never re-matched: atomic groups);
- ignored terminals (`%ignore SP`) are skipped by a possessive loop guarded the same way
  (a terminal that outranks SP, such as MESSAGE, keeps its leading space);
- keywords: a string terminal that Lark folds into a regex terminal (`"null"` inside
  BARE) is never matched here (such a line goes to Lark); a token of a terminal with such
  a callback whose text is a keyword is handed to Lark too;
- a repetition is matched iteration by iteration (Python keeps only the last capture
  of a repeated group), possessively as Lark's parser never gives a token back; a
  repetition inside a repetition is fine, three deep is left to Lark;
- a guard against a terminal that cannot start with the same character is left out
  (first-character sets from `re._parser`): most of a naive translation's cost;
- `split(text)` gives a handler the line with its repetition's (type, text) tokens
  apart, for the usual space-separated key=value repetition through a cache keyed by
  the word: a regex alternation costs about a microsecond per token in `re`, a dict
  lookup a tenth of it. A word's outcome is cached only where it cannot depend on
  anything but the word (`_Segment.make_words`); every other word is matched by the
  regex in its place, and a token that is not a whole word sends the line to `parse`.
  Where most words miss (their outcome depends on more than the word), `parse` stops
  looking them up and reads the repetition with the regex alone (`WORDS_TRIAL`).
"""

from __future__ import annotations

import functools
import os
import re

try:  # the parser of Python's own `re` (CPython internals): first-character sets only
    import re._constants as _sre_c
    import re._parser as _sre
except ImportError:  # pragma: no cover -- then every guard stays: slower, as exact
    _sre = _sre_c = None  # type: ignore[assignment]
try:  # and its compiler, for the word cache's probes (`_probe`); without it, no probe
    import re._compiler as _sre_compiler
except ImportError:  # pragma: no cover
    _sre_compiler = None  # type: ignore[assignment]
from dataclasses import dataclass, field
from itertools import count, product
from typing import Any, Callable, Iterator

from lark import Lark
from lark.lexer import ContextualLexer
from lark.parsers.lalr_analysis import Shift

from .lalr import RULE, Tok

__all__ = ["CompiledLine", "NotCompilable", "compiled_for", "fast_parser", "compile_status", "is_built"]

MAX_SHAPES = 512  # linear shapes of one grammar (after expanding alternatives)
MAX_CONFIGS = 2_000  # parser stacks explored per repetition


class NotCompilable(Exception):
    """The grammar (or a part of it) cannot be reproduced exactly by a regular expression."""


# -- shapes ---------------------------------------------------------------------------
# An item is ("T", terminal), ("M", rule marker name) or ("R", body) where body is a
# tuple of shapes (one iteration each); a shape is a tuple of items.

Item = tuple[Any, ...]
Shape = tuple[Item, ...]


def _marker(rule: Any) -> str | None:
    name = str(rule.alias or rule.origin.name)
    if name.startswith("_") or rule.options.expand1 or name == "start":
        return None
    return name


class _Shapes:
    def __init__(self, lark: Lark) -> None:
        self.by_origin: dict[str, list[Any]] = {}
        for r in lark.rules:
            self.by_origin.setdefault(str(r.origin.name), []).append(r)
        self._memo: dict[str, list[Shape]] = {}

    def of_symbol(self, sym: Any, active: tuple[str, ...]) -> list[Shape]:
        if sym.is_term:
            return [(("T", str(sym.name)),)]
        return self.of_rule(str(sym.name), active)

    def of_seq(self, syms: list[Any], active: tuple[str, ...]) -> list[Shape]:
        parts = [self.of_symbol(s, active) for s in syms]
        out: list[Shape] = []
        for combo in product(*parts):
            out.append(tuple(i for part in combo for i in part))
            if len(out) > MAX_SHAPES:
                raise NotCompilable(f"more than {MAX_SHAPES} line shapes")
        return out

    def of_rule(self, name: str, active: tuple[str, ...]) -> list[Shape]:
        if name in self._memo:
            return self._memo[name]
        if name in active:
            raise NotCompilable(f"rule {name} is recursive")
        rules = self.by_origin.get(name)
        if not rules:
            raise NotCompilable(f"rule {name} has no expansion")
        active = active + (name,)
        base = [r for r in rules if not (r.expansion and not r.expansion[0].is_term
                                           and str(r.expansion[0].name) == name)]
        rec = [r for r in rules if r not in base]
        out: list[Shape] = []
        if rec:  # X: b | X t  ==  b t*  (how Lark writes `t+` and `t*`)
            if any(_marker(r) for r in rules):
                raise NotCompilable(f"rule {name}: a named repetition")
            for r in rules:
                syms = r.expansion[1:] if r in rec else r.expansion
                if any(not s.is_term and str(s.name) == name for s in syms):
                    raise NotCompilable(f"rule {name} is recursive")
            heads = [s for r in base for s in self.of_seq(r.expansion, active)]
            tails = tuple(s for r in rec for s in self.of_seq(r.expansion[1:], active))
            if any(j[0] == "R" for s in tails for i in s if i[0] == "R" for b in i[1] for j in b):
                raise NotCompilable(f"rule {name}: repetitions nested three deep")
            if sorted(heads) == sorted(tails):
                out = [(("R", tails),)]
            else:
                out = [h + (("R", tails),) for h in heads] + heads
        else:
            for r in rules:
                mark = _marker(r)
                for s in self.of_seq(r.expansion, active):
                    out.append(((("M", mark),) if mark else ()) + s)
        if len(out) > MAX_SHAPES:
            raise NotCompilable(f"more than {MAX_SHAPES} line shapes")
        self._memo[name] = out
        return out


# -- the trie of shapes and the parser states at each of its places -------------------

@dataclass(eq=False)
class _Node:
    states: set[int] = field(default_factory=set)  # parser states before the next item
    children: dict[Item, "_Node"] = field(default_factory=dict)  # keys: ("T", name) / ("R", body)
    bodies: dict[Item, "_Node"] = field(default_factory=dict)  # ("R", body) -> trie of one iteration
    leaves: list[int] = field(default_factory=list)  # shapes ending here


def _tokens_only(shape: Shape) -> Shape:
    return tuple(i for i in shape if i[0] != "M")


class _Table:
    """Lark's LALR parse table as a function from a stack and a terminal to the next stack."""

    def __init__(self, lark: Lark) -> None:
        table = lark.parser.parser.parser.parse_table
        start = lark.options.start[0] if isinstance(lark.options.start, list) else lark.options.start
        self.start = (table.start_states[start],)
        self.end_state = table.end_states[start]
        self.states = table.states

    def feed(self, stack: tuple[int, ...], term: str) -> tuple[int, ...]:
        states = list(stack)
        while True:
            action = self.states[states[-1]].get(term)
            if action is None:
                raise NotCompilable(f"the parse table refuses {term} where the grammar allows it")
            kind, arg = action
            if kind is Shift:
                if term == "$END":
                    raise NotCompilable("unexpected shift at the end")
                states.append(arg)
                return tuple(states)
            size = len(arg.expansion)
            if size:
                del states[-size:]
            states.append(self.states[states[-1]][str(arg.origin.name)][1])
            if term == "$END" and states[-1] == self.end_state:
                return tuple(states)
            if len(states) > 200:
                raise NotCompilable("the parser stack grows without bound")


def _walk(node: _Node, items: Shape, configs: set[tuple[int, ...]], table: _Table,
          leaf: int | None, end: bool = True) -> set[tuple[int, ...]]:
    """Feed `items` from `configs`, recording the states at each trie place."""
    for item in items:
        node.states.update(c[-1] for c in configs)
        child = node.children.setdefault(item, _Node())
        if item[0] == "T":
            configs = {table.feed(c, item[1]) for c in configs}
        else:
            body = node.bodies.setdefault(item, _Node())
            configs = _repeat(body, item[1], configs, table)
        node = child
    node.states.update(c[-1] for c in configs)
    if leaf is not None and leaf not in node.leaves:
        if end:
            for c in configs:
                table.feed(c, "$END")
        if node.leaves:
            raise NotCompilable("two rules give the same tokens (an ambiguous grammar)")
        node.leaves.append(leaf)
    return configs


def _repeat(body: _Node, shapes: tuple[Shape, ...], configs: set[tuple[int, ...]],
            table: _Table) -> set[tuple[int, ...]]:
    """One or more iterations of a repetition: the stacks after them (a fixpoint)."""
    def once(cs: set[tuple[int, ...]]) -> set[tuple[int, ...]]:
        out: set[tuple[int, ...]] = set()
        for i, s in enumerate(shapes):
            out |= _walk(body, _tokens_only(s), cs, table, i, False)
        return out

    seen = once(configs)
    frontier = seen
    while frontier:
        nxt = once(frontier) - seen
        seen |= nxt
        frontier = nxt
        if len(seen) > MAX_CONFIGS:
            raise NotCompilable("a repetition's parser stacks do not settle")
    return seen


# -- the lexer's view -----------------------------------------------------------------

class _Lexers:
    """Per parser state: terminals in Lark's order, ignored types, keyword callbacks."""

    def __init__(self, lark: Lark) -> None:
        lexer = lark.parser.lexer
        if not isinstance(lexer, ContextualLexer):
            raise NotCompilable("the grammar does not use the contextual lexer")
        self.order: dict[int, list[str]] = {}
        self.callbacks: dict[int, dict[str, Any]] = {}
        self.patterns: dict[str, str] = {}
        self.first: dict[str, frozenset[str] | None] = {}
        self.ignore = tuple(str(t) for t in lark.ignore_tokens)
        self.rank: dict[str, tuple[Any, ...]] = {}
        for state, basic in lexer.lexers.items():
            scanner = basic.scanner
            self.order[state] = [t.name for t in scanner.terminals]
            self.callbacks[state] = dict(basic.callback)
            for t in scanner.terminals:
                self.patterns[t.name] = t.pattern.to_regexp()
                self.first[t.name] = _first(self.patterns[t.name])
                self.rank[t.name] = (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name)
            if basic.user_callbacks:
                raise NotCompilable("the grammar has lexer callbacks")

    def higher(self, states: set[int], term: str, skip: frozenset[str] = frozenset()) -> list[str] | None:
        """Terminals tried before `term` in any of these states, or None when `term` is
        not a terminal of some state's lexer (a keyword Lark matches through another)."""
        out: list[str] = []
        for s in sorted(states):
            order = self.order[s]
            if term not in order:
                return None
            mine = self.first.get(term)
            for t in order[: order.index(term)]:
                if t in out or t in skip:
                    continue
                theirs = self.first.get(t)
                if mine is not None and theirs is not None and not (mine & theirs):
                    continue  # cannot start where `term` starts: no need to look
                out.append(t)
        return out

    def keyword_check(self, states: set[int], term: str) -> Callable[[str], Any] | None:
        """A test `text -> truthy` for a token that Lark would retype to a keyword."""
        checks = [self.callbacks[s][term].scanner.fullmatch for s in sorted(states)
                  if term in self.callbacks[s]]
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda text: any(c(text) is not None for c in checks)


# -- first characters: a guard against a terminal that cannot start where X starts is
# left out (most of the cost of a naive translation is such dead lookaheads)

def _first(pattern: str) -> frozenset[str] | None:
    """The characters a match of `pattern` can start with, or None (any, or unknown)."""
    found = _first_and_nullable(pattern)
    return None if found is None else found[0]


def _first_and_nullable(pattern: str) -> tuple[frozenset[str] | None, bool] | None:
    """(first characters or None, may match the empty string), or None when `pattern`
    cannot be read here (no `re._parser`, a parse error, IGNORECASE)."""
    if _sre is None:
        return None
    try:
        parsed = _sre.parse(pattern)
    except Exception:
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    return _first_seq(list(parsed))


def _first_seq(items: list[Any]) -> tuple[frozenset[str] | None, bool]:
    """(first characters, nullable) of a sequence of parsed items."""
    out: set[str] = set()
    for op, av in items:
        f, nullable = _first_item(op, av)
        if f is None:
            return None, False
        out |= f
        if not nullable:
            return frozenset(out), False
    return frozenset(out), True


def _first_item(op: Any, av: Any) -> tuple[frozenset[str] | None, bool]:
    c = _sre_c
    if op is c.LITERAL:
        return frozenset(chr(av)), False
    if op is c.IN:
        chars: set[str] = set()
        for iop, iav in av:
            if iop is c.LITERAL:
                chars.add(chr(iav))
            elif iop is c.RANGE and iav[1] - iav[0] < 512:
                chars.update(chr(i) for i in range(iav[0], iav[1] + 1))
            else:
                return None, False
        return frozenset(chars), False
    if op is c.SUBPATTERN:
        if av[1] & re.IGNORECASE:  # (?i:...) added flags
            return None, False
        return _first_seq(list(av[3]))
    if op is c.ATOMIC_GROUP:
        return _first_seq(list(av))
    if op is c.BRANCH:
        out: set[str] = set()
        nullable = False
        for branch in av[1]:
            f, n = _first_seq(list(branch))
            if f is None:
                return None, False
            out |= f
            nullable = nullable or n
        return frozenset(out), nullable
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        f, n = _first_seq(list(av[2]))
        return f, n or av[0] == 0
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return frozenset(), True
    return None, False


# -- regex generation -------------------------------------------------------------------

def _alt(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


class _Emitter:
    """Writes the pattern of a trie, up to its repetitions, with a named group per kept
    token and per place where a shape ends or a repetition starts.

    A segment ends at the end of the line (an end group, then `\\Z`) or pauses where a
    repetition starts (`(?P<_P..>)`); the repetition is scanned iteration by iteration
    and the line goes on with the segment after it. So nothing is matched twice."""

    def __init__(self, lexers: _Lexers, filtered: frozenset[str], counter: Iterator[int]) -> None:
        self.lx = lexers
        self.filtered = filtered
        self.counter = counter
        self.checks: dict[str, Callable[[str], Any]] = {}  # group -> keyword test
        # end group -> (token groups, shape) ; pause group -> (token groups, [(body, next node)])
        self.leaves: dict[str, tuple[list[Any], int]] = {}
        self.alts: list[tuple[str, str, bool]] = []  # (terminal, its guard, filtered) per term()
        self.loops: list[str] = []  # every ignore loop written
        self.pauses: dict[str, tuple[list[Any], list[tuple[_Node, Item, _Node]]]] = {}

    def group(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def guard(self, states: set[int], term: str, skip: frozenset[str] = frozenset()) -> str | None:
        higher = self.lx.higher(states, term, skip)
        if higher is None:
            return None
        if not higher:
            return ""
        return "(?!" + "|".join(f"(?:{self.lx.patterns[h]})" for h in higher) + ")"

    def ignore_loop(self, states: set[int]) -> str:
        parts = []
        for ign in self.lx.ignore:
            g = self.guard(states, ign)
            if g is not None:
                parts.append(f"{g}(?:{self.lx.patterns[ign]})")
        if not parts:
            self.loops.append("")
            return ""
        self.loops.append("(?:" + "|".join(parts) + ")*+")
        # possessive (what Lark skips stays skipped); no capturing group inside, so
        # CPython's possessive-repeat bug (python/cpython#101955) cannot bite
        return "(?:" + "|".join(parts) + ")*+"

    def term(self, states: set[int], name: str, names: list[Any], skip: frozenset[str]) -> str | None:
        g = self.guard(states, name, skip)
        if g is None:
            return None  # a keyword Lark reads through another terminal: left to Lark
        body = f"(?>{self.lx.patterns[name]})"
        check = self.lx.keyword_check(states, name)
        self.alts.append((name, g, name in self.filtered))
        if name in self.filtered:
            return None if check is not None else g + body
        grp = self.group("_t")
        if check is not None:
            self.checks[grp] = check
        names.append((grp, name))
        return f"{g}(?P<{grp}>{body})"

    def node(self, node: _Node, prefix: list[Any], body: bool = False) -> str:
        """The pattern of a trie node: its ignore loop, then its children or its end."""
        keys = sorted((k for k in node.children if k[0] == "T"), key=lambda k: self.lx.rank.get(k[1], ()))
        reps = [k for k in node.children if k[0] == "R"]
        # children that are single last tokens: one atomic alternation in Lark's order,
        # where an earlier alternative need not be guarded against again
        simple = bool(keys) and not reps and all(not node.children[k].children for k in keys)
        parts: list[str] = []
        done: set[str] = set()
        firsts: list[tuple[str, str, str]] = []  # (first token, its group, the rest after it)
        for key in keys:
            child = node.children[key]
            names = list(prefix)
            # an earlier alternative need not be guarded against again: the first tokens
            # are one atomic alternation in Lark's order (below)
            t = self.term(node.states, key[1], names, frozenset(done))
            if t is None:
                continue  # not in the choice: later alternatives keep their guard against it
            done.add(key[1])
            if simple:
                parts.append(t + self.node(child, names, body))
                continue
            if len(names) > len(prefix) and names[-1][1] == key[1]:
                grp = names[-1][0]
            else:  # a filtered token has no group of its own: give it one for the choice
                grp = self.group("_c")
                t = f"(?P<{grp}>{t})"
            firsts.append((t, grp, self.node(child, names, body)))
        if len(firsts) == 1:
            parts.append(firsts[0][0] + firsts[0][2])
        elif firsts:
            # Lark's lexer picks ONE token here (the first in its order that matches) and
            # never another: an atomic choice of first tokens, then the rest of the one
            # that matched (a conditional per alternative)
            choice = "(?>" + "|".join(f for f, _, _ in firsts) + ")"
            chain = firsts[-1][2]
            for _, grp, rest in reversed(firsts[:-1]):
                chain = f"(?({grp}){rest}|{chain})"
            parts.append(choice + chain)
        if node.leaves:
            grp = self.group("_L")
            self.leaves[grp] = (prefix, node.leaves[0])
            parts.append(f"(?P<{grp}>)" + ("" if body else r"\Z"))
        if reps:  # last: the bodies' first tokens exclude the other children's
            grp = self.group("_P")
            self.pauses[grp] = (prefix, [(node.bodies[k], k, node.children[k]) for k in reps])
            parts.append(f"(?P<{grp}>)")
        if not parts:
            return "(?!)"
        if simple:
            return self.ignore_loop(node.states) + "(?>" + "|".join(parts) + ")"
        return self.ignore_loop(node.states) + _alt(parts)


def _has_groups(pattern: str) -> bool:
    return re.compile(pattern).groups > 0


Reader = Callable[[Any, list[Any]], bool]


def _reader(groups: list[tuple[int, str, Any]]) -> Reader:
    """`read(match, out)`: append the (type, text, column) tokens of these groups to
    `out`; False when a token's text is a keyword Lark would retype (ask Lark). Written
    out as straight-line code: this runs for every line."""
    checks = {f"_c{i}": c for i, (_, _, c) in enumerate(groups) if c is not None}
    lines = ["def read(m, out):", "    g = m.group", "    s = m.start"]
    for i, (gi, t, c) in enumerate(groups):
        if c is not None:
            lines.append(f"    if _c{i}(g({gi})): return False")
    if groups:
        items = "".join(f"({t!r}, g({gi}), s({gi}) + 1), " for gi, t, _ in groups)
        lines.append(f"    out += ({items})")
    lines.append("    return True")
    env: dict[str, Any] = dict(checks)
    exec("\n".join(lines), env)  # noqa: S102 -- terminal names and ints only
    return env["read"]


def _fused_reader(head: list[tuple[int, str, Any]], span: int, body: "_Segment",
                  tail: list[tuple[int, str, Any]]) -> Reader:
    """`read(match, out)` of a fused pause (`_Segment.fuse`): the tokens before the
    repetition, the repetition's (read back from its span by the body's regex, one match
    an iteration), the after segment's; False when a token is a keyword Lark would
    retype, or (never expected) the span does not read back as whole iterations: either
    way the line goes to Lark. Straight-line code, as `_reader`."""
    env: dict[str, Any] = {"_match": body.match, "_single": body.single}
    lines = ["def read(m, out):", "    g = m.group", "    s = m.start"]
    for i, (gi, _, c) in enumerate(head):
        if c is not None:
            env[f"_h{i}"] = c
            lines.append(f"    if _h{i}(g({gi})): return False")
    if head:
        lines.append("    out += (" + "".join(f"({t!r}, g({gi}), s({gi}) + 1), " for gi, t, _ in head) + ")")
    lines += [f"    pos, end = m.span({span})",
              "    text = m.string",
              "    while pos < end:",
              "        b = _match(text, pos)",
              "        if b is None: return False",
              "        t, i = _single[b.lastindex]",
              "        out.append((t, b.group(i), b.start(i) + 1))",
              "        pos = b.end()",
              "    if pos != end: return False"]
    for i, (gi, _, c) in enumerate(tail):
        if c is not None:
            env[f"_a{i}"] = c
            lines.append(f"    if _a{i}(g({gi})): return False")
    if tail:
        lines.append("    out += (" + "".join(f"({t!r}, g({gi}), s({gi}) + 1), " for gi, t, _ in tail) + ")")
    lines.append("    return True")
    exec("\n".join(lines), env)  # noqa: S102 -- terminal names and ints only
    return env["read"]


def _texts(names: list[Any], gi: dict[str, int], checks: dict[str, Any]) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
    if any(n in checks for n, _ in names):
        return None
    return tuple(gi[n] for n, _ in names), tuple(t for _, t in names)


def _group_texts(m: Any, gis: tuple[int, ...]) -> tuple[str, ...]:
    """The texts of these groups of a match, as a tuple whatever their number."""
    if len(gis) > 1:
        return m.group(*gis)
    return (m.group(gis[0]),) if gis else ()


class _Segment:
    """A compiled piece of the line: from a trie node to the line's end or the start
    of a repetition. `leaves`: match.lastindex -> (reader, shape or None, pause)."""

    def __init__(self, node: _Node, lexers: _Lexers, filtered: frozenset[str], counter: Iterator[int],
                 body: bool = False) -> None:
        em = _Emitter(lexers, filtered, counter)
        text = em.node(node, [], body)
        self._emitted = (node, em, lexers)
        self.text = text
        self.words: tuple[list[str], list[frozenset[str] | None], dict[str, Any]] | None = None
        # the word cache's record in `parse` (words looked up, words the regex had to
        # read): where most words miss (logfmt: its quoted pairs outrank its bare ones,
        # so a bare pair is never cached), `parse` reads the iterations with the regex
        # alone, which is what the misses cost anyway without the lookups around them
        self.looked = self.missed = 0
        self.regex_only = False
        # per alternative of the word cache: a regex a word must match for that
        # alternative to match at its start (`_probe`), or None
        self.probes: list[re.Pattern[str] | None] = []
        try:
            pattern = re.compile(text)
        except (re.error, RecursionError, OverflowError) as exc:
            raise NotCompilable(f"the pattern does not compile: {exc}") from None
        self._pattern = pattern
        self.match = pattern.match
        self.scanner = pattern.scanner
        self.fused = 0  # pauses matched in the segment's regex (`fuse`)
        # every match of it ends the line or the iteration: no pause left unfused
        self.flat = not em.pauses
        self.plain = True  # set by CompiledLine: no markers inside a body's iterations
        self.single: dict[int, tuple[str, int]] | None = None  # set by CompiledLine
        gi = pattern.groupindex
        self.leaves: dict[int, tuple[Reader, int | None, Any]] = {}
        # match.lastindex -> (its token groups, their terminals), or None where a token
        # may be a keyword (then `read` decides): `split` takes the texts in one call
        self.texts: dict[int, tuple[tuple[int, ...], tuple[str, ...]] | None] = {}
        # match.lastindex -> what `split` does then (CompiledLine._plan), filled as met
        self.split_plans: dict[int, tuple[Any, ...] | None] = {}
        singles: dict[int, tuple[str, int]] = {}
        for g, (names, shape) in em.leaves.items():
            self.leaves[gi[g]] = (_reader([(gi[n], t, em.checks.get(n)) for n, t in names]), shape, None)
            self.texts[gi[g]] = _texts(names, gi, em.checks)
            if len(names) == 1 and names[0][0] not in em.checks:
                singles[gi[g]] = (names[0][1], gi[names[0][0]])
        self._singles = singles if len(singles) == len(em.leaves) and not em.pauses else None
        for g, (names, reps) in em.pauses.items():
            scanners = [(_Segment(b, lexers, filtered, counter, True), key,
                         _Segment(after, lexers, filtered, counter, body)) for b, key, after in reps]
            self.leaves[gi[g]] = (_reader([(gi[n], t, em.checks.get(n)) for n, t in names]), None, scanners)
            self.texts[gi[g]] = _texts(names, gi, em.checks)

    def fuse(self) -> None:
        """Match a repetition of one token per iteration, and the segment after it, in
        this segment's own regex: `(?>S)(?(P)(?P<span>(?>(?:ITER)+))AFTER)` for each of
        its pauses P that qualifies. One match then reads what took the segment's match,
        one match per iteration plus a failing one, and the after segment's match; the
        iterations' tokens are read back from the span (`_fused_reader`), one match each
        and none that fails. (RFC 5424's SD element: `[id`, its ` name="value"` params,
        `]`.) The same tokens, or the same "no match":

        - `(?>S)`: S's first match, as `S.match` gives it; a failure after it cannot make
          the regex try another way through S (Python's per-pause scan never does);
        - `(?>(?:ITER)+)`: ITER's first match at each place, as `body.match` there, as
          many times as it matches and at least once (no iteration: no match, as
          `_run` answers); ITER cannot match the empty string and has no conditional
          (a group of an earlier iteration would answer it; the emitter writes them only
          for a choice of several first tokens, so single-token bodies rarely have one);
        - AFTER ends the match (it pauses nowhere), so the match's lastindex is one of
          its leaves.

        Its pauses whose repetition is read otherwise (the word cache, several
        repetitions at one place, several tokens an iteration) stay as they were."""
        _, em, _ = self._emitted
        parts: list[str] = []
        plans: list[tuple[str, str, _Segment, _Segment]] = []
        for g, (names, reps) in em.pauses.items():
            if len(reps) != 1:
                continue
            body, _, after = self.leaves[self._pattern.groupindex[g]][2][0]
            if (body.single is None or body.words is not None or "(?(" in body.text
                    or any(p is not None for _, _, p in after.leaves.values())):
                continue
            found = _first_and_nullable(body.text)
            if found is None or found[1]:
                continue  # it may match the empty string, or its parse is unknown
            span = em.group("_S")
            parts.append(f"(?({g})(?P<{span}>(?>(?:{body.text})+)){after.text})")
            plans.append((g, span, body, after))
        if not plans:
            return
        try:
            pattern = re.compile(f"(?>{self.text})" + "".join(parts))
        except (re.error, RecursionError, OverflowError):
            return  # then the pauses are scanned as before
        gi = pattern.groupindex
        leaves = dict(self.leaves)  # S's group numbers are the same in the fused regex
        for g, span, body, after in plans:
            names, _ = em.pauses[g]
            _, aem, _ = after._emitted
            for leaf, (anames, shape) in aem.leaves.items():
                leaves[gi[leaf]] = (_fused_reader([(gi[n], t, em.checks.get(n)) for n, t in names], gi[span],
                                                  body, [(gi[n], t, aem.checks.get(n)) for n, t in anames]),
                                    shape, None)
        fused = {self._pattern.groupindex[g] for g, _, _, _ in plans}
        self.flat = all(p is None or li in fused for li, (_, _, p) in self.leaves.items())
        self._pattern = pattern
        self.match = pattern.match
        self.scanner = pattern.scanner
        self.leaves = leaves
        self.fused = len(plans)


    def make_words(self) -> None:
        """The word cache of a repetition whose iterations are one token each, separated
        by spaces: `(?:(?: +))*+` around every token and alternatives with no guard, so
        an iteration is the first alternative, in Lark's order, that matches at the
        start of a space-delimited word. An alternative is *local* (`_local`) when what
        it does there depends only on that word (it never consumes whitespace; its only
        lookaround is `(?=\\s|$)`, the same for the space or the end after the word);
        another one is ruled out by a word whose first character it cannot start with.
        A third way to rule one out: its probe (`_probe`, a local start of it followed by
        a character that is not whitespace) does not match the word (logfmt's quoted
        pair, which may run past its word, is ruled out by `path=/x`: no `="` in it).
        Where every alternative before the winner (all of them, for no match) is ruled
        out and the winner is local, the outcome is a function of the word alone and is
        cached by it."""
        node, em, lexers = self._emitted
        if (self.single is None or node.leaves or not em.alts or any(k[0] != "T" for k in node.children)
                or any(c.children or c.bodies or not c.leaves for c in node.children.values())
                or any(g or filtered for _, g, filtered in em.alts)
                or any(loop != _SPACES for loop in em.loops)):
            return
        names = [n for n, _, _ in em.alts]
        local = [_local(lexers.patterns[n]) for n in names]
        # per alternative: None (local) or the first characters it can start with; an
        # alternative neither local nor with known first characters (_ANY) is never
        # ruled out, so nothing it could match is cached
        rules: list[frozenset[str] | None] = []
        for n, loc in zip(names, local):
            f = None if loc else _first_strict(lexers.patterns[n])
            rules.append(None if loc else (f if f is not None else _ANY))
        # when every local alternative treats the ten ASCII digits alike (each class has
        # all or none of them) and so does every first-character rule, two words that
        # differ only in ASCII digits have the same outcome (the regex runs the same
        # way on both): the cache is keyed by the word's digits turned to 0
        probes = [None if loc else _probe(lexers.patterns[n]) for n, loc in zip(names, local)]
        uniform = (all(_digit_uniform(lexers.patterns[n]) for n, loc in zip(names, local) if loc)
                   and all(r is None or r is _ANY or len(r & _DIGITS) in (0, 10) for r in rules)
                   and all(p is None or p[1] for p in probes))
        self.probes = [None if p is None else p[0] for p in probes]
        self.words = ({n: i for i, n in enumerate(names)}, rules, {}, uniform, {})


_SPACES = "(?:(?: +))*+"  # the ignore loop of `%ignore SP` (SP: / +/) with no guard
_ANY = frozenset()  # marks an alternative no first character rules out
_FAIL = "\0fail"  # the word cache's "no iteration starts at this word" (never a terminal's name)
MAX_WORDS = 50_000  # entries of one repetition's word cache; when full, it starts again empty
WORDS_TRIAL = 4096  # words `parse` looks up before it may give the word cache up (more than half missed)


_DIGITS = frozenset("0123456789")
_ZEROS = bytes.maketrans(b"0123456789", b"0000000000")


def _limit(rules: list[frozenset[str] | None], ch: str) -> int:
    """How many alternatives, from the first, are decided by a word starting with `ch`
    (local, or unable to start with it): an outcome among them is cacheable."""
    for i, r in enumerate(rules):
        if not _ruled_out(r, ch):
            return i
    return len(rules)


def _digit_uniform(pattern: str) -> bool:
    """Does every test of `pattern` on a character give one answer for all ten ASCII
    digits (no digit literal, no class with some digits and not others)?"""
    try:
        return _uniform_seq(list(_sre.parse(pattern)))
    except Exception:
        return False


def _uniform_seq(items: list[Any]) -> bool:
    c = _sre_c
    for op, av in items:
        if op is c.LITERAL or op is c.NOT_LITERAL:
            if chr(av) in _DIGITS:
                return False
        elif op is c.IN:
            covered: set[str] = set()
            for iop, iav in av:
                if iop is c.LITERAL:
                    covered |= {chr(iav)} & _DIGITS
                elif iop is c.RANGE:
                    covered |= {chr(x) for x in range(max(iav[0], 48), min(iav[1], 57) + 1)}
                elif iop is c.CATEGORY:
                    if iav in (c.CATEGORY_DIGIT, c.CATEGORY_WORD, c.CATEGORY_NOT_SPACE):
                        covered |= _DIGITS
                    elif iav not in (c.CATEGORY_SPACE, c.CATEGORY_NOT_DIGIT, c.CATEGORY_NOT_WORD):
                        return False
                elif iop is not c.NEGATE:
                    return False
            if len(covered) not in (0, 10):
                return False
        elif op is c.SUBPATTERN:
            if av[1] or av[2] or not _uniform_seq(list(av[3])):
                return False
        elif op is c.ATOMIC_GROUP:
            if not _uniform_seq(list(av)):
                return False
        elif op is c.BRANCH:
            if not all(_uniform_seq(list(b)) for b in av[1]):
                return False
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            if not _uniform_seq(list(av[2])):
                return False
        elif op in (c.ASSERT, c.ASSERT_NOT):
            if not _uniform_seq(list(av[1])):
                return False
        elif op is not c.AT and op is not c.ANY:
            return False
    return True


def _ruled_out(rule: frozenset[str] | None, ch: str) -> bool:
    """The alternative's outcome at a word starting with `ch` is known from the word:
    local (None), or it cannot start with `ch`."""
    return rule is None or (rule is not _ANY and ch not in rule)


LAST_SPACE = 0x3000  # IDEOGRAPHIC SPACE: no whitespace character lies above it (tested)


@functools.cache
def _whitespace() -> frozenset[str]:
    """What `\\s` matches in a str pattern (str.isspace: the same Unicode table)."""
    return frozenset(ch for ch in map(chr, range(LAST_SPACE + 1)) if ch.isspace())


def _local(pattern: str) -> bool:
    """Does a match of `pattern` depend only on the text up to the first whitespace
    after its start, and the same whether a space or the end follows? True when it never
    consumes whitespace (nor anything unknown), has no flags, and its only lookaround is
    `(?=\\s|$)`."""
    if _sre is None:
        return False
    try:
        parsed = _sre.parse(pattern)
    except Exception:
        return False
    if parsed.state.flags & ~int(re.UNICODE):
        return False
    return _local_seq(list(parsed))


def _local_seq(items: list[Any]) -> bool:
    return all(_local_item(op, av) for op, av in items)


_SPACE_OR_END = None  # the parsed `(?=\s|$)`, filled on first use


def _local_item(op: Any, av: Any) -> bool:
    global _SPACE_OR_END
    c = _sre_c
    if op is c.LITERAL:
        return chr(av) not in _whitespace()
    if op is c.IN:
        if av and av[0][0] is c.NEGATE:  # `[^\s"]`: local when it excludes all whitespace
            return _excludes_whitespace(av[1:])
        for iop, iav in av:
            if iop is c.LITERAL:
                if chr(iav) in _whitespace():
                    return False
            elif iop is c.RANGE:
                if any(iav[0] <= ord(w) <= iav[1] for w in _whitespace()):
                    return False
            elif iop is c.CATEGORY:
                if iav not in (c.CATEGORY_DIGIT, c.CATEGORY_WORD, c.CATEGORY_NOT_SPACE):
                    return False
            else:
                return False
        return True
    if op is c.SUBPATTERN:
        return not av[1] and not av[2] and _local_seq(list(av[3]))
    if op is c.ATOMIC_GROUP:
        return _local_seq(list(av))
    if op is c.BRANCH:
        return all(_local_seq(list(b)) for b in av[1])
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        return _local_seq(list(av[2]))
    if op is c.ASSERT:
        if _SPACE_OR_END is None:
            _SPACE_OR_END = repr(list(_sre.parse(r"(?=\s|$)"))[0][1])
        return repr((av[0], av[1])) == _SPACE_OR_END if av[0] == 1 else False
    return False  # ANY, NOT_LITERAL, AT, ASSERT_NOT, lookbehinds, group references...


def _excludes_whitespace(items: list[Any]) -> bool:
    """Do the items of a negated class (`[^...]`) take in every whitespace character?"""
    c = _sre_c
    covered: set[str] = set()
    for iop, iav in items:
        if iop is c.CATEGORY and iav is c.CATEGORY_SPACE:
            return True
        if iop is c.LITERAL:
            covered.add(chr(iav))
        elif iop is c.RANGE:
            covered.update(w for w in _whitespace() if iav[0] <= ord(w) <= iav[1])
    return _whitespace() <= covered


def _first_strict(pattern: str) -> frozenset[str] | None:
    """The characters every match of `pattern` starts with, or None (unknown, or it may
    match the empty string, or flags)."""
    found = _first_and_nullable(pattern)
    return None if found is None or found[1] else found[0]


def _probe(pattern: str) -> tuple[re.Pattern[str], bool] | None:
    """(a regex that matches at the start of a word wherever `pattern` can match at the
    start of that word, followed by a space or the end; whether that regex treats the
    ten ASCII digits alike), or None (no such regex found: the alternative is never
    ruled out by it).

    The regex is the pattern's longest local start L (`_local_item`: it never consumes
    whitespace, so its matches lie inside the word and do not depend on what follows
    it): a match of `pattern` starts with a match of L. When the rest R cannot match
    the empty string nor start with whitespace, a lookahead for the characters R can
    start with follows L (that character is then inside the word too). A word the
    regex does not match cannot start a match of `pattern`, whatever follows."""
    if _sre is None or _sre_compiler is None:
        return None
    try:
        parsed = _sre.parse(pattern)
        if parsed.state.flags & ~int(re.UNICODE):
            return None
        items = list(parsed)
        k = 0
        while k < len(items) and _local_item(*items[k]):
            k += 1
        if k == 0 or k == len(items):
            return None  # nothing beyond the first character / a local pattern
        first, nullable = _first_seq(items[k:])
        c = _sre_c
        probe = _sre.SubPattern(parsed.state, items[:k])
        uniform = _uniform_seq(items[:k])
        if first is not None and not nullable and not first & _whitespace():
            look = _sre.SubPattern(parsed.state, [(c.IN, [(c.LITERAL, ord(ch)) for ch in sorted(first)])])
            probe.append((c.ASSERT, (1, look)))
            uniform = uniform and len(first & _DIGITS) in (0, 10)
        return _sre_compiler.compile(probe, parsed.state.flags), uniform
    except Exception:  # CPython internals that changed: no probe, the same tokens
        return None


def _decided(body: _Segment, rules: list[frozenset[str] | None], word: str, lim: int, upto: int) -> bool:
    """Is each of the first `upto` alternatives ruled out at this word, whatever
    follows it (`_Segment.make_words`)? `lim`: how many are by the word's first
    character (`_limit`)."""
    if upto <= lim:
        return True
    probes = body.probes
    ch = word[0]
    for i in range(lim, upto):
        if _ruled_out(rules[i], ch):
            continue
        p = probes[i]
        if p is None or p.match(word) is not None:
            return False
    return True


class _Markers:
    """Puts a shape's RULE markers back among its tokens (repetitions vary in length)."""

    def __init__(self, shape: Shape, filtered: frozenset[str]) -> None:
        self.plan: list[tuple[int, Any]] = []  # (0, n tokens) / (1, marker) / (2, repetition)
        self.none = not any(i[0] == "M" for i in shape)
        lead = 0
        while lead < len(shape) and shape[lead][0] == "M":
            lead += 1
        # markers only at the start (the usual `?start: a | b` with named a, b)
        self.lead = [(RULE, i[1], 0) for i in shape[:lead]] if not any(i[0] == "M" for i in shape[lead:]) else None
        self.lead_names = tuple(i[1] for i in shape[:lead]) if self.lead is not None else None
        for item in shape:
            if item[0] == "M":
                self.plan.append((1, (RULE, item[1], 0)))
            elif item[0] == "R":
                self.plan.append((2, None))
            elif item[1] not in filtered:
                self.plan.append((0, 1))

    def apply(self, toks: list[Any], reps: list[int]) -> list[Any]:
        if self.none:
            return toks
        if self.lead is not None:
            return self.lead + toks
        out: list[Any] = []
        i = k = 0
        for op, arg in self.plan:
            if op == 1:
                out.append(arg)
            elif op == 0:
                out.append(toks[i])
                i += 1
            else:
                n = reps[k]
                k += 1
                out.extend(toks[i:i + n])
                i += n
        return out


class CompiledLine:
    """`parse(text)`: the flat tokens Lark's parse of `text` gives, or None (ask Lark)."""

    def __init__(self, lark: Lark) -> None:
        if lark.options.parser != "lalr" or lark.options.postlex is not None:
            raise NotCompilable("not a LALR grammar without a postlexer")
        table = _Table(lark)
        lexers = _Lexers(lark)
        for name, pat in lexers.patterns.items():
            if _has_groups(pat):
                raise NotCompilable(f"terminal {name} has capturing groups")
        start = lark.options.start[0] if isinstance(lark.options.start, list) else lark.options.start
        shapes = _Shapes(lark).of_rule(start, ())
        root = _Node()
        for i, s in enumerate(shapes):
            _walk(root, _tokens_only(s), {table.start}, table, i)
        filtered = frozenset(sym.name for r in lark.rules for sym in r.expansion if sym.is_term and sym.filter_out)
        self._root = _Segment(root, lexers, filtered, count(1))
        self._markers = [_Markers(s, filtered) for s in shapes]
        # the body shapes of each repetition, for markers inside an iteration
        self._body_markers: dict[Item, list[_Markers]] = {}
        todo = [i for s in shapes for i in s if i[0] == "R"]
        while todo:
            item = todo.pop()
            if item not in self._body_markers:
                self._body_markers[item] = [_Markers(b, filtered) for b in item[1]]
                todo += [i for b in item[1] for i in b if i[0] == "R"]
        plain = {k: all(m.none for m in v) for k, v in self._body_markers.items()}
        segs = [self._root]
        while segs:
            seg = segs.pop()
            for _, _, pause in seg.leaves.values():
                for body, key, after in pause or ():
                    body.plain = plain[key]
                    nested = any(p for _, _, p in body.leaves.values())
                    body.single = body._singles if body.plain and not nested else None
                    if body.single is not None:
                        body.make_words()
                    segs += [after, body]
        # fused pauses (`_Segment.fuse`), once every body's way of reading is known: in a
        # segment read by `_run_plain` (no markers), or by `_run` with markers that do not
        # need the repetitions' lengths (none, or only leading ones)
        loose = {k: all(m.none or m.lead is not None for m in v) for k, v in self._body_markers.items()}
        todo_segs = [(self._root, all(m.none or m.lead is not None for m in self._markers))]
        done: set[int] = set()
        while todo_segs:
            seg, ok = todo_segs.pop()
            if id(seg) in done:
                continue
            done.add(id(seg))
            for _, _, pause in list(seg.leaves.values()):
                for body, key, after in pause or ():
                    todo_segs += [(after, ok), (body, body.plain or loose[key])]
            if ok:
                seg.fuse()
        self.shapes = len(shapes)

    def parse(self, text: str) -> list[Tok] | None:
        try:
            done = self._run(self._root, text, 0, self._markers)
        except _AskLark:
            return None
        return None if done is None else done[1]

    def split(self, text: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...],
                                        list[tuple[str, str]], tuple[str, ...], tuple[str, ...]] | None:
        """The line as `parse` reads it, in parts and without columns, for a handler
        that converts the tokens of its repetition by their text: (the shape's leading
        rule markers, the terminals and the texts of the tokens before the repetition,
        the repetition's (terminal, text) pairs, the terminals and the texts of the
        tokens after it). None when `parse` must decide: no match, a keyword, a
        repetition of several tokens per iteration or two repetitions, markers among
        the tokens, a token of the repetition that is not a whole space-delimited word."""
        got = self._match_plan(self._root, text, 0, True)
        if got is None:
            return None
        m, (gis, head_types, body, after, lead, many) = got
        head = m.group(*gis) if many else _group_texts(m, gis)
        pairs: list[tuple[str, str]] = []
        if body is None:
            return lead, head_types, head, pairs, (), ()
        start = m.end()
        end, done = self._words(body, text, start, pairs)
        if not done or end == start:
            return None
        got = self._match_plan(after, text, end, False)
        if got is None:
            return None
        m, (gis, tail_types, _, _, lead, many) = got
        return lead, head_types, head, pairs, tail_types, m.group(*gis) if many else () if not gis else (m.group(gis[0]),)

    def _match_plan(self, seg: _Segment, text: str, pos: int, first: bool) -> tuple[Any, tuple[Any, ...]] | None:
        """The segment's match at `pos` and its `_plan` (worked out on its lastindex's
        first use), or None (`parse` must decide)."""
        m = seg.match(text, pos)
        if m is None:
            return None
        plan = seg.split_plans.get(m.lastindex, _UNPLANNED)
        if plan is _UNPLANNED:
            if m.lastindex not in seg.texts:
                return None  # a fused pause's (`_Segment.fuse`): `parse` reads it
            plan = self._plan(seg, m.lastindex, first)
        return None if plan is None else (m, plan)

    def _plan(self, seg: _Segment, li: int, first: bool) -> tuple[Any, ...] | None:
        """What `split` does after `seg` matched with this lastindex, worked out once:
        (the token groups, their terminals, the repetition's body and the segment after
        it or None, None, the shape's leading markers, whether there are several token
        groups), or None (`parse` must decide).
        `first`: the line's first segment (a repetition may follow); else the one after
        the repetition (none may follow)."""
        plan: tuple[Any, ...] | None = None
        gt = seg.texts[li]
        _, shape, pause = seg.leaves[li]
        body = after = None
        ok = gt is not None
        if ok and pause is not None:
            ok = first and len(pause) == 1 and pause[0][0].words is not None
            if ok:
                body, _, after = pause[0]
        if ok and body is None:  # the line's shape ends in this segment: its markers
            mk = self._markers[shape]
            lead = () if mk.none else mk.lead_names
            ok = lead is not None
        if ok:
            plan = (gt[0], gt[1], body, after, None if body is not None else lead, len(gt[0]) > 1)
        seg.split_plans[li] = plan
        return plan

    @staticmethod
    def _words(body: _Segment, text: str, pos: int, out: list[Any], columns: bool = False,
               resume: bool = False) -> tuple[int, bool]:
        """The iterations of a word-cached repetition (`_Segment.make_words`) from `pos`,
        their (type, text) appended to `out` (`columns`: (type, text, column) tokens, as
        `parse` gives them): (the position after them, True), or (the start of a word
        whose token is not the whole word, False): the iterations up to there are
        right, and the regex goes on from there. `resume`: such a token (a quoted value
        with spaces) is read by the regex, and the words go on after it."""
        index, rules, cache, uniform, limits = body.words  # type: ignore[misc]
        cur = pos
        looked = missed = 0
        more = True
        while more:  # a run of words from `cur`; a token that is not its word ends it
            more = False
            rest = text[cur:]
            words = rest.split(" ")
            # the cache keys: the words, or their UTF-8 with ASCII digits turned to 0
            keys = rest.encode("utf-8", "surrogatepass").translate(_ZEROS).split(b" ") if uniform else words
            skip = -1  # the end of a token the regex read past its word
            for w, key in zip(words, keys):
                if cur < skip:  # a word inside that token (`msg="two words"`)
                    cur += len(w) + 1
                    continue
                if not w:
                    cur += 1  # one of the spaces between words
                    continue
                t = cache.get(key)
                looked += 1
                if t is None:
                    missed += 1
                    # the real regex at the real place decides; cached only when it is
                    # known to decide the same wherever the word (or its key) stands
                    m = body.match(text, cur)
                    lim = limits.get(w[0])
                    if lim is None:
                        lim = limits[w[0]] = _limit(rules, w[0])
                    if m is None:
                        t = _FAIL
                        keep = _decided(body, rules, w, lim, len(rules))
                    else:
                        t, gi = body.single[m.lastindex]  # type: ignore[index]
                        if m.start(gi) != cur or m.end(gi) != cur + len(w):
                            if not resume or m.start(gi) != cur:
                                body.looked += looked
                                body.missed += missed
                                return cur, False
                            out.append((t, m.group(gi), cur + 1) if columns else (t, m.group(gi)))
                            end = m.end()  # the spaces after the token too
                            if end == len(text) or text[end - 1] == " ":
                                # it ends where a word starts: the words of this split
                                # from there are the ones a new split would give
                                skip = end
                                cur += len(w) + 1
                                continue
                            cur = end  # inside a word: the words again from there
                            more = True
                            break
                        j = index[t]
                        keep = rules[j] is None and _decided(body, rules, w, lim, j)
                    if keep:
                        if len(cache) >= MAX_WORDS:
                            cache.clear()
                        cache[key] = t
                if t is _FAIL:
                    break
                out.append((t, w, cur + 1) if columns else (t, w))
                cur += len(w) + 1
        body.looked += looked
        body.missed += missed
        return min(cur, len(text)), True

    def _run(self, seg: _Segment, text: str, pos: int, markers: list[_Markers]) -> tuple[int, list[Any]] | None:
        """Segments from `seg` at `pos` to a shape's end: (position after it, its flat
        tokens), or None (no match here); raises _AskLark for a keyword."""
        toks: list[Any] = []
        reps: list[int] = []
        while True:
            m = seg.match(text, pos)
            if m is None:
                return None
            read, shape, pause = seg.leaves[m.lastindex]
            if not read(m, toks):
                raise _AskLark
            pos = m.end()
            if pause is None:
                return pos, markers[shape].apply(toks, reps)
            n0 = len(toks)
            for body, key, after in pause:  # their first tokens exclude each other
                end = self._repeat(body, key, text, pos, toks)
                if end != pos:
                    break
            else:
                return None  # no iteration: the line's one regex would not match either
            pos = end
            reps.append(len(toks) - n0)
            seg = after

    def _repeat(self, body: _Segment, key: Item, text: str, pos: int, out: list[Any]) -> int:
        """Scan iterations of a repetition from `pos`; the position after them."""
        single = body.single
        if body.words is not None and not body.regex_only:  # the word cache, with the tokens' columns
            end, done = self._words(body, text, pos, out, True, True)
            if body.looked >= WORDS_TRIAL and body.missed * 2 > body.looked:
                body.regex_only = True  # most words miss: the regex alone from now on (in `parse`)
            if done:
                return end
            pos = end  # a token that is not its whole word: the scanner goes on from there
        if single is not None:  # one token per iteration, no keyword, no marker: inline
            scan = body.scanner(text, pos).match  # each match starts where the last ended
            while True:
                m = scan()
                if m is None:
                    return pos
                t, gi = single[m.lastindex]
                out.append((t, m.group(gi), m.start(gi) + 1))
                pos = m.end()
        if body.plain and body.flat:  # `_run_plain` inline: one match an iteration
            match = body.match
            leaves = body.leaves
            while True:
                m = match(text, pos)
                if m is None:
                    return pos
                n = len(out)
                if not leaves[m.lastindex][0](m, out):
                    raise _AskLark
                end = m.end()
                if end <= pos:
                    del out[n:]  # an iteration that did not match leaves nothing
                    return pos
                pos = end
        if body.plain:  # no markers to put back: the iterations' tokens go straight to `out`
            while True:
                n = len(out)
                end = self._run_plain(body, text, pos, out)
                if end is None or end <= pos:
                    del out[n:]  # an iteration that did not match leaves nothing
                    return pos
                pos = end
        markers = self._body_markers[key]
        while True:
            done = self._run(body, text, pos, markers)
            if done is None or done[0] <= pos:
                return pos
            pos = done[0]
            out.extend(done[1])

    def _run_plain(self, seg: _Segment, text: str, pos: int, out: list[Any]) -> int | None:
        """`_run` for an iteration with no rule markers (`_Segment.plain`): its tokens
        appended to `out` as read, no list of its own to build and put markers in
        (SD elements of RFC 5424, each an iteration with a repetition inside). The
        position after it, or None (no match; `out` may hold some of its tokens)."""
        while True:
            m = seg.match(text, pos)
            if m is None:
                return None
            read, _, pause = seg.leaves[m.lastindex]
            if not read(m, out):
                raise _AskLark
            pos = m.end()
            if pause is None:
                return pos
            for body, key, after in pause:  # their first tokens exclude each other
                end = self._repeat(body, key, text, pos, out)
                if end != pos:
                    break
            else:
                return None
            pos = end
            seg = after


_UNPLANNED = object()  # CompiledLine.split: a lastindex whose plan is not worked out yet


class _AskLark(Exception):
    """Internal: a token's text is a keyword Lark would retype; the line goes to Lark."""


_COMPILED: dict[int, tuple[Lark, CompiledLine | None, str]] = {}


def compiled_for(lark: Lark) -> tuple[CompiledLine | None, str]:
    """The compiled fast path of a loaded grammar (built once per process), or None and
    the reason it cannot be built (the grammar then runs on the LALR path alone)."""
    hit = _COMPILED.get(id(lark))
    if hit is not None and hit[0] is lark:
        return hit[1], hit[2]
    if os.environ.get("LOGSHIP_FAST_PATH", "1") == "0":  # a diagnostic switch: LALR only
        return None, "turned off by LOGSHIP_FAST_PATH=0"
    try:
        c: CompiledLine | None = CompiledLine(lark)
        why = ""
    except NotCompilable as exc:
        c, why = None, str(exc)
    _COMPILED[id(lark)] = (lark, c, why)
    return c, why


def compile_status(lark: Lark | None) -> str:
    """`compiled` or `lalr: <reason>` (what `logship formats` shows)."""
    if lark is None:
        return "own parser"
    c, why = compiled_for(lark)
    return "compiled" if c is not None else f"lalr ({why})"


# A grammar's compiled path is built once this process has parsed WARM_LINES lines with
# it: building it (10-60 ms a grammar) costs more than parsing the samples detection
# reads (up to 200 lines of each shipped format, for every new source) on the LALR path,
# which gives the same records (tests/parser/test_compiled.py).
WARM_LINES = 400
_SEEN: dict[int, int] = {}


def is_built(lark: Lark) -> bool:
    """Whether this process has built (or found it cannot build) the grammar's compiled path."""
    hit = _COMPILED.get(id(lark))
    return hit is not None and hit[0] is lark


def fast_parser(lark: Lark) -> Callable[[str], list[Tok]]:
    """The line parser handlers use: the compiled path, then the LALR path for the lines
    it leaves undecided (which parses them or raises Lark's UnexpectedInput). Until the
    grammar has parsed WARM_LINES lines in this process, the LALR path alone."""
    from .lalr import FastLALR

    lalr = FastLALR.of(lark).parse
    if is_built(lark):
        return _with_fallback(compiled_for(lark)[0], lalr)
    key = id(lark)
    current: Callable[[str], list[Tok]] | None = None

    def warming(text: str) -> list[Tok]:
        nonlocal current
        if current is None:
            seen = _SEEN[key] = _SEEN.get(key, 0) + 1
            if seen < WARM_LINES:
                return lalr(text)
            current = _with_fallback(compiled_for(lark)[0], lalr)
        return current(text)

    return warming


def _with_fallback(compiled: CompiledLine | None, lalr: Callable[[str], list[Tok]]) -> Callable[[str], list[Tok]]:
    if compiled is None:
        return lalr
    fast = compiled.parse

    def parse(text: str) -> list[Tok]:
        toks = fast(text)
        return toks if toks is not None else lalr(text)

    return parse
