"""The simulator: load a scenario (file, RON text or dict), edit it as a dict, run it."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from quartermaster import _quartermaster as _native
from quartermaster.records import Record

__all__ = ["Replay", "Report", "Scenario", "replay", "run_scenario"]


class Report(Record):
    """What a run did: `scenario`, `seed`, `requests`, `totals` (with `wait.p50/p95/p99`
    and `spend`), `clients`, `pools`, `costs`, `events`, `erlang_c`, `fairness_jain`, …
    in the shape of `qm run --json`."""

    __slots__ = ("_json",)
    _json: str

    def __init__(self, json_text: str) -> None:
        super().__init__(json.loads(json_text))
        object.__setattr__(self, "_json", json_text)

    def to_json(self) -> str:
        """The report exactly as the engine wrote it: byte-identical for the same scenario
        and seed."""
        return self._json


def _is_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    # RON text always has a parenthesis; a file name rarely does and never a newline.
    return "\n" not in source and (source.endswith(".ron") or os.path.isfile(source))


class Scenario:
    """A validated scenario. `to_dict()` gives an editable copy; `Scenario.from_dict`
    validates an edited one, so a parameter sweep is a loop."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> Scenario:
        """From a `.ron` file path or from RON text."""
        if _is_path(source):
            return cls(_native.load_scenario(os.fspath(source)))
        return cls(_native.parse_scenario(str(source)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """From a dict in the scenario file's shape; raises `ScenarioError` naming every
        problem."""
        _native.check_scenario(data)
        return cls(copy.deepcopy(data))

    @property
    def name(self) -> str:
        return str(self._data["name"])

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def run(self, seed: int | None = None) -> Report:
        """Replays the scenario (the GIL is released meanwhile); `seed` overrides its own."""
        return Report(_native.run_scenario(self._data, seed))

    def __repr__(self) -> str:
        return f"Scenario({self.name!r})"


def run_scenario(
    source: str | os.PathLike[str] | Scenario | dict[str, Any], seed: int | None = None
) -> Report:
    """Runs a scenario given as a file path, RON text, a dict or a `Scenario`."""
    if isinstance(source, Scenario):
        scenario = source
    elif isinstance(source, dict):
        scenario = Scenario.from_dict(source)
    else:
        scenario = Scenario.load(source)
    return scenario.run(seed)


class Replay:
    """What `replay` found: `baseline` (the trace replayed as recorded), `changed` (with
    the changes; `None` without them) and `changes` (as given), each report in the shape of
    `qm run --json`; `to_json()` is `qm replay --json`'s file."""

    __slots__ = ("_json", "baseline", "changed", "changes")
    baseline: Report
    changed: Report | None
    changes: dict[str, Any] | None

    def __init__(self, json_text: str) -> None:
        data = json.loads(json_text)
        self._json = json_text
        self.baseline = Report(json.dumps(data["baseline"]))
        changed = data.get("changed")
        self.changed = None if changed is None else Report(json.dumps(changed))
        self.changes = data.get("changes")

    def to_json(self) -> str:
        return self._json

    def __repr__(self) -> str:
        return f"Replay(baseline={self.baseline.scenario!r}, changed={self.changed is not None})"


def replay(
    source: str | os.PathLike[str] | Scenario | dict[str, Any],
    changes: str | os.PathLike[str] | dict[str, Any] | None = None,
    *,
    from_: str | None = None,
    to: str | None = None,
    config: dict[str, Any] | None = None,
) -> Replay:
    """Replays recorded traffic as it was, then with `changes` (a dict or a `.ron` file:
    scheduler weights, quota limits, pool sizes and prices, tier budgets, autoscale
    bounds, downgrade), and returns both reports. `source` is a trace (`Scenario`, dict or
    `.ron` file, as `qm trace export` writes) or a live database, read from `from_` to `to`
    (RFC 3339) with the settings it was served with (`config`)."""
    if isinstance(source, Scenario):
        data = source.to_dict()
    elif isinstance(source, dict):
        data = source
    elif os.fspath(source).endswith(".ron"):
        data = _native.load_scenario(os.fspath(source))
    else:
        data = _native.export_trace(os.fspath(source), from_, to, config)
    if changes is not None and not isinstance(changes, dict):
        changes = _native.load_changes(os.fspath(changes))
    return Replay(_native.replay_trace(data, changes))
