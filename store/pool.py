"""Parsing in worker processes (context-free formats only), for both cores.

Workers are forked (no re-import, no resource-tracker or forkserver process left
behind) and started at once, before the caller opens DuckDB, so no DuckDB thread exists
at fork time. Workers get (ParseSpec, bytes, start, final) and return a ParsedPiece of Arrow tables,
which pickle as buffers; the writer process only inserts and commits, in order.
Workers freeze the start-up heap and pause the cyclic GC while parsing (measured:
the GC dominates when many small objects stay alive).
"""

from __future__ import annotations

import gc
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from logship.store.parsing import ParsedPiece, ParseSpec, gc_paused, make_parser, parse_piece

__all__ = ["ParsePool", "parse_in_worker"]

_PARSERS: dict[tuple[str, str, float | None, int], Any] = {}


def _init_worker(grammar_dirs: list[str]) -> None:
    if grammar_dirs:
        from logship.parser import load_user_grammars

        load_user_grammars(grammar_dirs)
    gc.freeze()


def _ready() -> int:
    return 0


def parse_in_worker(spec: ParseSpec, data: bytes, start: int, final: bool) -> ParsedPiece:
    """Parse one segment of a context-free source (one parser per spec, reused)."""
    key = (spec.log_format, spec.tz, spec.mtime, spec.max_line_bytes)
    parser = _PARSERS.get(key)
    if parser is None:
        parser = _PARSERS[key] = make_parser(spec)
    with gc_paused():
        return parse_piece(parser, data, start, final)


class ParsePool:
    """A process pool of ``workers`` parsers; always use it as a context manager so the
    workers are shut down (tests fail on leaked child processes)."""

    def __init__(self, workers: int = 2, grammar_dirs: list[Path] | tuple[Path, ...] = ()) -> None:
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=([str(d) for d in grammar_dirs],),
        )
        # A fork pool starts all its workers on the first submit: do it now, while the
        # caller has not opened DuckDB yet (store/fileingest.py creates the pool first).
        self.executor.submit(_ready).result()

    def submit(self, spec: ParseSpec, data: bytes, start: int, final: bool):
        return self.executor.submit(parse_in_worker, spec, data, start, final)

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(cancel=exc_type is not None)
