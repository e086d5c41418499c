"""One real `logship collect` per test module, and a query helper on it (/v1/query)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.collectorkit import ADMIN, CollectorProc


class Running:
    """A started collector: its URL and a read of its database through /v1/query."""

    def __init__(self, proc: CollectorProc) -> None:
        self.proc = proc
        self.url = proc.url

    def query(self, sql: str) -> list[list[Any]]:
        req = urllib.request.Request(self.url + "/v1/query", data=json.dumps({"sql": sql}).encode(),
                                     headers={"Authorization": f"Bearer {ADMIN}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["rows"]

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return r.read().decode()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp: Path = tmp_path_factory.mktemp("intake")
    proc = CollectorProc(tmp).start()
    try:
        yield Running(proc)
    finally:
        proc.stop()
