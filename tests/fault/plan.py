"""The soak's schedule, drawn up front from one seed: faults, rotations, consents.

Everything random is decided here, before any process starts, from
``random.Random(seed)``: the same seed gives the same plan (times, kinds, durations,
delays), so a failure can be replayed with ``--seed``. Timing jitter of real processes
still varies from run to run; the plan does not.

A fault holds a *resource* from its injection until ``settle_s`` after it healed; two
faults never hold the same resource (the collector cannot be killed while it is being
restarted with a slow store) and at most ``max_concurrent`` faults are active at once,
so faults combine (an outage while the shipper is killed while the disk is full) but
the system also gets moments to recover.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "RESOURCE", "Fault", "Plan", "Profile", "LONG", "SHORT", "make_plan"]

FAULT_KINDS = ("shipper_kill9", "shipper_term", "collector_kill9", "collector_term", "outage",
               "slow_store", "net_reset", "disk_full_db", "disk_full_state", "prune")
RESOURCE = {"shipper_kill9": "shipper", "shipper_term": "shipper", "collector_kill9": "collector",
            "collector_term": "collector", "slow_store": "collector", "outage": "net", "net_reset": "net",
            "disk_full_db": "dbdisk", "disk_full_state": "statedisk",
            # a prune goes through the running collector: never while it is killed or restarted
            "prune": "collector"}


@dataclass(frozen=True)
class Fault:
    at: float          # seconds after the start
    kind: str
    duration: float    # how long until healed (down time, outage, full disk, slow store)
    value: float = 0.0  # slow_store: the commit delay in seconds; prune: the cutoff's second

    @property
    def heal_at(self) -> float:
        return self.at + self.duration


@dataclass(frozen=True)
class Profile:
    """The ranges a plan draws from (seconds)."""

    mean_gap: float
    durations: dict[str, tuple[float, float]]
    commit_delay: tuple[float, float]
    rotation_gap: tuple[float, float]
    approval_gap: tuple[float, float]
    gzip_delay: float
    warmup: float
    settle_s: float = 1.0
    max_concurrent: int = 2
    prune_second: tuple[int, int] = (5, 55)  # prune: the cutoff's second of the writer's minute


_DUR = {"shipper_kill9": (0.2, 3.0), "shipper_term": (0.2, 3.0), "collector_kill9": (0.3, 5.0),
        "collector_term": (0.3, 5.0), "outage": (4.0, 12.0), "slow_store": (4.0, 12.0), "net_reset": (0.0, 0.0),
        "disk_full_db": (2.0, 8.0), "disk_full_state": (2.0, 8.0), "prune": (0.5, 3.0)}
LONG = Profile(mean_gap=4.0, durations=_DUR, commit_delay=(0.1, 0.5), rotation_gap=(3.0, 15.0),
               approval_gap=(2.0, 10.0), gzip_delay=1.0, warmup=3.0)
SHORT = Profile(mean_gap=1.5, durations={**_DUR, "outage": (4.0, 6.0), "slow_store": (2.0, 4.0),
                                         "collector_kill9": (0.3, 2.0), "collector_term": (0.3, 2.0),
                                         "disk_full_db": (1.0, 3.0), "disk_full_state": (1.0, 3.0)},
                commit_delay=(0.1, 0.3), rotation_gap=(2.0, 5.0), approval_gap=(2.0, 4.0), gzip_delay=1.0,
                warmup=12.0, settle_s=0.5)


@dataclass
class Plan:
    seed: int
    seconds: float
    faults: list[Fault] = field(default_factory=list)
    rotations: list[tuple[float, str]] = field(default_factory=list)
    approvals: list[float] = field(default_factory=list)


def _scripted_outage(plan: Plan) -> float:
    """The short soak's fixed opening: an outage with rotations inside it, consent late.

    [3, 9) black hole; at 5 a rename whose file is gzipped a second later, at 7 a
    copytruncate; the consent comes at 13, 4 s after the network healed. Returns when
    the random part may start.
    """
    plan.faults.append(Fault(3.0, "outage", 6.0))
    plan.rotations += [(5.0, "gzip"), (7.0, "copytruncate")]
    plan.approvals.append(13.0)
    return 12.0


def make_plan(seed: int, seconds: float, short: bool = False) -> Plan:
    rnd = random.Random(seed)
    prof = SHORT if short else LONG
    plan = Plan(seed, seconds)
    start = _scripted_outage(plan) if short else prof.warmup
    busy: dict[str, float] = {r: 0.0 for r in RESOURCE.values()}  # resource -> free from
    for f in plan.faults:
        busy[RESOURCE[f.kind]] = f.heal_at + prof.settle_s
    t = start
    while True:
        t += rnd.expovariate(1.0 / prof.mean_gap)
        kind = rnd.choice(FAULT_KINDS)
        lo, hi = prof.durations[kind]
        duration = round(rnd.uniform(lo, hi), 2)
        value = (round(rnd.uniform(*prof.commit_delay), 2) if kind == "slow_store"
                 else float(rnd.randint(*prof.prune_second)) if kind == "prune" else 0.0)
        if t + duration > seconds - 1.0:
            break
        active = sum(1 for f in plan.faults if f.at <= t < f.heal_at + prof.settle_s)
        if busy[RESOURCE[kind]] > t or active >= prof.max_concurrent:
            continue  # that slot is taken: the draw is spent, the plan stays a function of the seed
        plan.faults.append(Fault(round(t, 2), kind, duration, value))
        busy[RESOURCE[kind]] = t + duration + prof.settle_s
    t = plan.rotations[-1][0] if plan.rotations else prof.warmup
    t = max(t, start - 2.0)
    while True:
        t += rnd.uniform(*prof.rotation_gap)
        if t > seconds - 1.0:
            break
        plan.rotations.append((round(t, 2), rnd.choice(("rename", "copytruncate", "gzip"))))
    t = plan.approvals[-1] if plan.approvals else prof.warmup
    while True:
        t += rnd.uniform(*prof.approval_gap)
        if t > seconds:
            break
        plan.approvals.append(round(t, 2))
    plan.faults.sort(key=lambda f: f.at)
    return plan
