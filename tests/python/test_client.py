"""`quartermaster.Client` and `AsyncClient` against a real `qm serve` on loopback: the
README's live example, `acquire` (also with an exception inside), budgets, credit,
removals, and the server's errors as the package's exceptions."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
import os
import re
from pathlib import Path

import pytest

import quartermaster as qm

REPO = Path(__file__).resolve().parents[2]

LLM = {
    "id": "llm",
    "kind": {"rate": {"capacity": 1000.0, "refill_per_sec": 0.001, "cost_per_1k_units": 0.03}},
}
GPU = {"id": "gpu", "kind": {"slot": {"slots": 1, "cost_per_hour": 2.0}}}


def ask(pool="llm", amount=800, client=None, cost=0.03):
    request = {"class": "normal", "needs": [{"pool": pool, "amount": amount}], "estimated_cost": cost}
    if client:
        request["client"] = client
    return request


@pytest.fixture
def admin(qm_server):
    with qm.Client(qm_server.url, qm_server.admin) as client:
        client.add_pool(LLM)
        client.add_pool(GPU)
        client.add_client({"id": "planner", "tier": "premium", "credits": 100.0})
        client.add_client({"id": "writer", "tier": "standard", "credits": 10.0})
        yield client


@pytest.fixture
def planner(qm_server, admin):
    with qm.Client(qm_server.url, qm_server.token("planner")) as client:
        yield client


def readme_live_example() -> str:
    """The README's Python example from its live part to the end of the block."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme[readme.index("## From Python") :], re.S)
    assert block, "the README has a Python example"
    code = block.group(1)
    return "import quartermaster as qm\n" + code[code.index("# Live:") :]


def test_the_readme_live_example_runs_embedded_and_against_a_server(qm_server, tmp_path):
    code = readme_live_example()
    line = 'engine = qm.LiveEngine("fleet.db")'
    assert line in code, "the example opens an embedded engine on one line"
    # Embedded, as written.
    cwd = os.getcwd()
    # A folder of its own: the server's database is in tmp_path, and a file has one engine.
    (tmp_path / "embedded").mkdir()
    os.chdir(tmp_path / "embedded")
    try:
        embedded: dict = {}
        exec(compile(code, "README.md", "exec"), embedded)
    finally:
        os.chdir(cwd)
    # Remote: the same code with that one line changed.
    remote_code = code.replace(line, f"engine = qm.Client({qm_server.url!r}, {qm_server.admin!r})")
    remote: dict = {}
    exec(compile(remote_code, "README.md", "exec"), remote)
    for scope in (embedded, remote):
        engine = scope["engine"]
        turn = scope["turn"]
        assert engine.request_state(turn.request) == "finished"
        assert engine.account("planner")["spent"] == pytest.approx(0.02 + 0.018)
        assert engine.cost_summary()["total"] == pytest.approx(0.038)
    remote["engine"].close()


def test_acquire_completes_with_what_was_used_and_unused_tokens_serve_the_next(planner):
    with planner.acquire(ask(amount=800)) as turn:
        assert planner.request_state(turn.request) == "running"
        turn.actual = 0.018
        turn.used = {"llm": 600}
        turn.compute_ms = 1200
    assert planner.request_info(turn.request)["charged"] == pytest.approx(0.018)
    # 200 unused tokens went back: 400 fit at once in a bucket that barely refills.
    outcome = planner.submit(ask(amount=400))
    assert outcome.started, outcome
    planner.complete(outcome.request)


def test_acquire_cancels_when_the_block_raises(planner):
    with pytest.raises(RuntimeError, match="the agent crashed"):
        with planner.acquire(ask(pool="gpu", amount=1, cost=1.0)) as turn:
            raise RuntimeError("the agent crashed")
    assert planner.request_state(turn.request) == "cancelled"
    assert planner.account("planner")["reserved"] == 0
    # The slot is free again.
    with planner.acquire(ask(pool="gpu", amount=1, cost=1.0)) as again:
        again.actual = 0.5
    assert planner.account("planner")["spent"] == pytest.approx(0.5)


