"""Entry of ``python -P -m logship.watch.main --config-json JSON``, what `logship watch` execs.

The CLI framework stays out of the watchdog's memory (it runs for as long as the app
does, on users' desktops): `logship watch` checks its options, then replaces itself
(same pid, so signals sent to it reach the watchdog) with this lean entry.
"""

from __future__ import annotations

import json
import os
import sys

from logship.kernel.errors import LogshipError

from .config import WatchConfig

__all__ = ["exec_watch", "main"]


def exec_watch(cfg: WatchConfig) -> None:
    """Replace this process with the lean watchdog (same pid)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-P", "-m", "logship.watch.main", "--config-json",
                              json.dumps(cfg.to_json())])


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -P -m logship.watch.main")
    ap.add_argument("--config-json", required=True)
    args = ap.parse_args(argv)
    try:
        from .watchdog import Watchdog

        cfg = WatchConfig.from_json(json.loads(args.config_json))
        return Watchdog(cfg).run()
    except LogshipError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
