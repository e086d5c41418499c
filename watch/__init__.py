"""The client watchdog (`logship watch`): runs beside the desktop app and turns what
happens to it into client-format log lines that the shipper ships like any other log.

Not named `watchdog`: that is the file-events library the shipper depends on.
Layers: kernel <- client-log writer (logship.clientlog) <- this package. It imports
neither duckdb, pyarrow nor lark. docs/watch.md is its contract; ``emit.py`` is the
stdlib-only helper an app copies in to send events.
"""

from logship.watch.config import WatchConfig

__all__ = ["WatchConfig"]
