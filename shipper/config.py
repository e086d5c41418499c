"""The shipper's configuration: one frozen value class, from TOML (tomllib) and options.

Every option has a default and is documented in docs/shipper.md; unknown keys are an
error, so a typo never silently falls back to a default. Sizes accept a number of bytes
or a string with a unit (``"2MiB"``), durations a number of seconds or a string
(``"10m"``). The token is never a config value: it comes from ``token_file`` or the
``LOGSHIP_TOKEN`` environment variable (a command line shows in ``ps``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from logship.kernel.errors import ConfigError
from logship.kernel.protocol import DEFAULT_LIMITS
from logship.kernel.tomlconfig import read_toml
from logship.kernel.units import parse_duration_text, parse_size_text

__all__ = ["ShipperConfig", "load_config", "read_token", "parse_size", "parse_duration", "BACKLOG_POLICIES"]

BACKLOG_POLICIES = ("ask", "always", "never")

def parse_size(name: str, value: Any) -> int:
    """Bytes from an int or a string like ``"2MiB"``/``"512KB"``/``"100"``."""
    if isinstance(value, bool):
        raise ConfigError(f"config key {name!r}: expected a size, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"config key {name!r}: must not be negative, got {value}")
        return value
    if isinstance(value, str) and (size := parse_size_text(value)) is not None:
        return size
    raise ConfigError(f"config key {name!r}: expected a size such as 2097152 or \"2MiB\", got {value!r}")


def parse_duration(name: str, value: Any) -> float:
    """Seconds from a number or a string like ``"10m"``/``"1.5s"``/``"2h"``."""
    if isinstance(value, bool):
        raise ConfigError(f"config key {name!r}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError(f"config key {name!r}: must not be negative, got {value}")
        return float(value)
    if isinstance(value, str) and (seconds := parse_duration_text(value)) is not None:
        return seconds
    raise ConfigError(f"config key {name!r}: expected a duration such as 600 or \"10m\", got {value!r}")


@dataclass(frozen=True)
class ShipperConfig:
    """Everything `logship ship` needs; see docs/shipper.md for each option."""

    collector: str = ""                         # base URL, e.g. http://collector:8787
    client_id: str = ""                         # this machine's id (the token's client id)
    token_file: Path | None = None              # else the LOGSHIP_TOKEN environment variable
    state_dir: Path = Path("logship-state")
    paths: tuple[str, ...] = ()                 # files or globs (`**` recurses)
    log_format: str | None = None               # declared format; None: collector detects
    tz: str = ""                                # IANA zone of the files; "": the local zone
    backlog: str = "ask"                        # ask | always | never
    backlog_after: float = 600.0                # seconds: older data is backlog
    backlog_bytes: int = 2 << 20                # more than this behind is backlog
    max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes
    max_frame_bytes: int = 256 << 10            # payload per data frame (<= protocol max)
    backlog_request_bytes: int = 16 << 20       # uncompressed bytes per /v1/backlog request
    poll_interval: float = 10.0                 # slow poll for file systems without events
    read_interval: float = 0.5                  # fstat of the open files: how soon appends are seen
    rotate_wait: float = 1.0                    # a rotated file quiet this long is final
    head_settle: float = 2.0                    # a file shorter than 1 KiB is named after this quiet time
    reconnect_min: float = 0.5
    reconnect_max: float = 60.0
    checkpoint_interval: float = 1.0            # state.json at most this often
    status_interval: float = 1.0                # status.json at most this often
    delete_acked_after: float = 0.0             # delete fully acked rotated files after this; 0: never
    ask_command: tuple[str, ...] = ()           # run to ask the user about backlog (exit 0: yes)
    ask_interval: float = 3600.0                # after a no: ask again after this (or for more backlog)
    ask_timeout: float = 300.0                  # an ask_command running longer is no answer
    connect_timeout: float = 10.0
    heartbeat: float = 30.0                     # WebSocket ping interval
    log_level: str = "info"

    def stream_url(self) -> str:
        base = self.collector.rstrip("/")
        if base.startswith("http://"):
            base = "ws://" + base[len("http://"):]
        elif base.startswith("https://"):
            base = "wss://" + base[len("https://"):]
        return base + "/v1/stream"

    def http_url(self, path: str) -> str:
        base = self.collector.rstrip("/")
        if base.startswith("ws://"):
            base = "http://" + base[len("ws://"):]
        elif base.startswith("wss://"):
            base = "https://" + base[len("wss://"):]
        return base + path


_FIELDS = {f.name: f for f in fields(ShipperConfig)}
_SIZES = {"backlog_bytes", "max_line_bytes", "max_frame_bytes", "backlog_request_bytes"}
_DURATIONS = {
    "backlog_after", "poll_interval", "read_interval", "rotate_wait", "head_settle", "reconnect_min",
    "reconnect_max", "checkpoint_interval", "status_interval", "delete_acked_after",
    "connect_timeout", "heartbeat", "ask_interval", "ask_timeout",
}
_STRINGS = {"collector", "client_id", "tz", "backlog", "log_level"}


def _coerce(name: str, value: Any) -> Any:
    if name in _SIZES:
        return parse_size(name, value)
    if name in _DURATIONS:
        return parse_duration(name, value)
    if name in ("token_file", "state_dir"):
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"config key {name!r}: expected a path string, got {value!r}")
        return Path(os.path.expanduser(str(value)))
    if name == "paths":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config key 'paths': expected a list of paths or globs, got {value!r}")
        return tuple(value)
    if name == "ask_command":
        if isinstance(value, str):
            value = shlex.split(value)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config key 'ask_command': expected a command line or a list of words, got {value!r}")
        return tuple(value)
    if name == "log_format":
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"config key 'log_format': expected a format name, got {value!r}")
        return value or None
    if name in _STRINGS:
        if not isinstance(value, str):
            raise ConfigError(f"config key {name!r}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"unknown config key {name!r}")  # pragma: no cover - guarded by callers


def _validate(cfg: ShipperConfig, origin: str) -> ShipperConfig:
    if cfg.backlog not in BACKLOG_POLICIES:
        raise ConfigError(f"{origin}: backlog must be one of {', '.join(BACKLOG_POLICIES)}, got {cfg.backlog!r}")
    if not cfg.collector:
        raise ConfigError(f"{origin}: no collector URL (config key 'collector' or --collector)")
    if not re.match(r"^(https?|wss?)://", cfg.collector):
        raise ConfigError(f"{origin}: collector {cfg.collector!r} must start with http:// or https://")
    if not cfg.client_id:
        raise ConfigError(f"{origin}: no client id (config key 'client_id' or --client-id)")
    if not cfg.paths:
        raise ConfigError(f"{origin}: no paths to ship (config key 'paths' or PATH arguments)")
    if not 0 < cfg.max_frame_bytes <= DEFAULT_LIMITS.max_frame_bytes:
        raise ConfigError(f"{origin}: max_frame_bytes must be in 1..{DEFAULT_LIMITS.max_frame_bytes}")
    if cfg.max_line_bytes <= 0:
        raise ConfigError(f"{origin}: max_line_bytes must be positive")
    if cfg.reconnect_min <= 0 or cfg.reconnect_max < cfg.reconnect_min:
        raise ConfigError(f"{origin}: need 0 < reconnect_min <= reconnect_max")
    if cfg.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"{origin}: log_level must be debug, info, warning or error")
    return cfg


def load_config(path: Path | None = None, **overrides: Any) -> ShipperConfig:
    """Read a TOML file (top-level keys only), then apply overrides that are not None."""
    raw: dict[str, Any] = {}
    origin = "options"
    if path is not None:
        origin = str(path)
        raw = read_toml(path)
        unknown = sorted(set(raw) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{path}: unknown config key(s): {', '.join(unknown)}")
    values = {k: _coerce(k, v) for k, v in raw.items()}
    for k, v in overrides.items():
        if k not in _FIELDS:
            raise ConfigError(f"unknown shipper option {k!r}")
        if v is None or (k == "paths" and not v):
            continue
        values[k] = _coerce(k, v)
    return _validate(replace(ShipperConfig(), **values), origin)


def read_token(cfg: ShipperConfig) -> str:
    """The bearer token: first line of token_file, else LOGSHIP_TOKEN."""
    if cfg.token_file is not None:
        try:
            text = cfg.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{cfg.token_file}: cannot read token: {exc.strerror}") from None
        token = text.splitlines()[0].strip() if text else ""
        if not token:
            raise ConfigError(f"{cfg.token_file}: the token file is empty")
        return token
    token = os.environ.get("LOGSHIP_TOKEN", "").strip()
    if not token:
        raise ConfigError("no token: give --token-file (or token_file in the config) or set LOGSHIP_TOKEN")
    return token
