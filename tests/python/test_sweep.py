"""quartermaster.sweep: the table, determinism across executors, and bad input."""

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import quartermaster as qm
from quartermaster.sweep import FIGURES, main

SLOTS = "pools.0.kind.slot.slots"
RATE = "workloads.0.arrivals.poisson.rate_per_sec"
GRID = {SLOTS: [7, 9], RATE: [5.0, 6.4]}
SEEDS = [1, 2]


@pytest.fixture
def tiny_mmc(small_mmc: dict) -> dict:
    """The shipped M/M/c cut to 300 requests a run, and to two minutes (of monitor ticks)."""
    small_mmc["max_requests"] = 300
    small_mmc["duration_secs"] = 120.0
    return small_mmc


def rows_of(table) -> list[dict]:
    """The table as a list of dicts, whether or not pandas made it a DataFrame."""
    if isinstance(table, list):
        return table
    return table.to_dict("records")


def test_one_row_per_combination_and_seed_in_a_stable_order(tiny_mmc):
    rows = qm.sweep(tiny_mmc, GRID, SEEDS, executor="serial", as_frame=False)
    assert [(r[SLOTS], r[RATE], r["seed"]) for r in rows] == [
        (7, 5.0, 1), (7, 5.0, 2), (7, 6.4, 1), (7, 6.4, 2),
        (9, 5.0, 1), (9, 5.0, 2), (9, 6.4, 1), (9, 6.4, 2),
    ]  # fmt: skip
    pool_columns = ["utilisation.servers", "peak_utilisation.servers", "size.servers"]
    assert list(rows[0]) == [SLOTS, RATE, "seed", *FIGURES, *pool_columns]
    for row in rows:
        assert row["submitted"] == 300
        assert row["admitted"] + row["refused"] <= row["submitted"]
        assert 0 <= row["wait_p50"] <= row["wait_p95"] <= row["wait_p99"] <= row["wait_max"]
        assert 0 < row["utilisation.servers"] <= row["peak_utilisation.servers"] <= 1
        assert row["size.servers"] == row[SLOTS]


def test_each_row_holds_the_figures_of_its_own_run(tiny_mmc):
    rows = qm.sweep(tiny_mmc, {SLOTS: [9]}, [3], executor="serial", as_frame=False)
    tiny_mmc["pools"][0]["kind"]["slot"]["slots"] = 9
    report = qm.run_scenario(tiny_mmc, seed=3)
    assert rows[0]["wait_p99"] == report.totals.wait.p99
    assert rows[0]["spend"] == report.totals.spend
    assert rows[0]["completed"] == report.totals.completed
    assert rows[0]["utilisation.servers"] == report.pools[0].mean_utilisation
    # More servers, shorter waits: the parameter reached the scenario.
    more = qm.sweep(tiny_mmc, {SLOTS: [7, 12]}, [3], executor="serial", as_frame=False)
    assert more[0]["wait_mean"] > more[1]["wait_mean"]


def test_results_are_identical_whatever_runs_them(tiny_mmc):
    serial = qm.sweep(tiny_mmc, GRID, SEEDS, executor="serial", as_frame=False)
    assert qm.sweep(tiny_mmc, GRID, SEEDS, as_frame=False) == serial  # processes
    with ThreadPoolExecutor(max_workers=3) as threads:
        assert qm.sweep(tiny_mmc, GRID, SEEDS, executor=threads, as_frame=False) == serial
    # Different seeds do differ, so the comparison above means something.
    assert serial[0]["wait_mean"] != serial[1]["wait_mean"]


def test_paths_reach_list_items_by_id_and_the_scenario_comes_in_any_form(
    tiny_mmc, scenarios_dir: Path
):
    by_index = qm.sweep(tiny_mmc, {SLOTS: [9]}, [1], executor="serial", as_frame=False)
    by_id = qm.sweep(
        qm.Scenario.from_dict(tiny_mmc),
        {"pools.servers.kind.slot.slots": [9]},
        [1],
        executor="serial",
        as_frame=False,
    )
    assert by_id[0]["pools.servers.kind.slot.slots"] == 9
    assert by_id[0]["wait_p99"] == by_index[0]["wait_p99"]
    # No parameters: the scenario as it is, once a seed; from its file this time.
    grid = {"max_requests": [300], "duration_secs": [60.0]}
    from_file = qm.sweep(scenarios_dir / "mmc.ron", grid, [1], executor="serial", as_frame=False)
    assert from_file[0]["submitted"] == 300
    plain = qm.sweep(tiny_mmc, {}, [1, 2], executor="serial", as_frame=False)
    assert [row["seed"] for row in plain] == [1, 2]


def test_a_dataframe_when_pandas_is_installed(tiny_mmc):
    pandas = pytest.importorskip("pandas", reason="pandas is not installed: tables are lists")
    frame = qm.sweep(tiny_mmc, GRID, SEEDS, executor="serial")
    assert isinstance(frame, pandas.DataFrame)
    assert frame.shape[0] == 8 and list(frame.columns[:3]) == [SLOTS, RATE, "seed"]


