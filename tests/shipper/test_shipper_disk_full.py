"""The shipper on a full disk: a real shipper process whose state directory is a 1 MiB
tmpfs, filled with a filler file, against a real collector (whose database is elsewhere).

It must keep running and shipping, say why state.json is not written (one log line per
episode, `state_error` in status.json once that fits), keep the last good state.json,
leave no temp file, survive a kill -9 meanwhile (the collector's ranges deduplicate), and
write its state again once space returns. Needs root (mount); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable


from tests.diskkit import Filler, tmpfs_or_skip
from tests.shipkit import Collector, ShipperProc, line, wait_for

FILES = 4          # four sources: state.json (a 1 KiB head each, base64) needs two 4 KiB pages
LINES = 20         # lines per file per round: > 1 KiB, so each head settles
PAGE = 4096


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def status(state: Path) -> dict:
    try:
        return json.loads((state / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def saved_ends(state: Path) -> dict[str, int]:
    """path -> committed end of its first range, as state.json on disk says."""
    try:
        doc = json.loads((state / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return {s["path"]: (s["ranges"][0][1] if s["ranges"] else 0) for s in doc["sources"]}


def all_acked(st: dict, paths: list[Path]) -> bool:
    by_path = {f["path"]: f for f in st.get("files", [])}
    return all(by_path.get(str(p), {}).get("acked") == p.stat().st_size for p in paths)


def count(log: Path, *needles: str) -> int:
    return sum(1 for ln in log.read_text(errors="replace").splitlines() if all(n in ln for n in needles))


def run_scenario(ship: ShipperProc, state: Path, paths: list[Path], shipper_log: Path,
                 write_round: Callable[[], None]) -> None:
    def saved_all() -> bool:
        return saved_ends(state) == {str(p): p.stat().st_size for p in paths}

    def alive() -> bool:
        return ship.proc is not None and ship.proc.poll() is None

    write_round()
    # 1) all is well: state.json records every file as committed
    wait_for(saved_all, 30, "state saved")
    good = (state / "state.json").read_bytes()
    assert len(good) > PAGE, "state.json must need two pages for step 3 to be deterministic"

    # 2) the disk is full: the shipper keeps shipping, logs it once, keeps the old file
    filler = Filler(state)
    filler.fill()
    write_round()
    wait_for(lambda: count(shipper_log, "cannot write", "state.json", "No space left on device") >= 1,
             20, "the shipper to log the failed state write")
    wait_for(lambda: count(shipper_log, "cannot write", "status.json", "No space left on device") >= 1,
             20, "the shipper to log the failed status write")
    assert alive(), "the shipper exited on a full disk"
    assert (state / "state.json").read_bytes() == good
    assert temp_files(state) == []

    # 3) one page free: the tiny status fits and says why the state is not saved
    os.truncate(filler.path, filler.path.stat().st_size - PAGE)
    wait_for(lambda: "No space left on device" in (status(state).get("state_error") or "")
             and all_acked(status(state), paths), 20, "status.json to report state_error")
    assert alive()
    assert (state / "state.json").read_bytes() == good, "unsaved offsets claimed as saved"
    assert temp_files(state) == []
    assert count(shipper_log, "cannot write", "state.json") == 1, "one line per episode, not a flood"
    assert count(shipper_log, "cannot write", "status.json") == 1
    assert count(shipper_log, "status.json: written again") == 1

    # 4) kill -9 while the disk is still full; the restart resends from the old state,
    #    the collector's committed ranges deduplicate
    ship.stop(kill=True)
    ship.start()
    write_round()
    wait_for(lambda: alive() and status(state).get("pid") == ship.proc.pid and all_acked(status(state), paths)
             and "No space left" in (status(state).get("state_error") or ""), 30,
             "the restarted shipper to catch up and report state_error")
    assert (state / "state.json").read_bytes() == good
    assert count(shipper_log, "cannot write", "state.json") == 2  # one per process

    # 5) space returns: the state is written again, the error cleared, nothing left over
    filler.release()
    wait_for(lambda: saved_all() and status(state).get("state_error") is None, 20,
             "state saved after space returned")
    assert count(shipper_log, "state.json: written again") == 1
    write_round()
    wait_for(saved_all, 20, "state saved")
    assert temp_files(state) == []
    assert alive()


def test_full_state_disk_shipper_keeps_running_reports_and_resumes(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    paths = [logs / f"app{i}.log" for i in range(FILES)]
    seq = [i * 100_000 for i in range(FILES)]
    expected: set[int] = set()

    def write_round() -> None:
        for i, p in enumerate(paths):
            with open(p, "ab") as f:
                for _ in range(LINES):
                    f.write(line(seq[i]))
                    expected.add(seq[i])
                    seq[i] += 1

    coll = Collector(tmp_path).start()
    shipper_log = tmp_path / "shipper.log"
    try:
        with tmpfs_or_skip(tmp_path / "state", "1m") as state:
            ship = ShipperProc(tmp_path, [str(logs / "app*.log")], coll.url, state=state,
                               read_interval=0.1, checkpoint_interval=0.2, status_interval=0.2).start()
            try:
                run_scenario(ship, state, paths, shipper_log, write_round)
            finally:
                ship.stop()
    finally:
        coll.stop()
    got = coll.seqs()
    assert set(got) == expected, f"missing {sorted(expected - set(got))[:10]}, extra {sorted(set(got) - expected)[:10]}"
    assert max(got.values()) == 1, f"stored twice: {[s for s, n in got.items() if n > 1][:10]}"
    assert len(got) == FILES * LINES * 4


def test_backlog_approve_on_a_full_disk_is_one_clear_error(tmp_path: Path):
    """The consent cannot be written: one line naming the file, exit 1, no temp file left."""
    from tests.run import logship_cmd

    with tmpfs_or_skip(tmp_path / "state", "64k") as state:
        (state / "status.json").write_text(json.dumps({"backlog": {"segments": [
            {"id": "abc-0", "status": "pending", "bytes": 10, "path": "x.log"}]}}))
        Filler(state).fill()
        out = subprocess.run(logship_cmd("backlog", "approve", "--all", "--state-dir", state),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert out.stderr.strip().splitlines() == [
            f"error: {state / 'approvals.json'}: consent not recorded: No space left on device"]
        assert sorted(p.name for p in state.iterdir()) == ["filler", "status.json"]
