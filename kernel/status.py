"""The shipper's status file: its name, its shape, and how to read it.

In the kernel because its readers are not the shipper: the CLI, the watchdog and the app.

``status.json`` in the state directory, written atomically at most once a second by
the daemon, read by ``logship ship --status``, ``logship backlog``, the watchdog (to
sample less often when the collector asks it or the shipper lags, and to delete only
rotated files whose source id is in ``acked_sources``) and the app (to ask its user
for consent).

Shape (all times are Unix seconds)::

    {"version": 1, "updated_at": ..., "pid": ..., "client_id": ..., "collector": ...,
     "connection": {"state": "connected|connecting|down", "since": ..., "last_error": ...,
                    "reconnects": N},
     "files": [{"path", "source_id", "sid", "size", "acked", "lag_bytes", "lag_seconds",
                "missed_bytes", "final"}],
     "backlog": {"policy": "ask|always|never", "pending_files": N, "pending_bytes": N,
                 "approved_bytes": N, "oldest": t|null, "segments": [{"id", "path", "bytes", "oldest", "status"}]},
     "consent": "none_needed|needed|given",
     "ask": {"asking": bool, "answer": "yes|no|failed"|null, "at": t|null},  # the last ask_command
     "missed_bytes_total": N,
     "slow_down": F,           # the collector's last slow-down factor (1: none; docs/protocol.md)
     "slow_down_since": t|null,  # when it last changed
     "acked_sources": [source_id, ...],  # sources committed to their end (FINAL acked)
     "state_error": "..."|null,  # why state.json cannot be written now (a full disk, EIO)
     "unsettled_files": N}     # files < 1 KiB still growing, not named (nor shipped) yet
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from logship.kernel.errors import LogshipError

__all__ = ["STATUS_FILE", "STATUS_VERSION", "StatusError", "read_status"]

STATUS_FILE = "status.json"
STATUS_VERSION = 1


class StatusError(LogshipError):
    """No readable status file: the shipper has not run with this state directory."""


def read_status(state_dir: Path) -> dict[str, Any]:
    path = Path(state_dir) / STATUS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StatusError(f"{path}: no status file (has the shipper run with --state-dir {state_dir}?)") from None
    except (OSError, ValueError) as exc:
        raise StatusError(f"{path}: unreadable status file: {exc}") from None
    if not isinstance(doc, dict):
        raise StatusError(f"{path}: status file is not a JSON object")
    return doc
