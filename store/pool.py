"""Parsing in worker processes (context-free formats only), for every core.

Used by ``logship ingest`` (store/fileingest.py) and by the collector's writer
(``Store.ingest_items(..., pool=)``, store/commit.py ``ingest_all``). Workers are forked
(no re-import, no resource-tracker or forkserver process left behind) and started at
once, before the caller opens DuckDB, so no DuckDB thread exists at fork time; a fork
pool never forks again later. Workers get (ParseSpec, bytes, start, final, received_at,
reference) and return a ParsedPiece of Arrow tables, which pickle as buffers; the
writer process only inserts and commits, in order. Workers freeze the start-up heap and
pause the cyclic GC while parsing (measured: the GC dominates when many small objects
stay alive). On Linux a worker dies with its parent (``PR_SET_PDEATHSIG``): a collector
killed with SIGKILL leaves no parser behind.
"""

from __future__ import annotations

import ctypes
import gc
import json
import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from logship.store.parsing import ParsedPiece, ParseSpec, gc_paused, group_rows, make_parser, parse_piece

__all__ = ["ParsePool", "parse_in_worker", "parse_many_in_worker", "call_in_worker"]

# a worker keeps a parser per (format, zone, mtime, path, limit, context); the collector
# sees many sources, so the cache is emptied when it grows past this
MAX_PARSERS = 4096
_PARSERS: dict[tuple[Any, ...], Any] = {}
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this worker when its parent dies (a SIGKILLed collector runs no
    shutdown). Elsewhere a no-op: the executor's workers notice the closed pipe then."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(grammar_dirs: list[str], parent: int) -> None:
    _die_with_parent(parent)
    # the parent handles Ctrl-C and shuts the pool down; a signal must not reach the
    # parent's event loop through a wakeup fd inherited by fork
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    if grammar_dirs:
        from logship.parser import load_user_grammars

        load_user_grammars(grammar_dirs)
    gc.freeze()


def _ready() -> int:
    return os.getpid()


def _parser(spec: ParseSpec) -> Any:
    """This worker's parser for a spec (made once, kept while the cache has room)."""
    key = (spec.log_format, spec.tz, spec.mtime, spec.max_line_bytes, spec.path,
           None if spec.context is None else json.dumps(spec.context, sort_keys=True))
    parser = _PARSERS.get(key)
    if parser is None:
        if len(_PARSERS) >= MAX_PARSERS:
            _PARSERS.clear()
        parser = _PARSERS[key] = make_parser(spec)
    return parser


def parse_in_worker(spec: ParseSpec, data: bytes, start: int, final: bool,
                    received_at: float | None = None, reference: float | None = None,
                    arrow: bool = True) -> ParsedPiece:
    """Parse one segment of a context-free source (one parser per spec, reused).

    ``received_at``, ``reference``: what the in-process parse gets (store/commit.py
    ``Commit.parse``): the receive time standing in for a missing timestamp, and the
    time future dates are checked against (None: the source's mtime). ``arrow``: build
    the Arrow tables here (a big piece), else send the column lists back."""
    parser = _parser(spec)
    parser.reference = spec.mtime if reference is None else reference
    with gc_paused():
        return parse_piece(parser, data, start, final, arrow=arrow, received_at=received_at)


def parse_many_in_worker(jobs: list[tuple[Any, ...]]) -> list[ParsedPiece]:
    """Many small pieces (a fleet's live frames) in one call: the arguments of
    ``parse_in_worker`` each. Their rows come back in ONE Arrow batch built here for the
    whole group (``group_rows``): per-piece tables, or column lists joined and converted
    in the writer's process, cost that one GIL more than the parse (bench/RESULTS.md)."""
    with gc_paused():
        return group_rows([parse_in_worker(*job, arrow=False) for job in jobs])


def call_in_worker(fn: Any, args: tuple[Any, ...]) -> Any:
    """``fn(*args)`` in a worker with the cyclic GC paused, as parsing is: the
    collector's intakes render a payload into lines here (collector/intake/offload.py),
    off the event loop's core."""
    with gc_paused():
        return fn(*args)


class ParsePool:
    """A process pool of ``workers`` parsers; always use it as a context manager (or
    ``close`` it) so the workers are shut down (tests fail on leaked child processes).

    Once a worker died (``BrokenProcessPool``) the pool is ``broken`` for good: a fork
    pool cannot start a new worker safely once the caller opened DuckDB, so callers
    parse in their own process from then on (store/commit.py)."""

    def __init__(self, workers: int = 2, grammar_dirs: list[Path] | tuple[Path, ...] = ()) -> None:
        self.workers = workers
        self.broken = False
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=([str(d) for d in grammar_dirs], os.getpid()),
        )
        # A fork pool starts all its workers on the first submit: do it now, while the
        # caller has not opened DuckDB yet (store/fileingest.py, collector/server.py).
        self.executor.submit(_ready).result()

    def submit(self, spec: ParseSpec, data: bytes, start: int, final: bool,
               received_at: float | None = None, reference: float | None = None) -> Future[ParsedPiece]:
        return self.executor.submit(parse_in_worker, spec, data, start, final, received_at, reference)

    def submit_many(self, jobs: list[tuple[Any, ...]]) -> Future[list[ParsedPiece]]:
        """Small pieces in one worker call (``parse_many_in_worker``)."""
        return self.executor.submit(parse_many_in_worker, jobs)

    def submit_call(self, fn: Any, *args: Any) -> Future[Any]:
        """``fn(*args)`` in a worker (``call_in_worker``): ``fn`` is a module-level
        function (pickled by name), its arguments, result and exceptions must pickle."""
        return self.executor.submit(call_in_worker, fn, args)

    def pids(self) -> list[int]:
        """The worker processes' ids (tests, /metrics)."""
        procs = getattr(self.executor, "_processes", None) or {}
        return [p.pid for p in list(procs.values()) if p.pid is not None]

    def live(self) -> int:
        """Workers alive and usable: 0 once the pool is broken or closed (any thread)."""
        if self.broken or getattr(self.executor, "_broken", False):
            return 0
        procs = getattr(self.executor, "_processes", None) or {}
        try:
            return sum(1 for p in list(procs.values()) if p.is_alive())
        except RuntimeError:  # the executor's thread changed the dict meanwhile: it is breaking
            return 0

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(cancel=exc_type is not None)
