"""`acquire(request)`: an agent's turn as a context manager, the same for the embedded
engine and a remote server. It submits the request, waits for the start (raising
`QuotaExceeded`, `BudgetExceeded` or `RequestRefused` if it is refused), and on exit
completes it with what the body reported on the `Turn` (its actual cost, tokens used,
compute time), or cancels it if the body raised."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Turn", "acquire", "acquire_async"]


@dataclass
class Turn:
    """A started request. Set `actual` (its cost), `used` (pool id → units used, such as
    tokens of a rate pool) and `compute_ms` inside the `with` block; they are reported when
    it ends. Unset, the engine prices the work from its pools and the time it held them."""

    request: int
    downgraded: bool = False
    batch: int | None = None
    actual: float | None = None
    used: dict[str, int] = field(default_factory=dict)
    compute_ms: int | None = None


@contextmanager
def acquire(
    submit: Callable[[dict[str, Any]], Any],
    complete: Callable[..., None],
    cancel: Callable[[int], None],
    request: dict[str, Any],
) -> Iterator[Turn]:
    outcome = submit(request).raise_for_refusal()
    turn = Turn(outcome.request, outcome.downgraded, outcome.batch)
    try:
        yield turn
    except BaseException:
        # The work did not finish: give its pools and reservation back.
        cancel(turn.request)
        raise
    complete(turn.request, turn.actual, turn.used or None, turn.compute_ms)


@asynccontextmanager
async def acquire_async(
    submit: Callable[[dict[str, Any]], Awaitable[Any]],
    complete: Callable[..., Awaitable[None]],
    cancel: Callable[[int], Awaitable[None]],
    request: dict[str, Any],
) -> AsyncIterator[Turn]:
    outcome = (await submit(request)).raise_for_refusal()
    turn = Turn(outcome.request, outcome.downgraded, outcome.batch)
    try:
        yield turn
    except BaseException:
        await cancel(turn.request)
        raise
    await complete(turn.request, turn.actual, turn.used or None, turn.compute_ms)