def test_a_refused_turn_raises_the_embedded_engines_exceptions(admin, planner):
    admin.set_quota({"agent_id": "planner", "type": "api_calls", "limit": 1, "period": "daily"})
    planner.complete(planner.submit(ask(pool="gpu", amount=1, cost=0.1)).raise_for_refusal().request)
    with pytest.raises(qm.QuotaExceeded, match="refused \\(quota\\)"):
        with planner.acquire(ask(pool="gpu", amount=1, cost=0.1)):
            pytest.fail("a refused request never starts")


def test_budgets_credit_and_direct_usage(admin, planner):
    grant = planner.reserve("planner", 5.0)
    assert grant["amount"] == 5.0
    assert planner.track(grant["id"], 4.5) == "warning"
    settled = planner.settle(grant["id"], 4.0)
    assert settled["charged"] == 4.0 and settled["returned"] == 1.0
    other = planner.reserve("planner", 2.0)
    planner.release(other["id"])
    assert planner.account("planner") == {"available": 96.0, "reserved": 0.0, "spent": 4.0}
    assert admin.top_up("planner", 10.0)["available"] == 106.0
    moved = planner.transfer("planner", "writer", 6.0)
    assert moved["from"]["available"] == 100.0 and moved["to"] is None
    assert admin.account("writer")["available"] == 16.0
    admin.set_quota({"agent_id": "planner", "type": "tokens", "limit": 1000, "period": "daily"})
    counted = planner.consume("planner", {"tokens": 900}, cost=0.5)
    assert counted["charged"] == 0.5 and counted["usage_ratio"] == pytest.approx(0.9)
    with pytest.raises(qm.QuotaExceeded):
        planner.consume("planner", {"tokens": 200})
    assert planner.consume("planner", {"tokens": 200}, force=True)["usage_ratio"] > 1
    usage = {q["id"]: q for q in admin.quota_usage()}
    assert usage["planner:tokens:daily"]["current_usage"] == 1100


def test_server_errors_are_the_packages_exceptions_with_their_details(admin, planner, qm_server):
    with pytest.raises(qm.InvalidInput) as bad:
        admin.set_quota({"agent_id": "planner", "type": "tokens", "limit": 0, "period": "daily"})
    assert bad.value.field.endswith("limit") and bad.value.value == "0"
    assert bad.value.expected == "at least 1" and bad.value.status == 422
    with pytest.raises(qm.NotFound):
        planner.settle(999, 1.0)
    with pytest.raises(qm.AccessDenied):
        planner.add_pool({"id": "x", "kind": {"slot": {"slots": 1, "cost_per_hour": 1}}})
    with pytest.raises(qm.BudgetExceeded):
        planner.transfer("planner", "writer", 1e6)
    admin.add_resource({"name": "Build box", "type": "server", "cost_per_hour": 1.0})
    box = admin.resources()[0]["id"]
    planner.book(box, "planner", "2099-01-01T09:00:00Z", "2099-01-01T10:00:00Z")
    with pytest.raises(qm.BookingConflict) as clash:
        planner.book(box, "planner", "2099-01-01T09:30:00Z", "2099-01-01T10:30:00Z")
    assert clash.value.conflict["resource"] == box
    with pytest.raises(qm.InUse):
        admin.remove_resource(box)
    with pytest.raises(qm.InUse, match="drain"):
        admin.submit(ask(pool="gpu", amount=1, client="planner", cost=0.1))
        admin.remove_client("planner")
    admin.remove_client("planner", drain=True)
    with pytest.raises(qm.AccessDenied):
        planner.account("planner")
    assert admin.request_state(12345) is None
    with pytest.raises(qm.AccessDenied):
        qm.Client(qm_server.url, "not-a-token").quotas()


