"""The registry of log formats: the shipped .lark files in grammars/ plus any user
directories (`--grammar-dir`), each file one format (grammars/README.md).

`get_format(name)` and `list_formats()` use a process-wide default registry; CLI
commands call `load_user_grammars(dirs)` once to add user directories to it. A
`LogFormat` is picklable (it carries its grammar text), so store/ can hand one to
worker processes, which then need no registry of their own.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

from lark import Lark

from .batch import ParsedBatch
from .errors import GrammarError, UnknownFormatError
from .grammar import GrammarSpec, builtin_grammar_dir, compile_lark, read_spec

__all__ = [
    "EntryHandler",
    "LogFormat",
    "FormatRegistry",
    "get_format",
    "list_formats",
    "load_user_grammars",
    "default_registry",
    "HANDLERS",
    "UNKNOWN",
]


class EntryHandler(Protocol):
    """Turns one entry into records. One per EntryParser; may keep context (dates)."""

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch,
               offset: int) -> tuple[str, str] | None:
        """Append the entry's records to `batch`, or return (error_code, error)."""

    def context(self) -> dict[str, Any]:
        """JSON-serialisable state for resuming the source later."""


def _client() -> type:
    from .client import ClientHandler
    return ClientHandler


def _generic() -> type:
    from .generic import GenericHandler
    return GenericHandler


def _json() -> type:
    from .jsonl import JsonHandler
    return JsonHandler


def _stanza() -> type:
    from .stanza import StanzaHandler
    return StanzaHandler


def _unknown() -> type:
    from .unknown import UnknownHandler
    return UnknownHandler


# Named Python transformers a grammar may ask for with `// transformer: NAME`.
HANDLERS = {"client": _client, "generic": _generic, "json": _json, "stanza": _stanza, "unknown": _unknown}

UNKNOWN = "unknown"  # the format of a source detection could not tell (parser/unknown.py)


def resolve_handler(name: str) -> type:
    """A handler class by shipped name or `package.module:Class` (user code)."""
    if name in HANDLERS:
        return HANDLERS[name]()
    mod, sep, cls = name.partition(":")
    if not sep:
        raise GrammarError(f"unknown transformer {name!r} (shipped: {', '.join(HANDLERS)}; "
                           f"or give `package.module:Class`)")
    try:
        return getattr(importlib.import_module(mod), cls)
    except (ImportError, AttributeError) as exc:
        raise GrammarError(f"transformer {name!r} cannot be imported: {exc}") from None


@dataclass(frozen=True)
class LogFormat:
    """One log format: its grammar spec and how to make an entry handler for it."""

    spec: GrammarSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def samples(self) -> tuple[str, ...]:
        return self.spec.samples

    @property
    def context_free(self) -> bool:
        """True when entries parse independently: chunks may go to worker processes."""
        return self.spec.context_free

    @property
    def continuation(self) -> str:
        return self.spec.continuation

    @property
    def head(self) -> tuple[str, ...]:
        """The `head:` terminals (empty: the format does not group lines by head)."""
        return self.spec.head

    def head_regex(self) -> re.Pattern[bytes] | None:
        """The pattern an entry's first line starts with (`head:`), or None.

        Built from the compiled grammar's own terminal patterns, in the `head:` order
        (`A|B`: either, `A?`: optional), separated by optional spaces/tabs, so the grammar stays the one source of truth.
        Raises GrammarError for an unknown terminal or a pattern that bytes cannot hold.
        """
        if not self.spec.head:
            return None
        key = (str(self.spec.path), self.spec.text)
        pat = _HEADS.get(key)
        if pat is None:
            pat = _HEADS[key] = _head_regex(self.spec, self.lark())
        return pat

    @property
    def detect_priority(self) -> int:
        return self.spec.detect_priority

    @property
    def detect_requires(self) -> tuple[str, ...]:
        return self.spec.detect_requires

    @property
    def path(self) -> Path:
        return self.spec.path

    def lark(self) -> Lark | None:
        """The compiled LALR parser (cached per process), or None for non-Lark formats."""
        cls = resolve_handler(self.spec.transformer)
        tcls = getattr(cls, "transformer_class", None)
        if tcls is None:
            return None
        return compile_lark(self.spec, tcls())

    def fast_path(self) -> str:
        """`compiled` when the grammar's lines go through the compiled regex first
        (parser/compiled.py), `lalr (<reason>)` when they run on the LALR path alone,
        `own parser` for a format without a Lark grammar."""
        from .compiled import compile_status

        return compile_status(self.lark())

    def handler(self, tz: tzinfo, mtime: float | None, context: dict[str, Any] | None,
                path: str | None = None) -> EntryHandler:
        cls = resolve_handler(self.spec.transformer)
        return cls(self.spec, self.lark(), tz, mtime, context, path)