def test_as_frame_true_without_pandas_says_how_to_install_it(tiny_mmc, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    assert isinstance(qm.sweep(tiny_mmc, {}, [1], executor="serial"), list)
    with pytest.raises(qm.MissingDependency, match="pip install pandas"):
        qm.sweep(tiny_mmc, {}, [1], executor="serial", as_frame=True)


@pytest.mark.parametrize(
    ("grid", "field", "match"),
    [
        ({"pools.0.kind.slot.seats": [8]}, "grid['pools.0.kind.slot.seats']",
         r"a key of pools\.0\.kind\.slot at 'seats' \(one of: cost_per_hour, slots\)"),
        ({"pools.3.kind": [8]}, "grid['pools.3.kind']", r"an index 0\.\.0 or an id \(servers\)"),
        ({"pools.gpu.kind": [8]}, "grid['pools.gpu.kind']", r"or an id \(servers\)"),
        ({"nonsense": [1]}, "grid['nonsense']", "a key of the scenario at 'nonsense'"),
        ({"name.first": ["x"]}, "grid['name.first']", "not a dict or list"),
        ({"pools..kind": [1]}, "grid", "a dotted path"),
        ({SLOTS: []}, f"grid[{SLOTS!r}]", "a non-empty list of values"),
        ({SLOTS: 8}, f"grid[{SLOTS!r}]", "a list of values"),
        ({SLOTS: "8"}, f"grid[{SLOTS!r}]", "a list of values"),
    ],
)  # fmt: skip
def test_a_bad_grid_names_the_path_the_value_and_what_was_expected(tiny_mmc, grid, field, match):
    with pytest.raises(qm.InvalidInput, match=match) as raised:
        qm.sweep(tiny_mmc, grid, [1], executor="serial")
    assert raised.value.field == field
    assert raised.value.expected is not None and raised.value.value is not None


@pytest.mark.parametrize(
    ("seeds", "field", "match"),
    [
        ([1, "2"], "seeds[1]", "got '2', expected an integer seed"),
        ([1.5], "seeds[0]", "got 1.5, expected an integer seed"),
        ([True], "seeds[0]", "expected an integer seed"),
        ([-1], "seeds[0]", "from 0 to"),
        ([], "seeds", "at least one integer seed"),
        (3, "seeds", r"a list of integer seeds such as \[1, 2, 3\] or range\(5\)"),
    ],
)
def test_a_bad_seed_is_named(tiny_mmc, seeds, field, match):
    with pytest.raises(qm.InvalidInput, match=match) as raised:
        qm.sweep(tiny_mmc, {SLOTS: [8]}, seeds, executor="serial")
    assert raised.value.field == field


def test_a_value_the_scenario_rejects_names_the_combination(tiny_mmc):
    with pytest.raises(qm.ScenarioError, match=r"combination pools\.0\.kind\.slot\.slots=0"):
        qm.sweep(tiny_mmc, {SLOTS: [8, 0]}, [1], executor="serial")
    with pytest.raises(qm.ScenarioError, match="slots='eight'"):
        qm.sweep(tiny_mmc, {SLOTS: ["eight"]}, [1], executor="serial")


@pytest.mark.parametrize("executor", ["threads", "ray:/head", "Ray", 4])
def test_an_unknown_executor_lists_the_choices(tiny_mmc, executor):
    with pytest.raises(qm.InvalidInput, match='"serial", "ray" or a Ray address') as raised:
        qm.sweep(tiny_mmc, {}, [1], executor=executor)
    assert raised.value.field == "executor"


def test_ray_missing_says_how_to_install_it(tiny_mmc, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    for executor, package in (("ray", "ray"), ("ray://head:10001", r"ray\[client\]")):
        install = rf"pip install '{package}>=2\.9,<3'"
        with pytest.raises(qm.MissingDependency, match=install) as raised:
            qm.sweep(tiny_mmc, {}, [1], executor=executor)
        assert raised.value.field == "executor"
        assert isinstance(raised.value, ImportError)


def test_the_command_line_writes_the_table_as_csv(tiny_mmc, tmp_path, scenarios_dir, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(f'"{SLOTS}" = [7, 9]\n"max_requests" = [200]\n"duration_secs" = [60.0]\n')
    out = tmp_path / "sweep.csv"
    scenario = str(scenarios_dir / "mmc.ron")
    args = [scenario, str(grid), "--seeds", "1..2", "--executor", "serial", "--csv", str(out)]
    assert main(args) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith(f"{SLOTS},max_requests,duration_secs,seed,submitted,")
    assert [line.split(",")[:5] for line in lines[1:]] == [
        ["7", "200", "60.0", "1", "200"], ["7", "200", "60.0", "2", "200"],
        ["9", "200", "60.0", "1", "200"], ["9", "200", "60.0", "2", "200"],
    ]  # fmt: skip
    grid.write_text('"pools.0.kind.slot.seats" = [7]\n')
    assert main([scenario, str(grid), "--executor", "serial"]) == 2
    assert "invalid grid['pools.0.kind.slot.seats']" in capsys.readouterr().err


def test_on_ray_the_same_table(tiny_mmc):
    ray = pytest.importorskip(
        "ray",
        reason="Ray is not installed: pip install 'ray>=2.9,<3' (.ci/run installs it)",
    )
    serial = qm.sweep(tiny_mmc, GRID, SEEDS, executor="serial", as_frame=False)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        assert qm.sweep(tiny_mmc, GRID, SEEDS, executor="ray", as_frame=False) == serial
        assert ray.is_initialized()  # a connection the caller made is left open
    finally:
        ray.shutdown()
