"""Recorded live traffic replayed from Python: `LiveEngine.trace` and `quartermaster.replay`
(mirrors `engine/src/live/trace.rs` and `engine/src/sim/replay.rs`)."""

import pytest

import quartermaster as qm

GPU = {"id": "gpu", "kind": {"slot": {"slots": 1, "cost_per_hour": 36.0}}}
CALLS = {"id": "calls", "scope": "global", "metric": "api_calls", "limit": 10, "period": "daily"}


def request():
    return {
        "client": "bot",
        "class": "normal",
        "urgency": 0.5,
        "needs": [{"pool": "gpu", "amount": 1}],
        "estimated_cost": 0.02,
    }


@pytest.fixture
def recorded(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool(GPU)
    engine.add_client({"id": "bot", "tier": "enterprise", "credits": 100.0})
    engine.set_quota(CALLS)
    for _ in range(4):
        outcome = engine.submit(request())
        engine.complete(outcome.request, 0.01)
    return engine


def test_a_live_session_replays_as_recorded_and_with_changes(recorded, tmp_path):
    trace = recorded.trace()
    assert isinstance(trace, qm.Scenario)
    assert len(trace.to_dict()["trace"]["arrivals"]) == 4
    result = qm.replay(trace, {"quotas": [{"quota": "calls", "limit": 2}]})
    assert result.baseline.totals.admitted == 4
    assert result.baseline.totals.spend == pytest.approx(0.04)
    assert result.changed is not None
    assert result.changed.totals.admitted == 2
    assert result.changed.totals.refused["quota"] == 2
    changes = tmp_path / "changes.ron"
    changes.write_text('(pools: [(pool: "gpu", add: 1)])')
    again = qm.replay(trace.to_dict(), changes)
    assert again.changed.pools[0].final_size == 2


def test_changes_naming_an_unknown_pool_raise_with_the_field(recorded):
    with pytest.raises(qm.ScenarioError) as raised:
        qm.replay(recorded.trace(), {"pools": [{"pool": "tpu", "size": 3}]})
    assert raised.value.field == "pools[0].pool"
    assert "gpu" in raised.value.expected


def test_a_file_that_is_not_a_journal_is_refused(tmp_path):
    other = tmp_path / "other.db"
    other.write_bytes(b"not a database at all" * 100)
    with pytest.raises(qm.StorageError):
        qm.replay(other)
