"""Credit-based flow control: a global in-flight budget shared by all stream connections.

A connection may send only the bytes it has been granted. Granted bytes count against
`inflight_budget` from the grant until the writer has committed them; then they return
to the budget and are granted again (in the `ack`, or a `credit` message for a
connection that was starved). When the writer queue is over `queue_bytes`, or the
budget is spent, nobody gets new credit: shippers stop sending, while the collector
keeps reading their sockets (heartbeats, control messages), so memory stays bounded.

Slow-down factor (a v1 addition, docs/protocol.md): while the writer queue is at least
half full, acks and credit messages carry ``slow_down`` (2 at half, 4 at three
quarters, 8 when full), so that shippers can tell their producers to measure less
(the watchdog samples less often). Old shippers ignore the field.

Fair share: each connection's window aims at budget / connections, between
`min_credit` (so that none starves when thousands share the budget) and `max_credit`.
A new connection starts with `initial_credit`; its window grows towards its share as
acks return credit, so a lone fast shipper keeps the next batch in flight while the
writer commits the last one (a window of one batch would make it send, wait, send).
"""

from __future__ import annotations

from collections.abc import Callable

from .metrics import Metrics

__all__ = ["Account", "CreditBank", "slow_down_factor"]


def slow_down_factor(fill: float) -> float:
    """The factor for a writer queue this full (queued / queue_bytes): 1, 2, 4 or 8."""
    if fill < 0.5:
        return 1.0
    if fill < 0.75:
        return 2.0
    if fill < 1.0:
        return 4.0
    return 8.0


class Account:
    """One connection's credit: granted-unused `window`, received-uncommitted `unacked`."""

    __slots__ = ("window", "unacked", "open", "send_credit")

    def __init__(self, send_credit: Callable[[int], None]) -> None:
        self.window = 0
        self.unacked = 0
        self.open = True
        self.send_credit = send_credit

    @property
    def held(self) -> int:
        return self.window + self.unacked


class CreditBank:
    def __init__(self, inflight_budget: int, initial_credit: int, min_credit: int,
                 metrics: Metrics, writer_full: Callable[[], bool], max_credit: int | None = None,
                 writer_fill: Callable[[], float] | None = None) -> None:
        self.budget = inflight_budget
        self.initial = initial_credit
        self.min_credit = min(min_credit, initial_credit)
        self.max_credit = max(max_credit or initial_credit, initial_credit)
        self.metrics = metrics
        self.writer_full = writer_full
        self.writer_fill = writer_fill
        self.accounts: set[Account] = set()
        self.inflight = 0

    def slow_down(self) -> float:
        """The factor acks and credit messages carry now (1.0: none; see the module doc)."""
        return slow_down_factor(self.writer_fill()) if self.writer_fill is not None else 1.0

    def target(self) -> int:
        share = self.budget // max(1, len(self.accounts))
        return max(self.min_credit, min(self.max_credit, share))

    def open(self, send_credit: Callable[[int], None]) -> tuple[Account, int]:
        acc = Account(send_credit)
        self.accounts.add(acc)
        return acc, self.grant(acc, cap=self.initial)

    def close(self, acc: Account) -> None:
        """The connection is gone: its unused window returns now, unacked bytes when committed."""
        if acc.open:
            acc.open = False
            self.accounts.discard(acc)
            self._add(-acc.window)
            acc.window = 0

    def consume(self, acc: Account, n: int) -> bool:
        """A frame of n payload bytes arrived; False when it exceeds the connection's credit."""
        if n > acc.window:
            return False
        acc.window -= n
        acc.unacked += n
        return True

    def returned(self, acc: Account, n: int) -> int:
        """n bytes of this connection were committed; returns the new grant for its ack."""
        n = min(n, acc.unacked)
        acc.unacked -= n
        self._add(-n)
        return self.grant(acc) if acc.open else 0

    def grant(self, acc: Account, min_grant: int = 1, cap: int | None = None) -> int:
        if not acc.open or self.writer_full():
            return 0
        deficit = min(self.target(), cap or self.max_credit) - acc.held
        if deficit < min_grant:
            return 0
        free = self.budget - self.inflight
        if acc.held == 0:
            # never starve: a connection with nothing in flight always gets min_credit
            free = max(free, self.min_credit)
        g = max(0, min(deficit, free))
        if g:
            acc.window += g
            self._add(g)
            self.metrics.credit_granted += g
        return g

    def replenish(self) -> None:
        """After the writer freed space: top up connections that are well below their target."""
        if self.writer_full():
            return
        half = self.target() // 2
        for acc in list(self.accounts):
            if acc.held <= half:
                g = self.grant(acc, min_grant=max(1, half))
                if g:
                    acc.send_credit(g)

    def _add(self, n: int) -> None:
        self.inflight += n
        self.metrics.inflight_bytes = self.inflight
