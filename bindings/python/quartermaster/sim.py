"""The simulator: load a scenario (file, RON text or dict), edit it as a dict, run it."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from quartermaster import _quartermaster as _native
from quartermaster.records import Record

__all__ = ["Report", "Scenario", "run_scenario"]


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
