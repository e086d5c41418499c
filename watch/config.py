"""The watchdog's configuration: one frozen value class with named defaults.

Every option is documented in docs/watch.md; `logship watch` builds it from its
options and hands it, as JSON, to the lean ``python -P -m logship.watch.main`` process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from logship.kernel.errors import ConfigError

__all__ = ["WatchConfig"]


@dataclass(frozen=True)
class WatchConfig:
    log_dir: Path
    command: tuple[str, ...] = ()          # the app to start, or
    pid: int | None = None                 # the running app to attach to
    interval: float = 1.0                  # seconds between samples
    max_interval: float = 60.0             # the longest interval "measure less" may reach
    children: bool = False                 # sum the app's child processes into its sample
    app_version: str | None = None         # written in `session start`
    log_name: str = "app.log"
    rotate_bytes: int = 10 << 20           # rename rotation of the log file at this size
    keep_for: float = 7 * 86400.0          # retention: rotated files older than this go
    keep_bytes: int = 100 << 20            # retention: the directory's total size cap
    shipper_state: Path | None = None      # the shipper's state directory (status.json)
    lag_seconds: float = 300.0             # shipper lag beyond this: sample half as often
    busy_load: float = 2.0                 # load average per core beyond this: half as often (0: off)
    event_rate: float = 200.0              # app events a second (token bucket) ...
    event_burst: int = 1000                # ... and its burst; the rest are counted, not written
    udp: bool = False                      # events over UDP on 127.0.0.1 even where Unix sockets exist

    def __post_init__(self) -> None:
        if bool(self.command) == (self.pid is not None):
            raise ConfigError("give a command (after --) or --pid, not both and not neither")
        if not self.interval > 0:
            raise ConfigError(f"--interval must be positive, got {self.interval}")
        if self.rotate_bytes < 0 or self.keep_bytes < 0 or self.keep_for < 0:
            raise ConfigError("sizes and durations must not be negative")
        if self.event_rate <= 0 or self.event_burst < 1:
            raise ConfigError("event_rate must be positive and event_burst at least 1")

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "WatchConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise ConfigError(f"unknown watch option(s): {', '.join(unknown)}")
        doc = dict(doc)
        for k in ("log_dir", "shipper_state"):
            if doc.get(k) is not None:
                doc[k] = Path(doc[k])
        if "command" in doc:
            doc["command"] = tuple(doc["command"])
        return cls(**doc)
