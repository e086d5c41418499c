"""Loading format grammars: the `// directive: value` header of a .lark file, and the
compiled Lark LALR parser, cached per process.

A .lark file is a format when its leading comment block has a `// format: NAME` line.
Its other directives (grammars/README.md lists them all) are read here into a
`GrammarSpec`; unknown directives are an error, so a typo cannot silently change a
format. Comments after the first grammar line are free text.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from lark import Lark, Transformer
from lark.exceptions import LarkError

from .errors import GrammarError

__all__ = ["GrammarSpec", "read_spec", "compile_lark", "builtin_grammar_dir", "DIRECTIVES"]

_DIRECTIVE = re.compile(r"^//\s*([a-z_]+(?: [a-z_]+)?):\s?(.*)$")

# directive -> (meaning, repeatable)
DIRECTIVES: dict[str, tuple[str, bool]] = {
    "format": ("the format's name (makes the file a format)", False),
    "description": ("one line for `logship formats`", False),
    "sample": ("a line the format must parse (repeatable; at least one)", True),
    "sample_reject": ("a line the format must NOT parse (repeatable)", True),
    "transformer": ("`generic` (default), a shipped name, or `package.module:Class`", False),
    "continuation": ("`indent` (lines starting with space/tab join the entry above) or `none`", False),
    "head": ("terminals an entry's first line starts with, in order; other lines join the entry above", False),
    "context_free": ("`true` when entries parse independently (parallel parsing allowed)", False),
    "detect_priority": ("higher is tried first in detection (more specific formats)", False),
    "detect_requires": ("terminals a line must hold (not `-`, not a level word) to count in detection", False),
    "time": ("`received`: the receive time stands in for a missing timestamp; `previous`: the entry above's", False),
    "event": ("the event name when a line has no NAME/EVENT terminal", False),
    "metric_prefix": ("prefix of metric names from METRIC_ terminals (default: the event name)", False),
    "level": ("the level of lines that carry none (e.g. INFO for access logs)", False),
    "unit NAME": ("the unit of METRIC_NAME values given as bare numbers (seconds, bytes, percent)", False),
    "level_map": ("`from=TO ...` level translations (e.g. syslog severities)", False),
    "key timestamp": ("JSON lines: keys holding the timestamp, first found wins", False),
    "key level": ("JSON lines: keys holding the level", False),
    "key message": ("JSON lines: keys holding the message", False),
    "key name": ("JSON lines: keys holding the event name", False),
    "key session": ("JSON lines: keys holding the session id", False),
}


@dataclass(frozen=True)
class GrammarSpec:
    """What a .lark file declares about itself (its header directives) and its text."""

    name: str
    path: Path
    text: str
    description: str = ""
    samples: tuple[str, ...] = ()
    sample_rejects: tuple[str, ...] = ()
    transformer: str = "generic"
    continuation: str = "none"
    context_free: bool = True
    detect_priority: int = 0
    detect_requires: tuple[str, ...] = ()
    time: str = "line"  # line | received | previous: what stands in for a missing timestamp
    head: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)


def builtin_grammar_dir() -> Path:
    """The shipped grammars/ package directory (importlib.resources)."""
    return Path(str(files("logship.grammars")))


def read_spec(path: Path) -> GrammarSpec | None:
    """The spec of a .lark file, or None when it declares no `// format:` (a library
    like common.lark). Raises GrammarError for bad directives."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"{path}: cannot read grammar: {exc}") from None
    found: dict[str, Any] = {}
    samples: list[str] = []
    rejects: list[str] = []
    unknown: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("//"):
            break  # directives live in the leading comment block; later comments are free
        m = _DIRECTIVE.match(line)
        if m is None:
            continue
        key, value = m.group(1), m.group(2)
        if key.startswith("unit "):
            if value.strip() not in ("seconds", "bytes", "percent"):
                unknown.append((lineno, f"{key} (unit must be seconds, bytes or percent)"))
        elif key not in DIRECTIVES:
            if " " not in key or key.startswith("key "):  # `// note that: ...` is a comment
                unknown.append((lineno, key))
            continue
        if key == "sample":
            samples.append(value)
        elif key == "sample_reject":
            rejects.append(value)
        elif key in found:
            raise GrammarError(f"{path}:{lineno}: directive {key!r} given twice")
        else:
            found[key] = value.strip()
    if "format" not in found:
        return None
    name = found.pop("format")
    if unknown:
        lineno, key = unknown[0]
        raise GrammarError(f"{path}:{lineno}: unknown directive {key!r} "
                           f"(known: {', '.join(sorted(DIRECTIVES))})")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise GrammarError(f"{path}: format name {name!r} must be lower-case [a-z0-9_]")
    if not samples:
        raise GrammarError(f"{path}: format {name!r} has no `// sample:` line")
    cont = found.pop("continuation", "none")
    if cont not in ("indent", "none"):
        raise GrammarError(f"{path}: continuation must be `indent` or `none`, not {cont!r}")
    cf = found.pop("context_free", "true")
    if cf not in ("true", "false"):
        raise GrammarError(f"{path}: context_free must be `true` or `false`, not {cf!r}")
    head = tuple(found.pop("head", "").split())
    if head and cont == "indent":
        raise GrammarError(f"{path}: `head:` and `continuation: indent` exclude each other")
    bad = [t for h in head for t in h.removesuffix("?").split("|") if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", t)]
    if bad:
        raise GrammarError(f"{path}: head: {bad[0]!r} is not a terminal name (upper case)")
    try:
        prio = int(found.pop("detect_priority", "0"))
    except ValueError:
        raise GrammarError(f"{path}: detect_priority must be an integer") from None
    time = found.pop("time", "line")
    if time not in ("line", "received", "previous"):
        raise GrammarError(f"{path}: time must be `received` or `previous`, not {time!r}")
    requires = tuple(found.pop("detect_requires", "").split())
    bad = [t for t in requires if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", t)]
    if bad:
        raise GrammarError(f"{path}: detect_requires names terminals (upper case), not {bad[0]!r}")
    return GrammarSpec(
        name=name, path=path, text=text,
        description=found.pop("description", ""),
        samples=tuple(samples), sample_rejects=tuple(rejects),
        transformer=found.pop("transformer", "generic"),
        continuation=cont, context_free=cf == "true", detect_priority=prio,
        detect_requires=requires, time=time, head=head,
        options=found,
    )


_CACHE: dict[tuple[str, str, type], Lark] = {}


def compile_lark(spec: GrammarSpec, transformer: Transformer | None) -> Lark:
    """The LALR parser of a grammar, with `transformer` run inline (no tree).

    Cached per process by (path, text, transformer class): a worker process compiles
    each grammar once, and EntryParser construction after the first is cheap.
    """
    key = (str(spec.path), spec.text, type(transformer))
    lark = _CACHE.get(key)
    if lark is not None:
        return lark
    import_paths = [str(spec.path.parent)]
    builtin = str(builtin_grammar_dir())
    if builtin not in import_paths:
        import_paths.append(builtin)
    try:
        lark = Lark(spec.text, parser="lalr", lexer="contextual", transformer=transformer,
                    import_paths=import_paths, source_path=str(spec.path),
                    propagate_positions=False, maybe_placeholders=False,
                    cache=_cache_file(spec, transformer, import_paths))
    except LarkError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GrammarError(f"{spec.path}: grammar does not load: {first}") from None
    if not hasattr(lark, "ignore_tokens"):  # loaded from the cache, which leaves it out
        lark.ignore_tokens = list(lark.lexer_conf.ignore)
    bind = getattr(transformer, "bind", None)
    if bind is not None:
        bind(lark)
    _CACHE[key] = lark
    return lark


def _cache_file(spec: GrammarSpec, transformer: Transformer | None, import_paths: list[str]) -> str | bool:
    """Where Lark keeps the analysed parser of a shipped grammar between processes
    (`Lark(cache=...)`: loading it takes ~1/4 of analysing the grammar again, and
    every command's detection loads all the shipped grammars), or False: no cache.

    Only shipped grammars (a fixed set: the directory cannot grow with user files);
    the name hashes everything the parser depends on (the grammar's text and path, the
    transformer class, the import paths, the Lark and Python versions), and Lark checks
    the hashes of the grammar and of the files it imports again on load (a stale or
    damaged file is analysed again and rewritten). `LOGSHIP_GRAMMAR_CACHE=0` turns it off."""
    if os.environ.get("LOGSHIP_GRAMMAR_CACHE", "1") == "0":
        return False
    if spec.path.parent.resolve() != builtin_grammar_dir().resolve():
        return False
    where = cache_dir()
    if where is None:
        return False
    import lark as lark_module

    key = "\0".join([spec.text, str(spec.path), type(transformer).__module__, type(transformer).__qualname__,
                      *import_paths, lark_module.__version__, sys.version])
    return str(where / f"{spec.name}-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}.lark")


@functools.cache
def cache_dir() -> Path | None:
    """The grammar cache directory, `$XDG_CACHE_HOME/logship/grammars` (default
    `~/.cache/...`), made private to this user; None when it cannot be made or is not
    this user's alone (its files are pickles: nobody else may write them)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    where = Path(base) / "logship" / "grammars"
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = where.stat()
        if (hasattr(os, "getuid") and st.st_uid != os.getuid()) or st.st_mode & 0o022:
            return None
    except OSError:
        return None
    return where
