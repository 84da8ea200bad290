"""The live engine, embedded: durable in a SQLite file, driven from Python threads or
asyncio.

Every method blocks until the engine answers, with the GIL released; the `*_async`
variants run the blocking call in a worker thread (`asyncio.to_thread`). Pools, clients,
quotas, requests and resources are dicts in the shape of the scenario file's entries;
money is a float in currency units; instants are RFC 3339 strings.

A refused submit is not an exception: `submit` returns a `SubmitOutcome` either way, since
refusal is an ordinary answer under quotas and budgets; call `raise_for_refusal()` to turn
it into `QuotaExceeded`, `BudgetExceeded` or `RequestRefused`. Calls that cannot do what
they were asked (a conflicting booking, a reservation beyond the client's credit) raise.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any

from quartermaster import _quartermaster as _native
from quartermaster.errors import BudgetExceeded, QuotaExceeded, RequestRefused
from quartermaster.sim import Scenario
from quartermaster.turn import Turn, acquire, acquire_async

__all__ = ["EventStream", "LiveEngine", "SubmitOutcome", "Vault"]

EventStream = _native.EventStream
Vault = _native.Vault


@dataclass(frozen=True)
class SubmitOutcome:
    """How a submitted request ended its wait: started (maybe downgraded, maybe in a batch
    named by its first member) or refused, with the refusal's reason (`quota`, `credit`,
    `rate`, `capacity`, `withdrawn`) and message."""

    status: str
    request: int
    downgraded: bool = False
    batch: int | None = None
    reason: str | None = None
    message: str | None = None

    @property
    def started(self) -> bool:
        return self.status == "started"

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def raise_for_refusal(self) -> SubmitOutcome:
        """Raises `QuotaExceeded`, `BudgetExceeded` or `RequestRefused` if the request was
        refused; returns the outcome otherwise."""
        if not self.refused:
            return self
        message = f"request {self.request} refused ({self.reason}): {self.message}"
        if self.reason == "quota":
            raise QuotaExceeded(message)
        if self.reason == "credit":
            raise BudgetExceeded(message)
        raise RequestRefused(message)


class LiveEngine(_native.LiveEngine):
    """`LiveEngine(path, config=None)`: opens (or creates) the database at `path` and
    rebuilds the state kept there. `config` is the scenario's `scheduler` settings under
    `{"scheduler": {...}}`."""

    def trace(  # type: ignore[override]
        self, from_: str | None = None, to: str | None = None
    ) -> Scenario:
        """The traffic recorded in this engine's database so far (journal and trace
        archive), as a trace scenario for `quartermaster.replay`; `from_` and `to` (RFC
        3339) bound the window."""
        return Scenario(super().trace(from_, to))

    def submit(self, request: dict[str, Any]) -> SubmitOutcome:  # type: ignore[override]
        """Submits a request (`client`, `class`, `needs`, `urgency`, `estimated_cost`, …)
        and waits until it starts or is refused."""
        return SubmitOutcome(**super().submit(request))

    async def submit_async(self, request: dict[str, Any]) -> SubmitOutcome:
        return await asyncio.to_thread(self.submit, request)

    def acquire(self, request: dict[str, Any]) -> AbstractContextManager[Turn]:
        """`with engine.acquire(request) as turn:` — submits, waits for the start, and on
        exit completes with what the block set on `turn` (`actual`, `used`,
        `compute_ms`), or cancels if the block raised. Refusals raise."""
        return acquire(self.submit, self.complete, self.cancel, request)

    def acquire_async(self, request: dict[str, Any]) -> AbstractAsyncContextManager[Turn]:
        """`async with engine.acquire_async(request) as turn:` — `acquire` for asyncio."""
        return acquire_async(self.submit_async, self._complete_async, self.cancel_async, request)

    async def _complete_async(
        self,
        request: int,
        actual: float | None = None,
        used: dict[str, int] | None = None,
        compute_ms: int | None = None,
    ) -> None:
        await asyncio.to_thread(self.complete, request, actual, used, compute_ms)

    async def complete_async(self, request: int, actual: float | None = None) -> None:
        await asyncio.to_thread(self.complete, request, actual)

    async def cancel_async(self, request: int) -> None:
        await asyncio.to_thread(self.cancel, request)

    async def check_quota_async(self, client: str, metric: str, amount: int) -> dict[str, Any]:
        return await asyncio.to_thread(self.check_quota, client, metric, amount)

    async def reserve_async(self, client: str, estimate: float | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.reserve, client, estimate)

    async def settle_async(self, reservation: int, actual: float) -> dict[str, Any]:
        return await asyncio.to_thread(self.settle, reservation, actual)

    async def book_async(
        self, resource: str, client: str, start: str, end: str, purpose: str = ""
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self.book, resource, client, start, end, purpose)

    async def record_cost_async(
        self,
        client: str,
        cost_type: str,
        category: str,
        amount: float,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return await asyncio.to_thread(
            self.record_cost, client, cost_type, category, amount, metadata
        )
