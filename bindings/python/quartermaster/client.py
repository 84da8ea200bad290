"""`Client(url, token)`: the live engine behind `qm serve`, over HTTP. Its methods have the
names and return the shapes of the embedded `LiveEngine` where the two overlap, so code
switches between embedding and calling a server by changing the line that makes it:

    engine = quartermaster.LiveEngine("fleet.db")                 # embedded
    engine = quartermaster.Client("http://127.0.0.1:8080", token)  # remote
    with engine.acquire(request) as turn:
        turn.actual = run_the_work()

`AsyncClient` is the same for asyncio (`async with engine.acquire(request)`). Errors
are the package's exceptions, built from the server's JSON errors: `InvalidInput` with
`field`, `value` and `expected`; `NotFound`; `BookingConflict`; `InUse`; `QuotaExceeded`
and `BudgetExceeded`; `AccessDenied` for a missing, unknown or insufficient token.

It speaks HTTP through httpx (`pip install quartermaster[client]` or `pip install httpx`).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from quartermaster import _plans as plans
from quartermaster import errors
from quartermaster._plans import Call, Pause, Plan, seg
from quartermaster.live import SubmitOutcome
from quartermaster.turn import Turn, acquire, acquire_async

__all__ = ["AsyncClient", "Client"]


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise errors.QuartermasterError(
            "quartermaster.Client needs httpx: pip install 'quartermaster[client]'"
        ) from e
    return httpx


def _error(status: int, body: Any, method: str, path: str) -> errors.QuartermasterError:
    """The package's exception for an error answer, with the server's details on it."""
    detail = body if isinstance(body, dict) else {}
    message = str(detail.get("error") or body or f"HTTP {status}")
    reason = detail.get("reason")
    cls: type[errors.QuartermasterError]
    if reason == "quota":
        cls = errors.QuotaExceeded
    elif reason == "credit":
        cls = errors.BudgetExceeded
    elif reason == "in_use":
        cls = errors.InUse
    elif status == 409 and detail.get("conflict") is not None:
        cls = errors.BookingConflict
    elif status in (401, 403):
        cls = errors.AccessDenied
    elif status == 404:
        cls = errors.NotFound
    elif status in (400, 413, 415, 422):
        cls = errors.InvalidInput
    else:
        cls = errors.QuartermasterError
    exception = cls(f"{method} {path}: {message}")
    exception.status = status
    for name in ("field", "value", "expected"):
        if detail.get(name) is not None:
            setattr(exception, name, str(detail[name]))
    if detail.get("conflict") is not None:
        exception.conflict = detail["conflict"]
    return exception


def _decode(response: Any, call: Call) -> Any:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        raise _error(response.status_code, body, call.method, call.path)
    return body


class _Base:
    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        # An enqueue may wait on the server for its start; the read timeout allows it.
        self._timeout = max(timeout, plans.WAIT_SECS + 10.0)


class Client(_Base):
    """`Client(url, token, timeout=30.0)`: blocking calls to a `qm serve`. Close it (or
    use it in a `with`) to free its connections."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        super().__init__(url, token, timeout)
        self._http = _httpx().Client(
            base_url=self.url, headers=self._headers, timeout=self._timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, plan: Plan) -> Any:
        answer: Any = None
        try:
            while True:
                step = plan.send(answer)
                if isinstance(step, Pause):
                    time.sleep(step.secs)
                    answer = None
                    continue
                response = self._http.request(
                    step.method, step.path, params=step.params or None, json=step.body
                )
                answer = _decode(response, step)
        except StopIteration as done:
            return done.value

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._run(plans.one("GET", path, params))

    # ---- registration -----------------------------------------------------------------

    def add_pool(self, pool: dict[str, Any]) -> None:
        self._run(plans.unit("POST", "/api/pools", body=pool))

    def pools(self) -> list[dict[str, Any]]:
        return self._get("/api/pools")  # type: ignore[no-any-return]

    def add_client(self, client: dict[str, Any]) -> None:
        self._run(plans.unit("POST", "/api/clients", body=client))

    def clients(self) -> list[dict[str, Any]]:
        return self._get("/api/clients")  # type: ignore[no-any-return]

    def remove_client(self, client: str, drain: bool = False) -> None:
        params = {"drain": "true"} if drain else None
        self._run(plans.unit("DELETE", f"/api/clients/{seg(client)}", params))

    # ---- quotas -------------------------------------------------------------------------

    def set_quota(self, quota: dict[str, Any]) -> None:
        self._run(plans.unit("POST", "/api/quotas", body=quota))

    def set_quota_usage(self, quota: str, used: int) -> None:
        self._run(plans.unit("PUT", f"/api/quotas/{seg(quota)}/usage", body={"used": used}))

    def reset_quota(self, quota: str) -> None:
        self._run(plans.unit("POST", f"/api/quotas/{seg(quota)}/reset"))

    def remove_quota(self, quota: str) -> None:
        self._run(plans.unit("DELETE", f"/api/quotas/{seg(quota)}"))

    def quotas(self) -> list[dict[str, Any]]:
        return self._get("/api/quotas")  # type: ignore[no-any-return]

    def quota_usage(self) -> list[dict[str, Any]]:
        return self._get("/api/quotas")  # type: ignore[no-any-return]

    def check_quota(self, client: str, metric: str, amount: int) -> dict[str, Any]:
        return self._run(plans.check_quota(client, metric, amount))  # type: ignore[no-any-return]

    # ---- requests -----------------------------------------------------------------------

    def submit(self, request: dict[str, Any]) -> SubmitOutcome:
        return self._run(plans.submit(request))  # type: ignore[no-any-return]

    def complete(
        self,
        request: int,
        actual: float | None = None,
        used: dict[str, int] | None = None,
        compute_ms: int | None = None,
    ) -> None:
        self._run(plans.complete(request, actual, used, compute_ms))

    def cancel(self, request: int) -> None:
        self._run(plans.unit("POST", f"/api/execution/{seg(request)}/cancel"))

    def renew(self, request: int, lease_secs: float | None = None) -> None:
        """A heartbeat: the running request's lease starts afresh (for `lease_secs`, if
        given); a request neither completed nor renewed in time expires."""
        self._run(plans.renew(request, lease_secs))

    def request_info(self, request: int) -> dict[str, Any] | None:
        try:
            return self._run(plans.request_info(request))  # type: ignore[no-any-return]
        except errors.NotFound:
            return None

    def request_state(self, request: int) -> str | None:
        info = self.request_info(request)
        return None if info is None else info["state"]

    def queue_status(self, request: int | None = None) -> dict[str, Any]:
        return self._run(plans.queue_status(request))  # type: ignore[no-any-return]

    def acquire(self, request: dict[str, Any]) -> AbstractContextManager[Turn]:
        """Submits `request`, waits for its start, and completes it on exit with what the
        block set on the `Turn` (or cancels it if the block raised)."""
        return acquire(self.submit, self.complete, self.cancel, request)

    # ---- budgets ------------------------------------------------------------------------

    def reserve(self, client: str, estimate: float | None = None) -> dict[str, Any]:
        return self._run(plans.reserve(client, estimate))  # type: ignore[no-any-return]

    def track(self, reservation: int, used: float) -> str | None:
        return self._run(plans.track(reservation, used))  # type: ignore[no-any-return]

    def settle(self, reservation: int, actual: float) -> dict[str, Any]:
        return self._run(plans.settle(reservation, actual))  # type: ignore[no-any-return]

    def release(self, reservation: int) -> None:
        self._run(plans.unit("DELETE", f"/api/reservations/{seg(reservation)}"))

    def account(self, client: str) -> dict[str, float]:
        return self._run(plans.account(client))  # type: ignore[no-any-return]

    def top_up(self, client: str, amount: float) -> dict[str, float]:
        return self._run(plans.top_up(client, amount))  # type: ignore[no-any-return]

    def transfer(self, from_client: str, to_client: str, amount: float) -> dict[str, Any]:
        return self._run(plans.transfer(from_client, to_client, amount))  # type: ignore[no-any-return]

    def consume(
        self,
        client: str,
        usage: dict[str, int] | None = None,
        cost: float | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        return self._run(plans.consume(client, usage, cost, force))  # type: ignore[no-any-return]

    # ---- resources, bookings and costs --------------------------------------------------

    def add_resource(self, resource: dict[str, Any]) -> None:
        self._run(plans.unit("POST", "/api/resources", body=resource))

    def resources(self) -> list[dict[str, Any]]:
        return self._get("/api/resources")  # type: ignore[no-any-return]

    def remove_resource(self, resource: str) -> None:
        self._run(plans.unit("DELETE", f"/api/resources/{seg(resource)}"))

    def book(
        self, resource: str, client: str, start: str, end: str, purpose: str = ""
    ) -> dict[str, Any]:
        return self._run(plans.book(resource, client, start, end, purpose))  # type: ignore[no-any-return]

    def cancel_booking(self, booking: int) -> dict[str, Any]:
        return self._run(plans.one("DELETE", f"/api/bookings/{seg(booking)}"))  # type: ignore[no-any-return]

    def bookings(
        self,
        resource: str | None = None,
        client: str | None = None,
        status: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> list[dict[str, Any]]:
        return self._run(plans.bookings(resource, client, status, start, end))  # type: ignore[no-any-return]

    def record_cost(
        self,
        client: str,
        cost_type: str,
        category: str,
        amount: float,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        plan = plans.record_cost(client, cost_type, category, amount, metadata)
        return self._run(plan)  # type: ignore[no-any-return]

    def cost_summary(
        self,
        client: str | None = None,
        cost_type: str | None = None,
        start: str | None = None,
        end: str | None = None,
        item_limit: int = 100,
    ) -> dict[str, Any]:
        plan = plans.cost_summary(client, cost_type, start, end, item_limit)
        return self._run(plan)  # type: ignore[no-any-return]

    # ---- tokens (admin) -----------------------------------------------------------------

    def tokens(self, client: str | None = None) -> list[dict[str, Any]]:
        return self._get("/api/tokens", plans.clean({"client": client}))  # type: ignore[no-any-return]

    def create_token(
        self, client: str | None = None, expires_in_secs: int | None = None
    ) -> dict[str, Any]:
        body = plans.clean({"client": client, "expires_in_secs": expires_in_secs})
        return self._run(plans.one("POST", "/api/tokens", body=body))  # type: ignore[no-any-return]

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        return self._run(plans.one("DELETE", f"/api/tokens/{seg(token_id)}"))  # type: ignore[no-any-return]

    # ---- the embedded engine's asyncio helpers, for code written against it -------------

    async def submit_async(self, request: dict[str, Any]) -> SubmitOutcome:
        return await asyncio.to_thread(self.submit, request)

    async def complete_async(self, request: int, actual: float | None = None) -> None:
        await asyncio.to_thread(self.complete, request, actual)

    async def cancel_async(self, request: int) -> None:
        await asyncio.to_thread(self.cancel, request)


class AsyncClient(_Base):
    """`AsyncClient(url, token, timeout=30.0)`: the same calls as `Client`, as coroutines.
    Close it with `await client.aclose()` (or `async with`)."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        super().__init__(url, token, timeout)
        self._http = _httpx().AsyncClient(
            base_url=self.url, headers=self._headers, timeout=self._timeout
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, plan: Plan) -> Any:
        answer: Any = None
        try:
            while True:
                step = plan.send(answer)
                if isinstance(step, Pause):
                    await asyncio.sleep(step.secs)
                    answer = None
                    continue
                response = await self._http.request(
                    step.method, step.path, params=step.params or None, json=step.body
                )
                answer = _decode(response, step)
        except StopIteration as done:
            return done.value

    async def add_pool(self, pool: dict[str, Any]) -> None:
        await self._run(plans.unit("POST", "/api/pools", body=pool))

    async def add_client(self, client: dict[str, Any]) -> None:
        await self._run(plans.unit("POST", "/api/clients", body=client))

    async def remove_client(self, client: str, drain: bool = False) -> None:
        params = {"drain": "true"} if drain else None
        await self._run(plans.unit("DELETE", f"/api/clients/{seg(client)}", params))

    async def set_quota(self, quota: dict[str, Any]) -> None:
        await self._run(plans.unit("POST", "/api/quotas", body=quota))

    async def remove_quota(self, quota: str) -> None:
        await self._run(plans.unit("DELETE", f"/api/quotas/{seg(quota)}"))

    async def quotas(self) -> list[dict[str, Any]]:
        return await self._run(plans.one("GET", "/api/quotas"))  # type: ignore[no-any-return]

    async def check_quota(self, client: str, metric: str, amount: int) -> dict[str, Any]:
        return await self._run(plans.check_quota(client, metric, amount))  # type: ignore[no-any-return]

    async def submit(self, request: dict[str, Any]) -> SubmitOutcome:
        return await self._run(plans.submit(request))  # type: ignore[no-any-return]

    async def complete(
        self,
        request: int,
        actual: float | None = None,
        used: dict[str, int] | None = None,
        compute_ms: int | None = None,
    ) -> None:
        await self._run(plans.complete(request, actual, used, compute_ms))

    async def cancel(self, request: int) -> None:
        await self._run(plans.unit("POST", f"/api/execution/{seg(request)}/cancel"))

    async def renew(self, request: int, lease_secs: float | None = None) -> None:
        await self._run(plans.renew(request, lease_secs))

    async def request_info(self, request: int) -> dict[str, Any] | None:
        try:
            return await self._run(plans.request_info(request))  # type: ignore[no-any-return]
        except errors.NotFound:
            return None

    async def request_state(self, request: int) -> str | None:
        info = await self.request_info(request)
        return None if info is None else info["state"]

    async def queue_status(self, request: int | None = None) -> dict[str, Any]:
        return await self._run(plans.queue_status(request))  # type: ignore[no-any-return]

    def acquire(self, request: dict[str, Any]) -> AbstractAsyncContextManager[Turn]:
        """`async with client.acquire(request) as turn:` — submits, waits for the start,
        completes on exit (or cancels if the block raised)."""
        return acquire_async(self.submit, self.complete, self.cancel, request)

    async def reserve(self, client: str, estimate: float | None = None) -> dict[str, Any]:
        return await self._run(plans.reserve(client, estimate))  # type: ignore[no-any-return]

    async def track(self, reservation: int, used: float) -> str | None:
        return await self._run(plans.track(reservation, used))  # type: ignore[no-any-return]

    async def settle(self, reservation: int, actual: float) -> dict[str, Any]:
        return await self._run(plans.settle(reservation, actual))  # type: ignore[no-any-return]

    async def release(self, reservation: int) -> None:
        await self._run(plans.unit("DELETE", f"/api/reservations/{seg(reservation)}"))

    async def account(self, client: str) -> dict[str, float]:
        return await self._run(plans.account(client))  # type: ignore[no-any-return]

    async def top_up(self, client: str, amount: float) -> dict[str, float]:
        return await self._run(plans.top_up(client, amount))  # type: ignore[no-any-return]

    async def transfer(self, from_client: str, to_client: str, amount: float) -> dict[str, Any]:
        return await self._run(plans.transfer(from_client, to_client, amount))  # type: ignore[no-any-return]

    async def consume(
        self,
        client: str,
        usage: dict[str, int] | None = None,
        cost: float | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        return await self._run(plans.consume(client, usage, cost, force))  # type: ignore[no-any-return]

    async def record_cost(
        self,
        client: str,
        cost_type: str,
        category: str,
        amount: float,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        plan = plans.record_cost(client, cost_type, category, amount, metadata)
        return await self._run(plan)  # type: ignore[no-any-return]
