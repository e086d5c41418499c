"""Reading a daemon's TOML config file with one-line errors (both daemons use it).
Unknown keys are checked by each config class: it knows its own fields."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from logship.kernel.errors import ConfigError

__all__ = ["read_toml"]


def read_toml(path: str | Path) -> dict[str, Any]:
    """The file's top-level table; ConfigError naming the file when unreadable or invalid."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
