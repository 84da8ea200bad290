import json
from concurrent.futures import ThreadPoolExecutor

import pytest

import quartermaster as qm

SMALL_RON = """
(
    name: "tiny",
    seed: 7,
    start: "2026-01-05T00:00:00Z",
    duration_secs: 600,
    max_requests: 450,
    pools: [(id: "servers", kind: slot(slots: 2, cost_per_hour: 3.6))],
    clients: [(id: "agents", tier: standard)],
    workloads: [
        (
            client: "agents",
            arrivals: poisson(rate_per_sec: 1.5),
            kinds: [
                (
                    name: "job",
                    class: normal,
                    needs: [(pool: "servers", amount: constant(1))],
                    service_secs: exponential(mean: 1.0),
                ),
            ],
        ),
    ],
)
"""


def test_a_scenario_runs_from_ron_text_with_attribute_access_to_the_report():
    report = qm.run_scenario(SMALL_RON)
    assert report.scenario == "tiny" and report.seed == 7
    assert report.requests == 450
    assert report.totals.submitted == 450
    assert 0 <= report.totals.wait.p50 <= report.totals.wait.p99 <= report.totals.wait.max
    assert report.totals.spend > 0
    assert report.costs.total == pytest.approx(report.totals.spend)
    assert [c.client for c in report.clients] == ["agents"]
    assert [p.pool for p in report.pools] == ["servers"]
    assert report.erlang_c.servers == 2
    assert report.fairness_jain == pytest.approx(1.0)
    assert report.to_dict() == json.loads(report.to_json())
    with pytest.raises(AttributeError, match="no field 'p999'"):
        report.totals.wait.p999


def test_a_shipped_scenario_runs_from_its_path(small_mmc, scenarios_dir):
    report = qm.run_scenario(qm.Scenario.from_dict(small_mmc))
    assert report.scenario == "mmc" and report.requests == 2000
    assert qm.Scenario.load(str(scenarios_dir / "mmc.ron")).name == "mmc"


def test_the_same_seed_gives_a_byte_identical_report(small_mmc):
    first = qm.run_scenario(small_mmc, seed=11)
    assert first.to_json() == qm.run_scenario(small_mmc, seed=11).to_json()
    assert first.to_json() != qm.run_scenario(small_mmc, seed=12).to_json()


@pytest.mark.parametrize(
    "name", ["budget", "burst", "diurnal", "gpu_bookings", "mmc", "starvation"]
)
def test_every_shipped_scenario_round_trips_through_a_dict(scenarios_dir, name):
    scenario = qm.Scenario.load(scenarios_dir / f"{name}.ron")
    data = scenario.to_dict()
    assert qm.Scenario.from_dict(json.loads(json.dumps(data))).to_dict() == data


def test_a_sweep_over_slots_shortens_waits_and_raises_spend(small_mmc):
    """More servers at a higher hourly price each (a bigger, pricier machine): waits
    shorten, and spend, charged for the server time the same work holds, rises with the
    price exactly."""
    rows = []
    for slots, price in ((7, 1.0), (8, 1.25), (10, 1.5)):
        data = json.loads(json.dumps(small_mmc))
        data["pools"][0]["kind"]["slot"] = {"slots": slots, "cost_per_hour": price}
        report = qm.Scenario.from_dict(data).run(seed=1)
        rows.append((report.totals.wait.mean, report.pools[0].final_size, report.totals.spend, price))
    waits = [wait for wait, *_ in rows]
    assert waits == sorted(waits, reverse=True) and waits[0] > waits[-1]
    assert [size for _, size, *_ in rows] == [7, 8, 10]
    spends = [spend for *_, spend, _ in rows]
    assert spends[0] > 0 and spends == sorted(spends) and spends[0] < spends[-1]
    held_hours = [spend / price for *_, spend, price in rows]
    assert held_hours == pytest.approx([held_hours[0]] * 3, rel=1e-3)


def test_runs_in_threads_match_runs_one_after_another(small_mmc):
    seeds = [1, 2, 3, 4]
    alone = [qm.run_scenario(small_mmc, seed=s).to_json() for s in seeds]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda s: qm.run_scenario(small_mmc, seed=s).to_json(), seeds))
    assert together == alone
