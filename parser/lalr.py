"""Flat LALR parsing: Lark's tables and lexers, no tree, one flat token list per line.

The grammar convention (grammars/README.md) gives meaning to terminals, not to rule
shapes: rules only group. So a line's parse result is flat: the named terminals in
order, plus a `RULE` marker token for each named rule that was reduced (how the client
format tells `metric` from `event`). Two drivers give the same result:

- `FlatTransformer`, Lark's own inline transformer (`Lark(..., transformer=...)`): the
  reference, used for error reporting (Lark's UnexpectedInput) and in tests;
- `FastLALR`, a tighter loop over the SAME parse table, the SAME per-state contextual
  lexers (compiled regexes, ignore sets, keyword callbacks) and the same token
  filtering, without Lark's per-token bookkeeping and per-rule Tree objects: about
  1.5-2x faster. Anything it does not accept goes to Lark, so errors are Lark's own.
tests/parser/test_parser_lalr.py compares the two on valid, mutated and random lines.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable

from lark import Lark, Token, Transformer, Tree
from lark.lexer import ContextualLexer
from lark.parsers.lalr_analysis import Shift

__all__ = ["FastLALR", "FlatTransformer", "RULE", "Tok", "flat"]

RULE = "RULE"  # type of the marker token for a reduced named rule
# A token of a flat parse: (terminal type, text, 1-based column). Plain tuples: a line
# has ~10 tokens and Lark's Token objects cost more to make than the parse step itself.
Tok = tuple[str, str, int]
_EMPTY: list[Any] = []  # stands for a filtered token (never mutated)


class _Fail(Exception):
    """Internal: the fast loop met something it leaves to Lark (an error)."""


def _marker_name(rule: Any) -> str | None:
    name = str(rule.alias or rule.origin.name)
    if name.startswith("_") or rule.options.expand1 or name == "start":
        return None
    return name


def _matcher(mres: list[Any]) -> Any:
    """One `match(text, pos)` over Lark's compiled alternations, tried in Lark's order
    (Python caps the groups of one regex, so a big lexer may have several)."""
    if len(mres) == 1:
        return mres[0].match

    def match(text: str, pos: int) -> Any:
        for mre in mres:
            m = mre.match(text, pos)
            if m is not None:
                return m
        return None

    return match


class FlatTransformer(Transformer):
    """Every rule -> the flat list of its tokens, led by a RULE marker for named rules
    (never for `?rule`s or their aliased alternatives: they only group)."""

    def __init__(self) -> None:
        super().__init__()
        self.unmarked: frozenset[str] = frozenset()  # `?rule` names, set by compile_lark

    def bind(self, lark: Lark) -> None:
        """Learn the grammar's `?rule`s (after Lark compiled it with this transformer)."""
        self.unmarked = frozenset(str(n) for r in lark.rules if r.options.expand1
                                  for n in (r.origin.name, r.alias) if n)

    def __default__(self, data: Any, children: list[Any], meta: Any) -> Any:
        out: list[Any] = []
        name = str(data)
        if not name.startswith("_") and name != "start" and name not in self.unmarked:
            out.append(Token(RULE, name))
        for c in children:
            if type(c) is list:
                out.extend(c)
            else:
                out.append(c)
        if name.startswith("_"):  # Lark splices an inlined rule's .children into its parent
            return Tree(name, out)
        return out


def flat(result: Any) -> list[Tok]:
    """A FlatTransformer parse result as a flat list of Tok tuples."""
    items = result if type(result) is list else [result]
    return [(t.type, str(t), t.column or 0) for t in items]


_FAST: dict[int, "FastLALR"] = {}
# Line shapes (trie nodes, ~750 bytes each) kept per grammar and process: 26 for the
# client format's real logs; garbage with endless new type sequences stops adding at
# this cap (~7.5 MB) and takes the uncached loop.
MAX_SHAPES = 10_000


class _Uncached(Exception):
    """Internal: the shape cache is full; parse this line with the plain loop."""


class _Shape:
    """A trie node of the shape cache: the parser after a prefix of token types."""

    __slots__ = ("match", "ignore", "callbacks", "states", "values", "ntoks", "children", "finish")

    def __init__(self, match: Any, ignore: frozenset[str], callbacks: dict[str, Any],
                 states: list[Any], values: list[Any], ntoks: int) -> None:
        self.match = match
        self.ignore = ignore
        self.callbacks = callbacks
        self.states = states
        self.values = values
        self.ntoks = ntoks
        self.children: dict[str, _Shape] = {}
        self.finish: Callable[[list[Any]], list[Any]] | None = None


