"""The last step of `make demo`: does the database agree with the simulator's known answers?

Compares the `sessions` view (end reason, start, end, last seen) and the metric, event
and reject counts per client with the manifest that `logship simulate` wrote, prints
one line, and exits non-zero (listing the first differences) when they disagree.

    python -m bench.demo_check --manifest demo-data/manifest.json --db demo-data/demo.duckdb
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import duckdb

__all__ = ["check", "main"]


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def check(manifest_path: Path, db: Path) -> tuple[str, list[str]]:
    """(summary line, differences) between the manifest and the database."""
    manifest = json.loads(manifest_path.read_text("utf-8"))
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        got_sessions = {
            (r[0], r[1]): r[2:]
            for r in con.execute(
                "SELECT client_id, session_id, end_reason, started_at, ended_at, last_seen FROM sessions"
            ).fetchall()
        }
        counts = {
            name: dict(con.execute(sql).fetchall())
            for name, sql in {
                "metrics": "SELECT client_id, count(*) FROM metrics GROUP BY ALL",
                "events": "SELECT client_id, count(*) FROM events GROUP BY ALL",
                "rejects": "SELECT s.client_id, count(*) FROM rejects r JOIN sources s USING (source_id) GROUP BY ALL",
            }.items()
        }
    finally:
        con.close()
    diffs: list[str] = []
    want_sessions = {}
    for cid, client in manifest["clients"].items():
        for s in client["sessions"]:
            want_sessions[(cid, s["session_id"])] = (
                s["end_reason"], _dt(s["started_at"]), _dt(s["ended_at"]), _dt(s["last_seen"])
            )
        t = client["totals"]
        want = {"metrics": t["metric_samples"], "events": t["events"] + t["session_marks"],
                "rejects": t["corrupt_lines"]}
        for name, n in want.items():
            if counts[name].get(cid, 0) != n:
                diffs.append(f"{cid}: {counts[name].get(cid, 0)} {name}, expected {n}")
    for key in sorted(set(want_sessions) | set(got_sessions)):
        if want_sessions.get(key) != got_sessions.get(key):
            diffs.append(f"session {key[0]}/{key[1]}: got {got_sessions.get(key)}, expected {want_sessions.get(key)}")
    for name in counts:
        extra = set(counts[name]) - set(manifest["clients"])
        if extra:
            diffs.append(f"{name} of clients the simulator never wrote: {sorted(extra)}")
    t = manifest["totals"]
    line = (
        f"known answers: {len(want_sessions)} sessions ({', '.join(f'{n} {k}' for k, n in t['end_reasons'].items())}), "
        f"{t['metric_samples']:,} metric samples, {t['events'] + t['session_marks']:,} events and "
        f"{t['corrupt_lines']} rejects {'match' if not diffs else 'DO NOT match'} {manifest_path}"
    )
    return line, diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--db", type=Path, required=True)
    args = ap.parse_args(argv)
    line, diffs = check(args.manifest, args.db)
    print(line)
    for d in diffs[:20]:
        print("  " + d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
