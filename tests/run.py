"""The one way tests run the `logship` command: a child `python -P -m logship ...` of this
interpreter, from the repository root.

-P keeps the working directory off sys.path, so the repository's folders (parser/, store/,
cli.py ...) can never load as top-level modules next to `logship.*`. A test that must
run the command in-process uses typer's CliRunner on `logship.cli.app` instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# argv of the command; for a long-running child (Popen) append the arguments.
LOGSHIP = (sys.executable, "-P", "-m", "logship")


def logship_cmd(*args: str | Path) -> list[str]:
    """The argv that runs ``logship ARGS`` (for subprocess.Popen)."""
    return [*LOGSHIP, *map(str, args)]


def logship(*args: str | Path, input: str | bytes | None = None, text: bool = True, timeout: float = 60.0,
            cwd: Path = REPO, **kw: Any) -> subprocess.CompletedProcess:
    """Run ``logship ARGS`` to its end; stdout and stderr captured (text unless text=False)."""
    if isinstance(input, bytes):
        text = False
    return subprocess.run(logship_cmd(*args), input=input, capture_output=True, text=text, timeout=timeout,
                          cwd=cwd, **kw)
