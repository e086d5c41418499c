"""Near-miss lines for differential tests: a valid line with one to three characters
deleted, inserted or replaced, so two parsers are compared where they are most likely
to disagree (just outside what a grammar accepts)."""

from __future__ import annotations

import random

__all__ = ["mutate"]


def mutate(line: str, rnd: random.Random, inserts: str = ' =%."\\-:aZ09\tB', replaces: str = ' =%."x') -> str:
    chars = list(line)
    for _ in range(rnd.randint(1, 3)):
        op = rnd.random()
        i = rnd.randrange(len(chars) + 1)
        if op < 0.4 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op < 0.8:
            chars.insert(i, rnd.choice(inserts))
        elif chars:
            chars[min(i, len(chars) - 1)] = rnd.choice(replaces)
    return "".join(chars)
