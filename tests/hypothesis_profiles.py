"""Hypothesis profiles: deterministic for `make test`, exploratory for `make fuzz`.

`make test` (and CI) loads "ci": the same examples on every run, no example database
kept between runs, so a clean clone passes or fails the same way every time. `make fuzz`
sets HYPOTHESIS_PROFILE=fuzz: fresh randomness, and every test's example count
multiplied by FUZZ_FACTOR (tests write `max_examples=examples(N)`). Neither has a
per-example deadline: on a shared 2-core machine a slow example is load, not a bug.
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
FUZZ_FACTOR = 25

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, deadline=None, print_blob=True)


def examples(n: int) -> int:
    """A test's example count under the active profile."""
    return n * FUZZ_FACTOR if PROFILE == "fuzz" else n


def load() -> None:
    settings.load_profile(PROFILE)
