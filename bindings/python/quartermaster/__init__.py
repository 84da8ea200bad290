"""Quartermaster: scheduling and resource management for fleets of AI agents.

Simulate with `run_scenario` / `Scenario`; embed the durable live engine with
`LiveEngine`; keep credentials in the `Vault`.
"""

from quartermaster._quartermaster import __version__
from quartermaster.errors import (
    BookingConflict,
    BudgetExceeded,
    InvalidInput,
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
from quartermaster.sim import Report, Scenario, run_scenario

__all__ = [
    "BookingConflict",
    "BudgetExceeded",
    "EventStream",
    "InvalidInput",
    "LiveEngine",
    "NotFound",
    "QuartermasterError",
    "QuotaExceeded",
    "Record",
    "Report",
    "RequestRefused",
    "Scenario",
    "ScenarioError",
    "StorageError",
    "SubmitOutcome",
    "Vault",
    "VaultKeyError",
    "__version__",
    "run_scenario",
]
