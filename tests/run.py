"""The one way tests run the `logship` command and the process helpers every kit shares.

`logship(...)` runs the command to its end; `logship_cmd(...)` is its argv for a child
that keeps running (collectorkit.CollectorProc, shipkit.ShipperProc, the soak's
fault/procs.py). Both are `python -P -m logship ...` of this interpreter: -P keeps the
working directory off sys.path, so the repository's folders (parser/, store/, cli.py ...)
can never load as top-level modules next to `logship.*`. A test that must run a command
in-process (to monkeypatch it) uses typer's CliRunner on `logship.cli.app` instead.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable

REPO = Path(__file__).resolve().parent.parent

LOGSHIP = (sys.executable, "-P", "-m", "logship")


def logship_cmd(*args: str | Path) -> list[str]:
    """The argv that runs ``logship ARGS`` (for subprocess.Popen)."""
    return [*LOGSHIP, *map(str, args)]


def logship(*args: str | Path, input: str | bytes | None = None, text: bool = True, timeout: float = 60.0,
            cwd: Path = REPO, **kw: Any) -> subprocess.CompletedProcess:
    """Run ``logship ARGS`` to its end; stdout and stderr captured (bytes when input is bytes)."""
    if isinstance(input, bytes):
        text = False
    return subprocess.run(logship_cmd(*args), input=input, capture_output=True, text=text, timeout=timeout,
                          cwd=cwd, **kw)


def url_of(first_line: bytes | str) -> str | None:
    """The collector's URL from its first stdout line, or None when the line is not one."""
    line = (first_line.decode(errors="replace") if isinstance(first_line, bytes) else first_line).strip()
    return line if line.startswith(("http://", "https://")) else None


def read_url(stdout: IO[bytes], log: Path | None = None) -> str:
    """Block until `logship collect` prints its URL (its first line); fail with its log if it
    printed something else or exited."""
    first = stdout.readline()
    url = url_of(first)
    if url is None:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise AssertionError(f"collector printed {first!r}: {tail}")
    return url


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, bool]:
    """Signal the process and reap it; SIGKILL when it outlives ``timeout``.

    Returns (exit code, whether it had to be killed).
    """
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(), True


def wait_for(pred: Callable[[], object], timeout: float = 20.0, what: str = "condition",
             interval: float = 0.1) -> None:
    """Poll ``pred`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