_HEADS: dict[tuple[str, str], re.Pattern[bytes]] = {}


def _head_regex(spec: GrammarSpec, lark: Lark | None) -> re.Pattern[bytes]:
    if lark is None:
        raise GrammarError(f"{spec.path}: `head:` needs a Lark grammar (transformer {spec.transformer!r} has none)")
    parts = []
    for alternatives in spec.head:  # `A|B`: either terminal at this place; `A?`: optional
        optional = alternatives.endswith("?")
        alts = []
        for name in alternatives.removesuffix("?").split("|"):
            try:
                term = lark.get_terminal(name)
            except KeyError:
                raise GrammarError(f"{spec.path}: head: the grammar has no terminal {name!r}") from None
            alts.append(term.pattern.to_regexp())
        parts.append("(?:" + "|".join(f"(?:{a})" for a in alts) + ")" + ("?" if optional else ""))
    text = "[ \\t]*".join(parts)
    try:
        return re.compile(text.encode("utf-8"))
    except (re.error, UnicodeEncodeError) as exc:
        raise GrammarError(f"{spec.path}: head: the terminals' patterns do not make a regex: {exc}") from None


class FormatRegistry:
    """Formats by name: the shipped grammars, then user directories (later ones win,
    so a user may override a shipped format with a fixed grammar of the same name)."""

    def __init__(self, dirs: Sequence[str | Path] = (), include_builtin: bool = True) -> None:
        self._formats: dict[str, LogFormat] = {}
        self.dirs: list[Path] = []
        self._formats[UNKNOWN] = LogFormat(GrammarSpec(
            name=UNKNOWN, path=Path(UNKNOWN), text="", transformer="unknown",
            description="a source whose format could not be detected: every entry a reject"))
        if include_builtin:
            self._load_dir(builtin_grammar_dir())
        for d in dirs:
            self.add_dir(d)

    def add_dir(self, directory: str | Path) -> None:
        d = Path(directory)
        if not d.is_dir():
            raise GrammarError(f"grammar directory {d} does not exist")
        self.dirs.append(d)
        self._load_dir(d)

    def add_file(self, path: str | Path) -> LogFormat:
        spec = read_spec(Path(path))
        if spec is None:
            raise GrammarError(f"{path}: not a format (no `// format: NAME` line)")
        if spec.name == UNKNOWN:
            raise GrammarError(f"{path}: the format name {UNKNOWN!r} is reserved")
        fmt = LogFormat(spec)
        self._formats[spec.name] = fmt
        return fmt

    def _load_dir(self, d: Path) -> None:
        for p in sorted(d.glob("*.lark")):
            spec = read_spec(p)
            if spec is not None and spec.name != UNKNOWN:
                self._formats[spec.name] = LogFormat(spec)

    def get(self, name: str) -> LogFormat:
        try:
            return self._formats[name]
        except KeyError:
            raise UnknownFormatError(
                f"unknown log format {name!r} (known: {', '.join(sorted(self._formats))})"
            ) from None

    def formats(self) -> list[LogFormat]:
        """All formats, most specific first (detect_priority, then name); not `unknown`."""
        return sorted((f for f in self._formats.values() if f.name != UNKNOWN), key=lambda f: (-f.detect_priority, f.name))

    def __contains__(self, name: object) -> bool:
        return name in self._formats


_default: FormatRegistry | None = None


def default_registry() -> FormatRegistry:
    global _default
    if _default is None:
        _default = FormatRegistry()
    return _default


def load_user_grammars(dirs: Iterable[str | Path]) -> FormatRegistry:
    """Add user grammar directories (`--grammar-dir`) to the process-wide registry."""
    reg = default_registry()
    for d in dirs:
        if Path(d) not in reg.dirs:
            reg.add_dir(d)
    return reg


def head_regex_of(name: str | None, registry: FormatRegistry | None = None) -> re.Pattern[bytes] | None:
    """The entry-head pattern of format `name` when it declares `head:`, else None (also for
    no name or a name not known here: whoever parses reports that, once). Cutters of a
    stream into pieces cut only before a head line, so no piece starts inside an entry."""
    if name is None:
        return None
    try:
        return get_format(name, registry).head_regex()
    except (UnknownFormatError, GrammarError):
        return None


def get_format(name: str, registry: FormatRegistry | None = None) -> LogFormat:
    """The format called `name` (raises UnknownFormatError)."""
    return (registry or default_registry()).get(name)


def list_formats(registry: FormatRegistry | None = None) -> list[LogFormat]:
    """All formats, most specific first (the order detection tries them in)."""
    return (registry or default_registry()).formats()
