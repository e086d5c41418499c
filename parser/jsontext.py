"""Compact JSON text (`,` and `:` separators, no NaN), with the json library's C
encoder built once instead of once per call.

`json.JSONEncoder.encode` builds a new C encoder (and a circular-reference table) on
every call: for the small objects of a JSON line that set-up is half the cost. The
objects encoded here come from decoded JSON text or protobuf messages, which cannot
hold a cycle, so no circular-reference table is kept (a cycle would end in
RecursionError instead of ValueError). The text is the same as the stdlib encoder's
with the same options: `compact_encoder` checks that once and falls back to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _enc
from typing import Any

__all__ = ["compact_encoder"]


def _default(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


_PROBE = {"a": [1, 2.5, True, None, "\u00e9\ud800\n"], "b": {"c": -0.0, "d": 10**20}, "": ""}


def compact_encoder(ensure_ascii: bool) -> Callable[[Any], str]:
    """obj -> compact JSON text; ValueError for NaN/Infinity, TypeError for other types."""
    slow = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=(",", ":"), allow_nan=False).encode
    make = getattr(_enc, "c_make_encoder", None)
    if make is None:  # no C accelerator (another Python): the stdlib's own path
        return slow
    strings = _enc.encode_basestring_ascii if ensure_ascii else _enc.encode_basestring
    try:
        c = make(None, _default, strings, None, ":", ",", False, False, False)

        def fast(obj: Any) -> str:
            return "".join(c(obj, 0))

        if fast(_PROBE) != slow(_PROBE) or fast("x\u00e9") != slow("x\u00e9"):
            return slow
    except Exception:  # noqa: BLE001 - an encoder of another shape: the stdlib's path
        return slow
    return fast
