"""Retention through a running collector (real `logship collect` and `logship ship`):
`logship prune` goes through the collector's job; a resend of the pruned ranges by a
fresh shipper and a re-ingest of the same file add nothing; `[retention] days` prunes
on its own; /metrics shows rows per table and the file size; `logship compact` rewrites
the file under the running collector, which then goes on committing."""

from __future__ import annotations

import re
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from tests.run import logship
from tests.shipkit import CLIENT, Collector, ShipperProc, wait_for

OLD, NEW = 300, 200


def write_log(path: Path) -> None:
    """OLD lines dated 10 days ago, then NEW lines dated now (client format, numbered)."""
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for seq in range(OLD + NEW):
        ts = (now - timedelta(days=10) if seq < OLD else now) + timedelta(milliseconds=seq)
        out.append(f"{ts.isoformat(timespec='milliseconds')} INFO  sess=3f2a9c1e5b7d9e01 event test.line "
                   f"seq={seq} -- {'p' * 30}\n")
    path.write_text("".join(out))


def metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(logship_\S+) (\S+)$", text, re.M)}


def parquet_seqs(arch: Path) -> Counter:
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT CAST(json_extract(attrs, '$.seq') AS BIGINT) FROM read_parquet("
                           f"'{arch}/events/**/*.parquet', hive_partitioning=true)").fetchall()
    finally:
        con.close()
    return Counter(r[0] for r in rows)


def test_prune_through_the_collector_then_resend_and_reingest_add_nothing(tmp_path: Path):
    """~10-25 s (two shipper runs, four CLI calls). Exact counts: the database keeps the
    200 new lines once, the archive the 300 pruned ones once, after a resend of the whole
    file, a re-ingest, a compact and 50 more lines."""
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    write_log(log)
    coll = Collector(tmp_path).start()
    ship = None
    try:
        ship = ShipperProc(tmp_path, [str(log)], coll.url).start()
        ship.wait_caught_up(live=(log,))
        ship.stop()
        ship = None
        dry = logship("prune", "--db", coll.db, "--older-than", "5d", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert dry.stderr.startswith("would prune 0 metrics, 300 events, 0 rejects, 0 ingests, 0 sessions")
        arch = tmp_path / "archive"
        res = logship("prune", "--db", coll.db, "--older-than", "5d", "--export", arch)
        assert res.returncode == 0, res.stderr
        assert res.stderr.startswith("pruned 0 metrics, 300 events, 0 rejects, 0 ingests, 0 sessions"), res.stderr
        m = metrics(coll.url)
        assert m['logship_table_rows{table="events"}'] == NEW
        assert m['logship_table_rows{table="source_ranges"}'] == 1
        assert m['logship_pruned_rows_total{table="events"}'] == OLD and m["logship_prunes_total"] == 1
        assert m["logship_db_file_bytes"] > 0
        # a shipper that lost its state resends the whole file: the pruned ranges are committed
        ship = ShipperProc(tmp_path, [str(log)], coll.url, state=tmp_path / "state2").start()
        ship.wait_caught_up(live=(log,))
        ship.stop()
        ship = None
        again = logship("ingest", "--db", coll.db, "--client-id", CLIENT, "--tz", "UTC", log)
        assert again.returncode == 0 and "0 lines, 0 records" in again.stderr, again.stderr
        assert metrics(coll.url)['logship_table_rows{table="events"}'] == NEW
        # compact through the collector: it closes, rewrites, reopens, and goes on committing
        comp = logship("compact", "--db", coll.db)
        assert comp.returncode == 0 and comp.stderr.startswith("compacted in "), comp.stderr
        with log.open("a") as f:
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            f.write("".join(f"{now} INFO  sess=3f2a9c1e5b7d9e01 event test.line seq={s} -- x\n"
                            for s in range(OLD + NEW, OLD + NEW + 50)))
        ship = ShipperProc(tmp_path, [str(log)], coll.url, state=tmp_path / "state2").start()
        ship.wait_caught_up(live=(log,))
        ship.stop()
        ship = None
    finally:
        if ship is not None:
            ship.stop()
        coll.stop()
    assert coll.seqs() == Counter(range(OLD, OLD + NEW + 50))
    assert parquet_seqs(tmp_path / "archive") == Counter(range(OLD))


def test_retention_days_prunes_inside_the_collector(tmp_path: Path):
    """~5-8 s. `[retention] days = 5` prunes (and exports) the 300 old lines by itself."""
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    write_log(log)
    coll = Collector(tmp_path, config=f'[retention]\ndays = 5\nevery_s = 0.3\nexport_dir = "{tmp_path / "arch"}"\n')
    coll.start()
    ship = ShipperProc(tmp_path, [str(log)], coll.url).start()
    try:
        ship.wait_caught_up(live=(log,))
        wait_for(lambda: metrics(coll.url).get('logship_pruned_rows_total{table="events"}') == OLD, timeout=30)
        assert metrics(coll.url)['logship_table_rows{table="events"}'] == NEW
    finally:
        ship.stop()
        coll.stop()
    assert coll.seqs() == Counter(range(OLD, OLD + NEW))
    assert parquet_seqs(tmp_path / "arch") == Counter(range(OLD))


def test_retention_config_is_a_table_with_known_keys(tmp_path: Path):
    """~0.05 s. `[retention]` keys, its default (off) and its one-line errors."""
    import pytest

    from logship.collector.config import load_config
    from logship.collector.errors import ConfigError

    tokens = tmp_path / "tokens.txt"
    tokens.write_text("c tok\n")
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'token_file = "{tokens}"\n[retention]\ndays = 30\nevery_s = 600\nexport_dir = "arch"\n')
    cfg = load_config(cfg_file)
    assert (cfg.retention_days, cfg.retention_every_s, cfg.retention_export_dir) == (30.0, 600.0, Path("arch"))
    assert load_config(token_file=tokens).retention_days == 0.0  # off unless configured
    for bad, why in (("[retention]\nday = 30\n", "unknown config key(s): retention.day"),
                     ("[retention]\ndays = -1\n", "days must be >= 0"),
                     ("retention = 3\n", "[retention] must be a table")):
        cfg_file.write_text(f'token_file = "{tokens}"\n{bad}')
        with pytest.raises(ConfigError, match=re.escape(why)):
            load_config(cfg_file)
