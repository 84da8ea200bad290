"""Quartermaster: scheduling and resource management for fleets of AI agents.

Simulate with `run_scenario` / `Scenario`, and over a grid of parameters and seeds with
`sweep` (processes, any executor, or Ray); embed the durable live engine with
`LiveEngine`, or call a `qm serve` with the same methods through `Client` (`AsyncClient`
for asyncio); keep credentials in the `Vault`.
"""

from quartermaster._quartermaster import __version__
from quartermaster.client import AsyncClient, Client
from quartermaster.errors import (
    AccessDenied,
    BookingConflict,
    BudgetExceeded,
    InUse,
    InvalidInput,
    MissingDependency,
    NotFound,
    QuartermasterError,
    QuotaExceeded,
    RequestRefused,
    ScenarioError,
    StorageError,
    VaultKeyError,
)
from quartermaster.live import EventStream, LiveEngine, SubmitOutcome, Vault
from quartermaster.records import Record
from quartermaster.sim import Replay, Report, Scenario, replay, run_scenario
from quartermaster.sweep import sweep
from quartermaster.turn import Turn

__all__ = [
    "AccessDenied",
    "AsyncClient",
    "BookingConflict",
    "BudgetExceeded",
    "Client",
    "EventStream",
    "InUse",
    "InvalidInput",
    "LiveEngine",
    "MissingDependency",
    "NotFound",
    "QuartermasterError",
    "QuotaExceeded",
    "Record",
    "Replay",
    "Report",
    "RequestRefused",
    "Scenario",
    "ScenarioError",
    "StorageError",
    "SubmitOutcome",
    "Turn",
    "Vault",
    "VaultKeyError",
    "__version__",
    "replay",
    "run_scenario",
    "sweep",
]
