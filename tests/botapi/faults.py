"""Scripted failures: make chosen calls fail the way Telegram or the network sometimes do.

    tg.faults.add(kind="429", method="sendMessage", retry_after=3)      # flood control, once
    tg.faults.add(kind="5xx", method="getUpdates", times=2)             # 502 Bad Gateway twice
    tg.faults.add(kind="slow", delay=2.0)                               # every next call waits
    tg.faults.add(kind="403", chat_id=user.id)                          # as if blocked, once
    tg.faults.add(kind="drop_after_accept", method="sendMessage")       # sent, answer lost
    tg.faults.add(kind="network", method="sendMessage", skip=1)         # 2nd call never arrives

A fault fires on the calls it matches (method, case-insensitive, and optionally chat), after
letting `skip` matching calls through, for `times` calls (None: for ever). "slow" faults add up
and combine with one other fault; of the others, the earliest added that matches wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal["429", "5xx", "slow", "403", "drop_after_accept", "network"]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))


@dataclass
class Fault:
    """One scripted failure and how often it has fired (`hits`)."""

    kind: FaultKind
    method: str | None = None
    chat_id: int | None = None
    times: int | None = 1
    skip: int = 0
    retry_after: int = 1
    delay: float = 1.0
    status: int = 502
    description: str | None = None
    hits: int = 0
    seen: int = 0

    @property
    def exhausted(self) -> bool:
        """Whether the fault has fired as often as it was asked to."""
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, chat_id: int | None) -> bool:
        """Whether this fault applies to a call (ignoring skip/times)."""
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def _fire(self) -> bool:
        self.seen += 1
        if self.seen <= self.skip or self.exhausted:
            return False
        self.hits += 1
        return True


@dataclass(frozen=True)
class TriggeredFaults:
    """The faults that fire for one call: total delay first, then at most one failure."""

    delay: float
    failure: Fault | None


class FaultPlan:
    """The list of scripted faults for one `FakeTelegram`."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        *,
        kind: FaultKind,
        method: str | None = None,
        chat_id: int | None = None,
        times: int | None = 1,
        skip: int = 0,
        retry_after: int = 1,
        delay: float = 1.0,
        status: int = 502,
        description: str | None = None,
    ) -> Fault:
        """Script a failure; returns it so a test can check `fault.hits` afterwards."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {sorted(FAULT_KINDS)}")
        if kind == "5xx" and not 500 <= status <= 599:
            raise ValueError("a 5xx fault needs a status between 500 and 599")
        fault = Fault(
            kind=kind,
            method=method,
            chat_id=chat_id,
            times=times,
            skip=skip,
            retry_after=retry_after,
            delay=delay,
            status=status,
            description=description,
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every scripted fault."""
        self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults that can still fire."""
        return [fault for fault in self._faults if not fault.exhausted]

    def trigger(self, method: str, chat_id: int | None) -> TriggeredFaults:
        """Consume the faults that fire for this call."""
        delay = 0.0
        failure: Fault | None = None
        for fault in self._faults:
            if not fault.matches(method, chat_id):
                continue
            if fault.kind == "slow":
                if fault._fire():
                    delay += fault.delay
            elif failure is None and fault._fire():
                failure = fault
        return TriggeredFaults(delay, failure)
