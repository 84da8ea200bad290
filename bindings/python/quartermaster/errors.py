"""The exceptions Quartermaster raises. The native module raises these classes, carrying the
engine's own messages (which name the field, the value and what was expected)."""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "BookingConflict",
    "BudgetExceeded",
    "InUse",
    "InvalidInput",
    "MissingDependency",
    "NotFound",
    "QuartermasterError",
    "QuotaExceeded",
    "RequestRefused",
    "ScenarioError",
    "StorageError",
    "VaultKeyError",
]


class QuartermasterError(Exception):
    """Base of every error Quartermaster raises.

    An error about one value also names it: `field` (a dotted path such as
    `scheduler.starvation_bound_secs`), `value` and `expected`, each None otherwise. A
    scenario's problems are all in `problems` (line, column, field, message each)."""

    field: str | None = None
    value: str | None = None
    expected: str | None = None
    problems: list[dict[str, object]] | None = None
    # From a server's answer (`quartermaster.Client`): the HTTP status, and the booking
    # a refused one would have overlapped.
    status: int | None = None
    conflict: dict[str, object] | None = None


class InvalidInput(QuartermasterError, ValueError):
    """An argument, or a field of a dict, is not what the engine accepts."""


class MissingDependency(QuartermasterError, ImportError):
    """An optional package a feature needs is not installed (Ray for `sweep(executor="ray")`,
    pandas for `sweep(as_frame=True)`); the message says how to install it."""


class ScenarioError(QuartermasterError, ValueError):
    """A scenario file or dict cannot be read, or fails validation (every problem listed)."""


class NotFound(QuartermasterError, LookupError):
    """An id names no client, pool, quota, request, reservation, booking or credential."""


class RequestRefused(QuartermasterError):
    """The engine turned work away (see `SubmitOutcome.raise_for_refusal`)."""


class QuotaExceeded(RequestRefused):
    """A hard-stop quota refused the work."""


class BudgetExceeded(RequestRefused):
    """The client's credit does not cover the reservation."""


class BookingConflict(QuartermasterError):
    """The slot overlaps a confirmed booking of the same resource."""


class InUse(QuartermasterError):
    """What was to be removed is still in use: a client with work in hand (remove it with
    `drain=True` to cancel that work), a resource with bookings to come."""


class AccessDenied(QuartermasterError, PermissionError):
    """A server refused the bearer token: missing, unknown, revoked or expired (401), or
    acting for another client or needing an admin (403)."""


class VaultKeyError(QuartermasterError):
    """The vault key is malformed, or is not the key the vault was created with."""


class StorageError(QuartermasterError):
    """The SQLite store failed, or holds something this build cannot read."""