def _template(out: list[Any], ntoks: int) -> Callable[[list[Any]], list[Any]]:
    """A function from a line's token list to its flat output: `out` lists token
    indexes and RULE markers in output order."""
    markers = [item for item in out if type(item) is not int]
    if not markers and out == list(range(ntoks)):
        return _same
    combined: list[int] = []
    k = ntoks
    for item in out:
        if type(item) is int:
            combined.append(item)
        else:
            combined.append(k)
            k += 1
    if len(combined) == 0:
        return lambda toks: []
    if len(combined) == 1:
        i = combined[0]
        if markers:
            return lambda toks: [markers[0]]
        return lambda toks: [toks[i]]
    get = itemgetter(*combined)

    def apply(toks: list[Any]) -> list[Any]:
        toks.extend(markers)
        return list(get(toks))

    return apply


def _same(toks: list[Any]) -> list[Any]:
    return toks


class FastLALR:
    """`parse(text)` == `flat(lark.parse(text))` for a Lark LALR parser built with
    FlatTransformer and the contextual lexer; errors are raised by Lark itself."""

    def __init__(self, lark: Lark) -> None:
        if lark.options.parser != "lalr" or lark.options.postlex is not None:
            raise ValueError("FastLALR needs a LALR parser without a postlexer")
        frontend = lark.parser
        lexer = frontend.lexer
        if not isinstance(lexer, ContextualLexer):
            raise ValueError("FastLALR needs the contextual lexer")
        table = frontend.parser.parser.parse_table
        start = lark.options.start[0] if isinstance(lark.options.start, list) else lark.options.start
        self._lark = lark
        self._start_state = table.start_states[start]
        self._end_state = table.end_states[start]
        self._states = table.states
        # Terminals Lark leaves out of the children (anonymous strings, _NAMES).
        self._filtered = frozenset(
            sym.name for r in lark.rules for sym in r.expansion if sym.is_term and sym.filter_out)
        # The parse table with each reduce action pre-digested to (size, marker, origin):
        # plain str origins (Lark's are Tokens, whose Python-level __eq__ slows lookups)
        # and no Rule hashing in the loop. A shift keeps its target state (an int).
        rules = {r: (len(r.expansion), _marker_name(r), str(r.origin.name)) for r in lark.rules}
        self._table = {
            state: {str(t): (action is Shift, arg if action is Shift else rules[arg])
                    for t, (action, arg) in actions.items()}
            for state, actions in table.states.items()}
        self._lexers: dict[Any, tuple[list[Any], frozenset[str], dict[str, Any]]] = {}
        for state, basic in lexer.lexers.items():
            scanner = basic.scanner  # built lazily by Lark: build it now, once
            self._lexers[state] = (_matcher(scanner._mres), frozenset(basic.ignore_types), dict(basic.callback))
        self._shapes = 0
        self._root = self._node([self._start_state], [], 0)

    @classmethod
    def of(cls, lark: Lark) -> "FastLALR":
        """The FastLALR of a compiled grammar, built once per process (grammar.py caches
        the Lark objects themselves, so they live as long as these)."""
        fast = _FAST.get(id(lark))
        if fast is None or fast._lark is not lark:
            fast = _FAST[id(lark)] = cls(lark)
        return fast

    def parse(self, text: str) -> list[Tok]:
        try:
            return self._parse_shapes(text)
        except _Uncached:
            pass
        except (_Fail, KeyError):
            return flat(self._lark.parse(text))  # raises Lark's own UnexpectedInput
        try:
            return self._parse(text)
        except (_Fail, KeyError):
            return flat(self._lark.parse(text))

    # -- the shape cache ------------------------------------------------------------
    # The parser's actions depend only on the sequence of terminal TYPES the lexer
    # yields (the text of a token never steers an LALR parser), and which contextual
    # lexer reads the next token depends only on the state those types led to. So the
    # parse of a line is memoised per type sequence in a trie: a node is the parser
    # after a prefix of types (its lexer, its stacks), and a finished node holds the
    # output's template (which tokens, in which order, with which RULE markers). A line
    # of a known shape costs its regex matches and one dict lookup per token; a new
    # shape is worked out once, by the same table walk as `_parse`, on token indexes.

    def _node(self, states: list[Any], values: list[Any], ntoks: int) -> "_Shape":
        match, ignore, callbacks = self._lexers[states[-1]]
        self._shapes += 1
        return _Shape(match, ignore, callbacks, states, values, ntoks)

    def _parse_shapes(self, text: str) -> list[Tok]:
        filtered = self._filtered
        node = self._root
        toks: list[Any] = []
        pos = 0
        end = len(text)
        new_token = Token._future_new
        while pos < end:
            m = node.match(text, pos)
            if m is None:
                raise _Fail
            ttype = m.lastgroup
            if ttype in node.ignore:  # as Lark: ignored by the type the regex matched
                if ttype in node.callbacks:
                    node.callbacks[ttype](new_token(ttype, m.group(0), pos, 1, pos + 1))
                pos = m.end()
                continue
            if ttype in node.callbacks:  # keyword collisions: Lark may retype the token
                ttype = node.callbacks[ttype](new_token(ttype, m.group(0), pos, 1, pos + 1)).type
            if ttype not in filtered:
                toks.append((ttype, m.group(0), pos + 1))
            pos = m.end()
            child = node.children.get(ttype)
            node = child if child is not None else self._grow(node, ttype)
        finish = node.finish
        if finish is None:
            finish = self._finish(node)
        return finish(toks)

    def _grow(self, node: "_Shape", ttype: str) -> "_Shape":
        """The child of `node` for one more token of type `ttype` (raises _Fail/KeyError
        where `_parse` would, _Uncached when the cache is full)."""
        if self._shapes >= MAX_SHAPES:
            raise _Uncached
        states, values = list(node.states), list(node.values)
        ntoks = node.ntoks
        if ttype in self._filtered:
            token: Any = []
        else:
            token, ntoks = ntoks, ntoks + 1
        self._feed(states, values, ttype, token)
        child = node.children[ttype] = self._node(states, values, ntoks)
        return child

    def _finish(self, node: "_Shape") -> Callable[[list[Any]], list[Any]]:
        out = self._feed(list(node.states), list(node.values), "$END", None)
        node.finish = _template(out, node.ntoks)
        return node.finish

    def _feed(self, states: list[Any], values: list[Any], ttype: str, token: Any) -> Any:
        """`_parse`'s feed step on symbolic values: a token is its index, a filtered
        token an empty list, a reduced rule a new list (never grown in place: the
        stacks are shared by the trie)."""
        table = self._table
        is_end = token is None
        while True:
            shift, arg = table[states[-1]][ttype]
            if shift:
                if is_end:
                    raise _Fail
                states.append(arg)
                values.append(token)
                return None
            size, marker, origin = arg
            out: list[Any] = [(RULE, marker, 0)] if marker else []
            if size:
                for v in values[-size:]:
                    if type(v) is list:
                        out.extend(v)
                    else:
                        out.append(v)
                del states[-size:]
                del values[-size:]
            states.append(table[states[-1]][origin][1])
            values.append(out)
            if is_end and states[-1] == self._end_state:
                return out

    def _parse(self, text: str) -> list[Tok]:
        table = self._table
        lexers = self._lexers
        filtered = self._filtered
        end_state = self._end_state
        state_stack = [self._start_state]
        value_stack: list[Any] = []
        new_token = Token._future_new  # Token(...) minus its keyword-argument shim
        pos = 0
        end = len(text)
        while True:
            # -- lex one token with the lexer of the current parser state
            match, ignore, lex_callbacks = lexers[state_stack[-1]]
            token: Any = None
            ttype = "$END"
            while pos < end:
                m = match(text, pos)
                if m is None:
                    raise _Fail
                ttype = m.lastgroup
                if ttype in ignore:  # as Lark: ignored by the type the regex matched
                    if ttype in lex_callbacks:
                        lex_callbacks[ttype](new_token(ttype, m.group(0), pos, 1, pos + 1))
                    pos = m.end()
                    ttype = "$END"
                    continue
                if ttype in lex_callbacks:  # keyword collisions: Lark may retype the token
                    ttype = lex_callbacks[ttype](new_token(ttype, m.group(0), pos, 1, pos + 1)).type
                if ttype in filtered:  # punctuation the tree leaves out: no token needed
                    token = _EMPTY
                else:
                    token = (ttype, m.group(0), pos + 1)
                pos = m.end()
                break
            is_end = token is None
            # -- feed it (Lark's feed_token, with flattening instead of callbacks)
            while True:
                shift, arg = table[state_stack[-1]][ttype]
                if shift:
                    if is_end:
                        raise _Fail
                    state_stack.append(arg)
                    value_stack.append([] if token is _EMPTY else token)
                    break
                size, marker, origin = arg
                if size:
                    children = value_stack[-size:]
                    first = children[0]
                    # lists on the stack are this parse's own: grow the first in place
                    if marker is None and type(first) is list:
                        out = first
                    else:
                        out = [(RULE, marker, 0)] if marker else []
                        if type(first) is list:
                            out.extend(first)
                        else:
                            out.append(first)
                    for v in children[1:]:
                        if type(v) is list:
                            out.extend(v)
                        else:
                            out.append(v)
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    out = [(RULE, marker, 0)] if marker else []
                state_stack.append(table[state_stack[-1]][origin][1])
                value_stack.append(out)
                if is_end and state_stack[-1] == end_state:
                    return out
