"""The session file: which session the watched app is in, so a restarted watchdog
attached with ``--pid`` continues it instead of starting a new one.

``<log-dir>/.watch-session.json`` holds ``{"pid", "create_time", "started_since_boot",
"session_id"}``; it is
written when a session starts and removed when its end mark is written. A watchdog
killed with SIGKILL leaves it behind: a new run on the same live process (same pid and
start time) resumes the session; anything else starts a new one, and the old session,
without an end mark, is closed as lost by the store's rules.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from logship.kernel.procstart import same_start, start_mark

__all__ = ["SESSION_FILE", "load_session", "save_session", "drop_session"]

SESSION_FILE = ".watch-session.json"


def load_session(log_dir: Path, pid: int, create_time: float, boot_time: float) -> str | None:
    """The session id recorded for this very process (its start matched as
    kernel/procstart.py does: also after the wall clock was stepped), or None."""
    try:
        doc = json.loads((log_dir / SESSION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("pid") != pid:
        return None
    recorded = {"started": doc.get("create_time"), "started_since_boot": doc.get("started_since_boot")}
    if not same_start(recorded, create_time, boot_time, 0.01):
        return None
    sid = doc.get("session_id")
    return sid if isinstance(sid, str) and len(sid) == 16 else None


def save_session(log_dir: Path, pid: int, create_time: float, boot_time: float, session_id: str) -> None:
    path = log_dir / SESSION_FILE
    tmp = path.with_name(path.name + ".tmp")
    since_boot = start_mark(create_time, boot_time)["started_since_boot"]
    tmp.write_text(json.dumps({"pid": pid, "create_time": create_time, "started_since_boot": since_boot,
                               "session_id": session_id}), encoding="utf-8")
    os.replace(tmp, path)


def drop_session(log_dir: Path) -> None:
    (log_dir / SESSION_FILE).unlink(missing_ok=True)
