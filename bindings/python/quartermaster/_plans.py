"""What each call of the HTTP client sends and how it reads the answer, written once for
the blocking `Client` and the asyncio `AsyncClient`: each plan is a generator that yields
HTTP calls (or pauses) and is sent the decoded answers; it returns the method's result in
the shapes the embedded `LiveEngine` returns."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from quartermaster.live import SubmitOutcome

__all__ = ["Call", "Pause", "Plan"]

# The order of the engine's queue classes, in which `queue_status` lists its counts.
CLASSES = ("immediate", "fast", "normal", "batch", "deferred")

# How long one enqueue waits on the server for the start before the client asks again.
WAIT_SECS = 20.0


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Pause:
    secs: float


Plan = Generator["Call | Pause", Any, Any]


def seg(value: object) -> str:
    """One path segment, escaped (ids may hold `:` or `/`)."""
    return quote(str(value), safe="")


def clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def one(method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Plan:
    return (yield Call(method, path, clean(params or {}), body))


def unit(method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Plan:
    yield from one(method, path, params, body)
    return None


def outcome_of(answer: dict[str, Any]) -> SubmitOutcome | None:
    state = answer.get("state")
    request = int(answer["request_id"])
    if state == "refused" or (state == "cancelled" and answer.get("reason")):
        return SubmitOutcome(
            status="refused",
            request=request,
            reason=answer.get("reason"),
            message=answer.get("message"),
        )
    if state in ("running", "finished", "cancelled"):
        return SubmitOutcome(
            status="started",
            request=request,
            downgraded=bool(answer.get("downgraded")),
            batch=answer.get("batch"),
        )
    return None


def submit(request: dict[str, Any]) -> Plan:
    answer = yield Call("POST", "/api/queue/enqueue", {"wait": WAIT_SECS}, request)
    outcome = outcome_of(answer)
    pause = 0.05
    while outcome is None:
        # Still queued after the server's wait: ask again, more slowly each time.
        yield Pause(pause)
        pause = min(pause * 2, 1.0)
        answer = yield Call("GET", f"/api/execution/{answer['request_id']}")
        outcome = outcome_of(answer)
    return outcome


def complete(
    request: int,
    actual: float | None,
    used: dict[str, int] | None,
    compute_ms: int | None,
) -> Plan:
    body = clean({"actual_cost": actual, "used": used or None, "compute_ms": compute_ms})
    return (yield from unit("POST", f"/api/execution/{seg(request)}/complete", body=body))


def renew(request: int, lease_secs: float | None) -> Plan:
    body = clean({"lease_secs": lease_secs})
    path = f"/api/execution/{seg(request)}/heartbeat"
    return (yield from unit("POST", path, body=body or None))


def request_info(request: int) -> Plan:
    answer = yield Call("GET", f"/api/execution/{seg(request)}")
    return answer


def queue_status(request: int | None) -> Plan:
    status = yield Call("GET", "/api/queue/status")
    answer = {
        "queued": [status["queued"].get(c, 0) for c in CLASSES],
        "running": status["running"],
        "position": None,
        "is_running": False,
    }
    if request is not None:
        where = yield Call("GET", f"/api/queue/position/{seg(request)}")
        answer["position"] = where.get("position")
        answer["is_running"] = bool(where.get("is_running"))
    return answer


def reserve(client: str, estimate: float | None) -> Plan:
    body = clean({"client": client, "estimated_cost": estimate})
    answer = yield Call("POST", "/api/reservations", body=body)
    return {"id": answer["id"], "amount": float(answer["amount"])}


def track(reservation: int, used: float) -> Plan:
    answer = yield Call("POST", f"/api/reservations/{seg(reservation)}/track", body={"used": used})
    return answer.get("alert")


def settle(reservation: int, actual: float) -> Plan:
    path = f"/api/reservations/{seg(reservation)}/settle"
    answer = yield Call("POST", path, body={"actual_cost": actual})
    return {
        "reservation": answer["id"],
        "charged": float(answer["charged"]),
        "returned": float(answer["returned"]),
        "uncovered": float(answer["uncovered"]),
        "efficiency": answer["efficiency"],
    }


def floats(account: dict[str, Any]) -> dict[str, float]:
    return {k: float(account[k]) for k in ("available", "reserved", "spent")}


def account(client: str) -> Plan:
    answer = yield Call("GET", f"/api/usage/{seg(client)}/current")
    return floats(answer["account"])


def top_up(client: str, amount: float) -> Plan:
    answer = yield Call("POST", f"/api/clients/{seg(client)}/credit", body={"amount": amount})
    return floats(answer["account"])


def transfer(from_client: str, to_client: str, amount: float) -> Plan:
    body = {"from": from_client, "to": to_client, "amount": amount}
    answer = yield Call("POST", "/api/credit/transfer", body=body)
    to = answer.get("to_account")
    return {"from": floats(answer["from_account"]), "to": floats(to) if to else None}


def consume(
    client: str, usage: dict[str, int] | None, cost: float | None, force: bool
) -> Plan:
    body = clean({"client": client, "usage": usage or None, "cost": cost, "force": force})
    answer = yield Call("POST", "/internal/consume", body=body)
    return {
        "charged": answer.get("charged"),
        "uncovered": answer.get("uncovered"),
        "warning": answer.get("warning"),
        "usage_ratio": answer.get("usage_ratio"),
    }


def check_quota(client: str, metric: str, amount: int) -> Plan:
    params = {"client": client, "type": metric, "amount": amount}
    answer = yield Call("GET", "/api/quotas/check", params)
    return answer


def bookings(
    resource: str | None,
    client: str | None,
    status: str | None,
    start: str | None,
    end: str | None,
) -> Plan:
    params = {
        "resource_id": resource,
        "client": client,
        "status": status,
        "from_date": start,
        "to_date": end,
    }
    answer = yield Call("GET", "/api/bookings", clean(params))
    return answer


def book(resource: str, client: str, start: str, end: str, purpose: str) -> Plan:
    body = {
        "resource_id": resource,
        "client": client,
        "start_time": start,
        "end_time": end,
        "purpose": purpose,
    }
    answer = yield Call("POST", "/api/bookings", body=body)
    return answer


def record_cost(
    client: str,
    cost_type: str,
    category: str,
    amount: float,
    metadata: dict[str, Any] | None,
) -> Plan:
    body = clean(
        {
            "client": client,
            "type": cost_type,
            "category": category,
            "amount": amount,
            "metadata": metadata,
        }
    )
    answer = yield Call("POST", "/api/costs", body=body)
    return answer


def cost_summary(
    client: str | None,
    cost_type: str | None,
    start: str | None,
    end: str | None,
    item_limit: int,
) -> Plan:
    params = {
        "client": client,
        "type": cost_type,
        "from_date": start,
        "to_date": end,
        "limit": item_limit,
    }
    answer = yield Call("GET", "/api/costs", clean(params))
    return answer
