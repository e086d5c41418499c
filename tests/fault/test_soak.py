"""The short seeded soak in `make test` (docs/soak.md), and the plan's determinism.

The short run opens with a scripted outage during which the live file is rotated twice
(rename + gzip, copytruncate) and consent comes 4 s after the network healed; random
faults of every kind follow. Then: drained, every seq stored exactly once, no gap in
``source_ranges`` that the files still cover.
"""

from __future__ import annotations

import io

from tests.fault.plan import FAULT_KINDS, make_plan
from tests.fault.soak import SoakOptions, run_soak

SHORT_SEED = 20261130
SHORT_SECONDS = 24.0


def test_plan_is_a_function_of_the_seed():
    a, b = make_plan(7, 600), make_plan(7, 600)
    assert a.faults == b.faults and a.rotations == b.rotations and a.approvals == b.approvals
    assert make_plan(8, 600).faults != a.faults
    assert {f.kind for f in a.faults} == set(FAULT_KINDS)
    short = make_plan(SHORT_SEED, SHORT_SECONDS, short=True)
    outage = short.faults[0]
    assert (outage.kind, outage.at, outage.heal_at) == ("outage", 3.0, 9.0)
    assert [k for t, k in short.rotations if outage.at < t < outage.heal_at] == ["gzip", "copytruncate"]
    assert min(short.approvals) == 13.0


def test_short_soak_loses_nothing_and_stores_nothing_twice(tmp_path):
    out = io.StringIO()
    res = run_soak(SoakOptions(seconds=SHORT_SECONDS, seed=SHORT_SEED, rate=500, short=True,
                               workdir=tmp_path / "soak", drain_timeout_s=20, db_tmpfs_mb=256, out=out))
    text = out.getvalue()
    assert res.check is not None, text
    assert res.faults["outage"] >= 1 and res.consents >= 1, text
    assert res.rotations["gzip"] >= 1 and res.rotations["copytruncate"] >= 1, text
    assert res.check.lost == [], text
    assert res.check.duplicated == {}, text
    assert res.check.foreign == 0 and res.check.rejects == 0, text
    assert res.check.range_gaps == [], text
    assert res.drained, text
    assert res.check.stored == res.written > 0, text
