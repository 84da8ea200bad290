"""Sweeps: run a scenario over every combination of parameter values and seeds, on one
machine's processes, any `concurrent.futures.Executor`, or a Ray cluster, and get one tidy
row of headline figures per run.

    table = quartermaster.sweep(
        "scenarios/mmc.ron",
        {"pools.0.kind.slot.slots": [8, 10], "workloads.0.arrivals.poisson.rate_per_sec": [5, 6]},
        seeds=range(3),
    )

A parameter is a dotted path into the scenario's dict (`Scenario.to_dict()`): keys, list
indices (`pools.0`) or, in a list of things with an `id`, that id (`pools.servers`). Each
run is deterministic for its seed, so the table is the same whatever runs it, and its rows
come in a fixed order: combinations in the grid's order (the last parameter varying
fastest), then seeds in the order given.

From the command line (the grid as TOML or JSON, dotted paths quoted), as CSV:

    python -m quartermaster sweep scenarios/mmc.ron grid.toml --seeds 0..4 --csv out.csv
"""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, Literal, overload

from quartermaster import _quartermaster as _native
from quartermaster.errors import InvalidInput, MissingDependency, QuartermasterError, ScenarioError
from quartermaster.sim import Scenario

__all__ = ["FIGURES", "sweep"]

# The headline figures of a run, in column order (after the parameters and the seed); each
# pool adds `utilisation.<pool>`, `peak_utilisation.<pool>` and `size.<pool>` (its size at
# the end, which autoscaling may have changed).
FIGURES: tuple[str, ...] = (
    "submitted",
    "admitted",
    "completed",
    "refused",
    "downgraded",
    "still_queued",
    "wait_mean",
    "wait_p50",
    "wait_p95",
    "wait_p99",
    "wait_max",
    "spend",
    "throughput_per_sec",
    "fairness_jain",
    "starvation_events",
    "alerts_raised",
)

_POOL_FIGURES = (
    ("utilisation", "mean_utilisation"),
    ("peak_utilisation", "peak_utilisation"),
    ("size", "final_size"),
)

_EXECUTOR_NAMES = '"process" (the default), "serial", "ray" or a Ray address "ray://host:port"'
_U64_MAX = 2**64 - 1

Row = dict[str, Any]


def _invalid(field: str, value: Any, expected: str) -> InvalidInput:
    error = InvalidInput(f"invalid {field}: got {value!r}, expected {expected}")
    error.field, error.value, error.expected = field, repr(value), expected
    return error


# ---- paths into the scenario dict -------------------------------------------------------


def _step(node: Any, segment: str, path: str, walked: str) -> tuple[Any, str | int]:
    """The child of `node` named by `segment`, and the key or index that reaches it."""
    where = walked or "the scenario"
    if isinstance(node, dict):
        if segment in node:
            return node[segment], segment
        keys = ", ".join(sorted(node)) or "none"
        raise _invalid(f"grid[{path!r}]", path, f"a key of {where} at {segment!r} (one of: {keys})")
    if isinstance(node, list):
        if segment.isdigit():
            index = int(segment)
            if index < len(node):
                return node[index], index
        else:
            for index, item in enumerate(node):
                if isinstance(item, dict) and item.get("id") == segment:
                    return item, index
        ids = [str(item["id"]) for item in node if isinstance(item, dict) and "id" in item]
        choices = f"an index 0..{len(node) - 1}" if node else "nothing (the list is empty)"
        if ids and node:
            choices += f" or an id ({', '.join(ids)})"
        raise _invalid(f"grid[{path!r}]", path, f"{choices} in {where} at {segment!r}")
    raise _invalid(
        f"grid[{path!r}]",
        path,
        f"a path that stops at {where} (a {type(node).__name__}, not a dict or list)",
    )


def _resolve(data: dict[str, Any], path: str) -> list[str | int]:
    """The keys and indices that `path` names in `data`; raises `InvalidInput` if it names
    nothing there."""
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        raise _invalid("grid", path, 'a dotted path into the scenario such as "pools.0.kind"')
    keys: list[str | int] = []
    node: Any = data
    walked = ""
    for segment in path.split("."):
        node, key = _step(node, segment, path, walked)
        keys.append(key)
        walked = f"{walked}.{key}" if walked else str(key)
    return keys


