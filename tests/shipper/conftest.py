"""The shipper's end-to-end tests talk to a real collector that knows their one client
(tests/shipkit.py: CLIENT with TOKEN, and a look at the stored seqs)."""

from __future__ import annotations

import pytest

from tests.shipkit import Collector


@pytest.fixture
def collector(tmp_path):
    c = Collector(tmp_path).start()
    yield c
    c.stop()