def test_tokens_are_listed_created_and_revoked(admin, qm_server):
    made = admin.create_token("writer")
    listed = {t["id"]: t for t in admin.tokens()}
    assert listed[made["id"]]["client"] == "writer"
    assert made["token"] not in str(listed)
    with qm.Client(qm_server.url, made["token"]) as writer:
        assert writer.account("writer")["available"] == 10.0
        admin.revoke_token(made["id"])
        with pytest.raises(qm.AccessDenied):
            writer.account("writer")


def test_the_async_client_has_the_same_calls_and_acquire(admin, qm_server):
    token = qm_server.token("planner")

    async def agent() -> None:
        async with qm.AsyncClient(qm_server.url, token) as client:
            async with client.acquire(ask(amount=500)) as turn:
                turn.actual = 0.01
            assert await client.request_state(turn.request) == "finished"
            with pytest.raises(ValueError, match="bad input"):
                async with client.acquire(ask(pool="gpu", amount=1, cost=0.2)) as failed:
                    raise ValueError("bad input")
            assert await client.request_state(failed.request) == "cancelled"
            grant = await client.reserve("planner", 1.0)
            await client.release(grant["id"])
            assert (await client.account("planner"))["spent"] == pytest.approx(0.01)

    asyncio.run(agent())


def test_the_embedded_engine_has_the_same_new_calls(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool(LLM)
    engine.add_client({"id": "planner", "tier": "premium", "credits": 100.0})
    engine.add_client({"id": "writer", "tier": "basic", "credits": 1.0})
    assert engine.top_up("planner", 5.0)["available"] == 105.0
    assert engine.transfer("planner", "writer", 5.0)["to"]["available"] == 6.0
    with pytest.raises(qm.InvalidInput):
        engine.transfer("planner", "planner", 1.0)
    engine.set_quota({"id": "tok", "scope": "global", "metric": "tokens", "limit": 10_000, "period": "daily"})
    with engine.acquire(ask(amount=800, client="planner")) as turn:
        turn.used = {"llm": 600}
    assert {q["id"]: q for q in engine.quota_usage()}["tok"]["current_usage"] == 600
    assert engine.submit(ask(amount=400, client="planner")).started
    assert engine.consume("writer", {"api_calls": 2}, cost=0.5)["charged"] == 0.5
    with pytest.raises(qm.InUse):
        engine.remove_client("planner")
    engine.remove_client("planner", drain=True)
    with pytest.raises(qm.NotFound):
        engine.account("planner")
    engine.remove_quota("tok")
    assert [q["id"] for q in engine.quotas()] == ["budget:writer"]

    async def turn_async() -> int:
        async with engine.acquire_async(ask(amount=10, client="writer", cost=0.01)) as t:
            t.actual = 0.01
        return t.request

    request = asyncio.run(turn_async())
    assert engine.request_state(request) == "finished"


def test_leases_are_renewed_and_expire_alike_embedded_and_remote(admin, tmp_path):
    """A request with a lease runs while heartbeats come; once they stop it expires, its
    slot goes to the waiting request, and a heartbeat for it is refused."""
    embedded = qm.LiveEngine(str(tmp_path / "embedded.db"))
    embedded.add_pool(GPU)
    embedded.add_client({"id": "planner", "tier": "premium", "credits": 100.0})
    for engine in (embedded, admin):
        work = dict(ask("gpu", 1, client="planner", cost=0.1), lease_secs=2.0)
        first = engine.submit(work).request
        with ThreadPoolExecutor(1) as pool:
            # `submit` waits for the start, which comes only once the first expires.
            waiting = pool.submit(engine.submit, ask("gpu", 1, client="planner", cost=0.1))
            # Renewed well inside its 2 s lease, past the time it would have lasted.
            for _ in range(5):
                time.sleep(0.5)
                engine.renew(first)
            assert engine.request_state(first) == "running"
            assert not waiting.done()
            second = waiting.result(timeout=10)
        assert second.status == "started"
        assert engine.request_state(first) == "expired"
        assert engine.request_info(first)["charged"] > 0
        with pytest.raises(qm.QuartermasterError):
            engine.renew(first)
        engine.complete(second.request)
    embedded.close()