def _set(data: dict[str, Any], keys: Sequence[str | int], value: Any) -> None:
    node: Any = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)


# ---- checking the arguments -------------------------------------------------------------


def _base(scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    if isinstance(scenario, Scenario):
        return scenario.to_dict()
    if isinstance(scenario, Mapping):
        return Scenario.from_dict(dict(scenario)).to_dict()
    if isinstance(scenario, str | os.PathLike):
        return Scenario.load(scenario).to_dict()
    raise _invalid(
        "scenario", scenario, "a Scenario, a scenario dict, a .ron file path or RON text"
    )


def _grid(grid: Mapping[str, Any], data: dict[str, Any]) -> list[tuple[str, list[Any], list[Any]]]:
    """(path, keys, values) for each parameter, every path checked against `data`."""
    if not isinstance(grid, Mapping):
        raise _invalid("grid", grid, "a dict of dotted paths to lists of values")
    checked = []
    for path, values in grid.items():
        keys = _resolve(data, path)
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise _invalid(f"grid[{path!r}]", values, "a list of values to try")
        values = list(values)
        if not values:
            raise _invalid(f"grid[{path!r}]", values, "a non-empty list of values to try")
        checked.append((path, keys, values))
    return checked


def _seeds(seeds: Iterable[int]) -> list[int]:
    if isinstance(seeds, int | str | bytes) or not isinstance(seeds, Iterable):
        raise _invalid("seeds", seeds, "a list of integer seeds such as [1, 2, 3] or range(5)")
    checked = list(seeds)
    if not checked:
        raise _invalid("seeds", checked, "at least one integer seed")
    for index, seed in enumerate(checked):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise _invalid(f"seeds[{index}]", seed, "an integer seed")
        if not 0 <= seed <= _U64_MAX:
            raise _invalid(f"seeds[{index}]", seed, f"an integer seed from 0 to {_U64_MAX}")
    return checked


def _combinations(
    data: dict[str, Any], grid: list[tuple[str, list[Any], list[Any]]]
) -> list[tuple[Row, dict[str, Any]]]:
    """Each combination of values as (its parameter columns, the scenario dict to run),
    every dict validated before anything runs."""
    made = []
    for values in itertools.product(*(values for _, _, values in grid)):
        scenario = copy.deepcopy(data)
        params: Row = {}
        for (path, keys, _), value in zip(grid, values, strict=True):
            _set(scenario, keys, value)
            params[path] = value
        try:
            _native.check_scenario(scenario)
        except ScenarioError as e:
            shown = ", ".join(f"{path}={value!r}" for path, value in params.items())
            error = ScenarioError(f"the sweep's combination {shown} is not a valid scenario: {e}")
            error.field, error.problems = e.field, e.problems
            error.value, error.expected = e.value, e.expected
            raise error from e
        made.append((params, scenario))
    return made


# ---- one run ----------------------------------------------------------------------------


def _figures(report: Mapping[str, Any]) -> Row:
    """The headline figures of a report (its JSON as a dict)."""
    totals = report["totals"]
    wait = totals["wait"]
    row: Row = {
        "submitted": totals["submitted"],
        "admitted": totals["admitted"],
        "completed": totals["completed"],
        "refused": sum(totals["refused"].values()),
        "downgraded": totals["downgraded"],
        "still_queued": report["still_queued"],
        "wait_mean": wait["mean"],
        "wait_p50": wait["p50"],
        "wait_p95": wait["p95"],
        "wait_p99": wait["p99"],
        "wait_max": wait["max"],
        "spend": totals["spend"],
        "throughput_per_sec": totals["throughput_per_sec"],
        "fairness_jain": report["fairness_jain"],
        "starvation_events": report["starvation_events"],
        "alerts_raised": report["alerts"]["raised"],
    }
    for pool in report["pools"]:
        for column, field in _POOL_FIGURES:
            row[f"{column}.{pool['pool']}"] = pool[field]
    return row


def _run_one(scenario: dict[str, Any], seed: int) -> Row:
    """Runs one scenario dict with one seed and returns its figures (what a worker
    process, thread or Ray task does)."""
    return _figures(json.loads(_native.run_scenario(scenario, seed)))


# ---- executors --------------------------------------------------------------------------

Job = tuple[dict[str, Any], int]


def _on_executor(executor: Executor, jobs: list[Job]) -> list[Row]:
    futures = [executor.submit(_run_one, scenario, seed) for scenario, seed in jobs]
    return [future.result() for future in futures]


def _serial(jobs: list[Job]) -> list[Row]:
    return [_run_one(scenario, seed) for scenario, seed in jobs]


def _processes(jobs: list[Job]) -> list[Row]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with ProcessPoolExecutor(max_workers=max(1, min(len(jobs), cpus or 1))) as pool:
        return _on_executor(pool, jobs)


def _import_ray(executor: str) -> Any:
    # A Ray client address (ray://) also needs the client extra (grpcio).
    package = "ray[client]>=2.9,<3" if executor.startswith("ray://") else "ray>=2.9,<3"
    try:
        import ray
    except ImportError as e:
        error = MissingDependency(
            f"executor={executor!r} needs Ray, which is not installed here: pip install '{package}'"
        )
        error.field, error.value = "executor", repr(executor)
        error.expected = f"the ray package installed (pip install '{package}')"
        raise error from e
    return ray


def _on_ray(address: str | None, jobs: list[Job]) -> list[Row]:
    """Each run a Ray task. Uses the Ray connection this process already has; otherwise
    connects to `address` (None: what a bare `ray.init()` finds: `RAY_ADDRESS`, a cluster
    `ray start` left on this machine, or a local instance started for this sweep) and
    disconnects afterwards."""
    ray = _import_ray(address or "ray")
    connected_here = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as e:
            where = address or os.environ.get("RAY_ADDRESS") or "a local instance"
            raise QuartermasterError(f"could not start or reach Ray ({where}): {e}") from e
        connected_here = True
    try:
        task = ray.remote(num_cpus=1)(_run_one)
        stored: dict[int, Any] = {}
        refs = []
        for scenario, seed in jobs:
            # One copy of each combination in the object store, shared by its seeds.
            if id(scenario) not in stored:
                stored[id(scenario)] = ray.put(scenario)
            refs.append(task.remote(stored[id(scenario)], seed))
        return list(ray.get(refs))
    finally:
        if connected_here:
            ray.shutdown()


def _runner(executor: Executor | str | None) -> Callable[[list[Job]], list[Row]]:
    if executor is None or executor == "process":
        return _processes
    if isinstance(executor, Executor):
        return lambda jobs: _on_executor(executor, jobs)
    if executor == "serial":
        return _serial
    if executor == "ray":
        _import_ray(executor)
        return lambda jobs: _on_ray(None, jobs)
    if isinstance(executor, str) and executor.startswith("ray://"):
        _import_ray(executor)
        return lambda jobs: _on_ray(executor, jobs)
    raise _invalid(
        "executor", executor, f"a concurrent.futures.Executor, None or {_EXECUTOR_NAMES}"
    )


# ---- the table --------------------------------------------------------------------------


def _table(rows: list[Row], columns: list[str], as_frame: bool | None) -> Any:
    if as_frame is False:
        return rows
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as e:
        if as_frame is None:
            return rows
        error = MissingDependency("sweep(as_frame=True) needs pandas: pip install pandas")
        error.field, error.value, error.expected = "as_frame", "True", "pandas installed"
        raise error from e
    return pandas.DataFrame(rows, columns=columns)


@overload
def sweep(
    scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    grid: Mapping[str, Iterable[Any]],
    seeds: Iterable[int],
    executor: Executor | str | None = None,
    *,
    as_frame: Literal[False],
) -> list[Row]: ...


@overload
def sweep(
    scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    grid: Mapping[str, Iterable[Any]],
    seeds: Iterable[int],
    executor: Executor | str | None = None,
    *,
    as_frame: bool | None = None,
) -> Any: ...


def sweep(
    scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    grid: Mapping[str, Iterable[Any]],
    seeds: Iterable[int],
    executor: Executor | str | None = None,
    *,
    as_frame: bool | None = None,
) -> Any:
    """Runs `scenario` for every combination of the `grid`'s values and every seed.

    `scenario`: a `Scenario`, a scenario dict, a `.ron` path or RON text. `grid`: dotted
    paths into `scenario.to_dict()` (keys, list indices, or ids of list items) to the
    values to try, e.g. `{"pools.0.kind.slot.slots": [8, 10]}`; `{}` runs the scenario as
    it is. `seeds`: the seeds each combination runs with (`range(5)`).

    `executor`: None or `"process"` for a process pool on this machine (one worker per
    CPU), `"serial"` for this thread, any `concurrent.futures.Executor` (left running), or
    `"ray"` (the Ray connection this process has, else `RAY_ADDRESS`, else a local Ray
    started for the sweep) or a Ray address such as `"ray://head:10001"`; each run is then
    a Ray task, and the cluster's workers need `quartermaster` installed.

    Returns one row per (combination, seed), in the grid's order then the seeds': the
    parameters (columns named by their paths), `seed`, then `FIGURES` and per pool
    `utilisation.<pool>`, `peak_utilisation.<pool>` and `size.<pool>`. A pandas DataFrame
    if pandas is installed (`as_frame=None`) or asked for (`as_frame=True`), else a list
    of dicts. Every combination is validated before any runs: a path that names nothing,
    an empty list, a bad seed or an unknown executor raises `InvalidInput`, a value the
    scenario rejects `ScenarioError`, and Ray or pandas missing `MissingDependency`.
    """
    runner = _runner(executor)
    data = _base(scenario)
    checked_grid = _grid(grid, data)
    checked_seeds = _seeds(seeds)
    combinations = _combinations(data, checked_grid)

    jobs = [(scenario_dict, seed) for _, scenario_dict in combinations for seed in checked_seeds]
    figures = runner(jobs)

    rows: list[Row] = []
    columns = [path for path, _, _ in checked_grid] + ["seed", *FIGURES]
    for (params, _), seed in itertools.product(combinations, checked_seeds):
        rows.append({**params, "seed": seed})
    for row, figure in zip(rows, figures, strict=True):
        for column in figure:
            if column not in columns:
                columns.append(column)
        row.update(figure)
    return _table(rows, columns, as_frame)


# ---- python -m quartermaster sweep -------------------------------------------------------


def _read_grid(path: str) -> Mapping[str, Any]:
    with open(path, "rb") as file:
        text = file.read()
    if path.endswith(".json"):
        return dict(json.loads(text))
    import tomllib

    return tomllib.loads(text.decode())


def _seed_list(text: str) -> list[int]:
    try:
        if ".." in text:
            first, last = text.split("..", 1)
            return list(range(int(first), int(last) + 1))
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        expected = 'integers such as "1,2,3" or a range such as "0..9"'
        raise _invalid("--seeds", text, expected) from None


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import csv

    parser = argparse.ArgumentParser(
        prog="python -m quartermaster sweep",
        description="Run a scenario over a grid of parameter values and seeds.",
    )
    parser.add_argument("scenario", help="the scenario (.ron)")
    parser.add_argument(
        "grid",
        help="the grid: TOML (or .json) of dotted paths to lists of values,"
        ' e.g. "pools.0.kind.slot.slots" = [8, 10]',
    )
    parser.add_argument("--seeds", default="1", help='"1,2,3" or "0..9" (default 1)')
    parser.add_argument(
        "--executor", default="process", help=f"{_EXECUTOR_NAMES} (default process)"
    )
    parser.add_argument("--csv", help="write the table here instead of printing it")
    args = parser.parse_args(argv)
    try:
        rows = sweep(
            args.scenario,
            _read_grid(args.grid),
            _seed_list(args.seeds),
            executor=args.executor,
            as_frame=False,
        )
    except (QuartermasterError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    columns = list(dict.fromkeys(column for row in rows for column in row))
    out = open(args.csv, "w", newline="") if args.csv else sys.stdout
    try:
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
