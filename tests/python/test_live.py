import asyncio
import threading
import time

import pytest

import quartermaster as qm

POOL = {
    "id": "gpt4",
    "kind": {"rate": {"capacity": 10000.0, "refill_per_sec": 166.0, "cost_per_1k_units": 0.03}},
}
GPU = {"id": "gpu", "kind": {"slot": {"slots": 1, "cost_per_hour": 2.0}}}
CALLS = {"id": "calls", "scope": "global", "metric": "api_calls", "limit": 3, "period": "daily"}


def request(client="planner", pool="gpt4", amount=500, cost=0.015):
    return {
        "client": client,
        "class": "normal",
        "urgency": 0.5,
        "needs": [{"pool": pool, "amount": amount}],
        "estimated_cost": cost,
    }


@pytest.fixture
def engine(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool(POOL)
    engine.add_client({"id": "planner", "tier": "premium", "credits": 100.0})
    return engine


def test_a_submitted_request_starts_completes_and_is_charged(engine):
    outcome = engine.submit(request())
    assert outcome.started and not outcome.refused
    assert engine.request_state(outcome.request) == "running"
    engine.complete(outcome.request, 0.012)
    assert engine.request_state(outcome.request) == "finished"
    account = engine.account("planner")
    assert account["spent"] == pytest.approx(0.012)
    assert account["available"] == pytest.approx(100.0 - 0.012)
    summary = engine.cost_summary(client="planner")
    assert summary["count"] == 1 and summary["total"] == pytest.approx(0.012)


def test_a_quota_refusal_is_an_outcome_that_can_be_raised(engine):
    engine.set_quota(CALLS)
    for _ in range(3):
        engine.complete(engine.submit(request()).raise_for_refusal().request)
    answer = engine.check_quota("planner", "api_calls", 1)
    # The ratio counts the amount asked about: 3 used + 1 of 3 allowed.
    assert answer["allowed"] is False and answer["usage_ratio"] == pytest.approx(4 / 3)
    refused = engine.submit(request())
    assert refused.refused and refused.reason == "quota"
    assert "calls" in refused.message
    assert engine.request_state(refused.request) == "refused"
    with pytest.raises(qm.QuotaExceeded, match="refused \\(quota\\)"):
        refused.raise_for_refusal()


def test_state_survives_reopening_the_file(tmp_path):
    path = tmp_path / "fleet.db"
    first = qm.LiveEngine(path)
    first.add_pool(POOL)
    first.add_client({"id": "planner", "tier": "premium", "credits": 50.0})
    first.set_quota(CALLS)
    first.complete(first.submit(request()).request, 1.5)
    first.add_resource(
        {"id": "a100", "name": "A100 box", "kind": "gpu", "cost_per_hour": 4.0}
    )
    first.book("a100", "planner", "2099-01-01T10:00:00Z", "2099-01-01T12:00:00Z", "train")
    del first

    second = qm.LiveEngine(path)
    # Its own quota, and the premium tier's $1,000 monthly budget.
    assert sorted(q["id"] for q in second.quotas()) == ["budget:planner", "calls"]
    assert second.account("planner")["spent"] == pytest.approx(1.5)
    assert [r["id"] for r in second.resources()] == ["a100"]
    assert [b["purpose"] for b in second.bookings(resource="a100")] == ["train"]
    assert second.check_quota("planner", "api_calls", 1)["usage_ratio"] == pytest.approx(2 / 3)


def test_reservations_track_and_settle(engine):
    grant = engine.reserve("planner", 10.0)
    assert grant["amount"] == pytest.approx(10.0)
    assert engine.track(grant["id"], 8.5) == "warning"
    settled = engine.settle(grant["id"], 9.0)
    assert settled["charged"] == pytest.approx(9.0)
    assert settled["returned"] == pytest.approx(1.0)
    assert engine.account("planner")["available"] == pytest.approx(91.0)


def test_bookings_refuse_overlaps_and_cancel(engine):
    engine.add_resource({"id": "a100", "name": "A100 box", "kind": "gpu", "cost_per_hour": 4.0})
    booking = engine.book("a100", "planner", "2099-01-01T10:00:00Z", "2099-01-01T12:00:00Z")
    assert booking["status"] == "confirmed"
    with pytest.raises(qm.BookingConflict):
        engine.book("a100", "planner", "2099-01-01T11:00:00Z", "2099-01-01T13:00:00Z")
    assert engine.cancel_booking(booking["id"])["status"] == "cancelled"
    engine.book("a100", "planner", "2099-01-01T11:00:00Z", "2099-01-01T13:00:00Z")
    assert len(engine.bookings(status="confirmed")) == 1


def test_events_stream_to_subscribers(engine):
    events = engine.subscribe()
    engine.record_cost("planner", "hosting", "vm", 3.0, {"host": "eu-1"})
    event = events.next(timeout=5)
    assert event["type"] == "cost.recorded"
    assert events.drain() == []
    assert events.next(timeout=0.01) is None


def test_a_queued_request_starts_when_another_thread_completes(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool(GPU)
    engine.add_client({"id": "planner", "tier": "premium"})
    holder = engine.submit(request(pool="gpu", amount=1))
    assert holder.started
    outcomes = []
    waiter = threading.Thread(
        target=lambda: outcomes.append(engine.submit(request(pool="gpu", amount=1)))
    )
    waiter.start()
    # The second request can only start once the slot is given back.
    for _ in range(10_000):
        if engine.queue_status()["queued"] == [0, 0, 1, 0, 0]:
            break
        time.sleep(0.001)
    assert engine.queue_status()["queued"] == [0, 0, 1, 0, 0]
    assert not outcomes
    engine.complete(holder.request)
    waiter.join(timeout=30)
    assert outcomes and outcomes[0].started


def test_async_variants_run_side_by_side(engine):
    async def agents():
        outcomes = await asyncio.gather(*(engine.submit_async(request()) for _ in range(4)))
        await asyncio.gather(*(engine.complete_async(o.request, 0.01) for o in outcomes))
        return outcomes

    outcomes = asyncio.run(agents())
    assert len({o.request for o in outcomes}) == 4
    assert engine.account("planner")["spent"] == pytest.approx(0.04)


def test_the_vault_keeps_secrets_encrypted_beside_the_engine(engine, tmp_path):
    key = "11" * 32
    vault = qm.Vault(tmp_path / "fleet.db", key)
    meta = vault.create("openai", "api_key", "openai", "planner", "sk-secret")
    assert meta["id"] == "cred-1" and meta["usage_count"] == 0
    assert b"sk-secret" not in (tmp_path / "fleet.db").read_bytes()
    assert vault.reveal("cred-1") == "sk-secret"
    assert vault.get("cred-1")["usage_count"] == 1
    assert [m["name"] for m in vault.list(owner="planner")] == ["openai"]
    engine.add_client({"id": "coder", "tier": "basic"})
    assert engine.account("coder")["available"] == pytest.approx(10_000.0)
    vault.delete("cred-1")
    assert vault.list() == []


def test_alerts_are_raised_on_a_tick_resolved_when_clear_and_filtered(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db", {"monitor": {"alerts": {"history": 10}}})
    engine.add_pool(GPU)
    engine.add_client({"id": "planner", "tier": "premium", "credits": 100.0})
    outcome = engine.submit(request(pool="gpu", amount=1))
    engine.tick()
    (full,) = engine.alerts()
    assert full["kind"] == "pool.capacity_low"
    assert full["level"] == "warning"
    assert full["subject"] == "pool:gpu"
    assert full["resolved_at"] is None
    assert engine.alerts(subject="pool") == [full]
    assert engine.alerts(level="critical") == []
    engine.complete(outcome.request, 0.01)
    engine.tick()
    assert engine.alerts() == []
    (resolved,) = engine.alerts(state="all", subject="pool:gpu")
    assert resolved["id"] == full["id"] and resolved["resolved_at"] is not None
    with pytest.raises(qm.InvalidInput) as bad:
        engine.alerts(level="loud")
    assert bad.value.field == "level"
    assert engine.health() == {"ready": True, "journal_writer": "ok", "database": "ok"}
