"""The client format's parse path, piece by piece, against Lark's own parse() as the
baseline measured in the same run.

    .venv/bin/python bench/parse.py [--lines 100000]

(a) Lark LALR `parse()` with the inline FlatTransformer (the reference, no tree),
(b) FastLALR: the same tables and lexers in a tighter loop (parser/lalr.py),
(c) EntryParser.parse end to end: entry splitting, UTF-8, FastLALR, typed values and
column lists. CPU time of this process (the machine is shared), GC paused as in (c).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_client import client_lines  # noqa: E402
from logship.parser import EntryParser, get_format  # noqa: E402
from logship.parser.grammar import compile_lark  # noqa: E402
from logship.parser.lalr import FastLALR, FlatTransformer  # noqa: E402


def rate(fn, items) -> float:
    gc.disable()
    try:
        t = time.process_time()
        for x in items:
            fn(x)
        return len(items) / (time.process_time() - t)
    finally:
        gc.enable()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    data = client_lines(args.lines)
    heads = [ln for ln in data.decode().split("\n") if ln and ln[0] not in " \t"]
    lark = compile_lark(get_format("client").spec, FlatTransformer())
    fast = FastLALR.of(lark)
    a = rate(lark.parse, heads)
    b = rate(fast.parse, heads)
    parser = EntryParser("client", tz="UTC")
    t = time.process_time()
    res = parser.parse(data, 0, True)
    c = res.lines / (time.process_time() - t)
    print(f"{len(heads):,} head lines, {res.lines:,} lines, CPU time, one process")
    print(f"(a) lark.parse + inline transformer  {a:10,.0f} lines/s  x1.00")
    print(f"(b) FastLALR (same tables, lexers)   {b:10,.0f} lines/s  x{b / a:.2f}")
    print(f"(c) EntryParser.parse end to end     {c:10,.0f} lines/s  x{c / a:.2f}")


if __name__ == "__main__":
    main()
