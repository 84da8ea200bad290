"""The live engine runs what the simulator runs: the monitor autoscales, requests batch,
settings are refused as a scenario refuses them, and tier budgets apply by default."""

import threading
import time

import pytest

import quartermaster as qm

QUICK_MONITOR = {
    "sample_every_secs": 0.05,
    "window": 2,
    "horizon_secs": 0.0,
    "cooldown_secs": 0.0,
    "stabilisation_secs": 0.2,
}


def one_slot(client="planner", **extra):
    return {
        "client": client,
        "class": "normal",
        "needs": [{"pool": "gpu", "amount": 1}],
        "estimated_cost": 0.01,
        **extra,
    }


def wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_live_pool_autoscales_for_queued_work_and_back(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db", {"monitor": QUICK_MONITOR})
    engine.add_pool(
        {
            "id": "gpu",
            "kind": {"slot": {"slots": 1, "cost_per_hour": 2.0}},
            "autoscale": {"min": 1, "max": 4},
        }
    )
    engine.add_client({"id": "planner", "tier": "enterprise"})
    outcomes = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(engine.submit(one_slot())))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 4 and all(o.started for o in outcomes)
    assert engine.pool_history()[0]["size"] >= 4
    for outcome in outcomes:
        engine.complete(outcome.request)
    wait_for(lambda: engine.pool_history()[0]["size"] == 1)
    reasons = {event["reason"] for event in engine.pool_history()[0]["scaling"]}
    assert reasons == {"autoscale"}


def test_requests_of_one_batch_group_start_together(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool({"id": "gpu", "kind": {"slot": {"slots": 1, "cost_per_hour": 2.0}}})
    engine.add_client({"id": "planner", "tier": "enterprise"})
    group = {"name": "summaries", "max_size": 2, "max_wait_secs": 60.0}
    outcomes = []
    first = threading.Thread(
        target=lambda: outcomes.append(engine.submit(one_slot(batch=group)))
    )
    first.start()
    wait_for(lambda: engine.request_state(0) == "queued")
    assert not outcomes, "held until its group fills"
    outcomes.append(engine.submit(one_slot(batch=group)))
    first.join(timeout=30)
    assert sorted(o.request for o in outcomes) == [0, 1]
    assert all(o.started and o.batch == 0 for o in outcomes)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"scheduler": {"starvation_bound_secs": -5}}, "scheduler.starvation_bound_secs"),
        (
            {"scheduler": {"off_peak": {"start_hour": 30, "end_hour": 6}}},
            "scheduler.off_peak.start_hour",
        ),
        ({"monitor": {"window": 1}}, "monitor.window"),
    ],
)
def test_bad_settings_are_refused_as_a_scenario_refuses_them(tmp_path, settings, field):
    with pytest.raises(qm.InvalidInput) as live:
        qm.LiveEngine(tmp_path / "fleet.db", settings)
    assert live.value.field == field
    scenario = qm.Scenario.load("scenarios/mmc.ron").to_dict()
    scenario.update(settings)
    with pytest.raises(qm.ScenarioError) as simulated:
        qm.Scenario.from_dict(scenario)
    assert simulated.value.field == field
    assert str(live.value) in str(simulated.value)
    assert not (tmp_path / "fleet.db").exists(), "refused before anything was written"


def test_a_basic_client_stops_at_its_default_monthly_budget(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool({"id": "gpu", "kind": {"slot": {"slots": 10, "cost_per_hour": 2.0}}})
    engine.add_client({"id": "bob", "tier": "basic"})
    spent = 0.0
    while True:
        outcome = engine.submit(one_slot("bob", estimated_cost=40.0))
        if outcome.refused:
            break
        engine.complete(outcome.request, 40.0)
        spent += 40.0
    assert spent == 80.0
    assert outcome.reason == "quota" and "budget:bob" in outcome.message
    # `monthly_budget: None` turns the cap off.
    engine.add_client({"id": "carol", "tier": "basic", "monthly_budget": None})
    for _ in range(4):
        outcome = engine.submit(one_slot("carol", estimated_cost=40.0))
        engine.complete(outcome.raise_for_refusal().request, 40.0)


def test_a_requests_record_tells_what_happened_to_it(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool({"id": "gpu", "kind": {"slot": {"slots": 1, "cost_per_hour": 2.0}}})
    engine.add_client({"id": "bob", "tier": "basic", "credits": 0.5})
    events = engine.subscribe()
    refused = engine.submit(one_slot("bob", estimated_cost=1.0))
    assert refused.refused and refused.reason == "credit"
    record = engine.request_info(refused.request)
    assert record["state"] == "refused" and record["reason"] == "credit"
    assert "credit" in record["message"] and record["charged"] is None
    # Events reach the stream through the engine's ledger, a moment after the call.
    names = []
    while "request.refused" not in names:
        event = events.next(timeout=20)
        assert event is not None, f"no request.refused after {names}"
        names.append(event["type"])
    assert engine.request_info(999) is None
