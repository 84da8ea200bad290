import pytest

import quartermaster as qm

POOL = {"id": "gpu", "kind": {"slot": {"slots": 1, "cost_per_hour": 2.0}}}


@pytest.fixture
def engine(tmp_path):
    engine = qm.LiveEngine(tmp_path / "fleet.db")
    engine.add_pool(POOL)
    engine.add_client({"id": "planner", "tier": "basic", "credits": 5.0})
    return engine


def test_the_hierarchy():
    for error in (
        qm.InvalidInput,
        qm.ScenarioError,
        qm.NotFound,
        qm.RequestRefused,
        qm.BookingConflict,
        qm.VaultKeyError,
        qm.StorageError,
        qm.MissingDependency,
    ):
        assert issubclass(error, qm.QuartermasterError)
    assert issubclass(qm.QuotaExceeded, qm.RequestRefused)
    assert issubclass(qm.BudgetExceeded, qm.RequestRefused)
    assert issubclass(qm.InvalidInput, ValueError)
    assert issubclass(qm.NotFound, LookupError)
    assert issubclass(qm.MissingDependency, ImportError)


def test_scenario_errors_name_the_problem(tmp_path, small_mmc):
    with pytest.raises(qm.ScenarioError, match="<text>:1:"):
        qm.Scenario.load("(name: ")
    with pytest.raises(qm.ScenarioError, match="cannot read scenario"):
        qm.Scenario.load(tmp_path / "missing.ron")
    small_mmc["pools"][0]["kind"]["slot"]["slots"] = 0
    with pytest.raises(qm.ScenarioError, match="slots"):
        qm.Scenario.from_dict(small_mmc)
    del small_mmc["pools"]
    with pytest.raises(qm.ScenarioError, match="missing field `pools`"):
        qm.run_scenario(small_mmc)


def test_bad_arguments_raise_invalid_input(engine):
    with pytest.raises(qm.InvalidInput, match="invalid pool: missing field `kind`"):
        engine.add_pool({"id": "x"})
    with pytest.raises(qm.InvalidInput, match="expected dict, list"):
        engine.add_client({"id": "x", "tier": object()})
    with pytest.raises(qm.InvalidInput, match="finite"):
        engine.reserve("planner", float("nan"))
    with pytest.raises(qm.InvalidInput):
        engine.book("gpu", "planner", "yesterday", "2099-01-01T00:00:00Z")
    with pytest.raises(qm.InvalidInput, match="cost_type"):
        engine.record_cost("planner", "lunch", "food", 1.0)
    with pytest.raises(qm.InvalidInput, match="pool.id: got gpu, expected an id not registered"):
        engine.add_pool({"id": "gpu", "kind": {"slot": {"slots": 1, "cost_per_hour": 2.0}}})
    with pytest.raises(TypeError):
        engine.complete("not a number")


def test_unknown_ids_raise_not_found(engine, tmp_path):
    with pytest.raises(qm.NotFound, match="nobody"):
        engine.account("nobody")
    with pytest.raises(qm.NotFound, match="booking 99"):
        engine.cancel_booking(99)
    vault = qm.Vault(tmp_path / "vault.db", "22" * 32)
    with pytest.raises(qm.NotFound, match="cred-9"):
        vault.reveal("cred-9")


def test_refusals_raise_quota_and_budget_errors(engine):
    over_budget = engine.submit(
        {"client": "planner", "class": "normal", "needs": [{"pool": "gpu", "amount": 1}],
         "estimated_cost": 50.0}
    )
    assert over_budget.reason == "credit"
    with pytest.raises(qm.BudgetExceeded):
        over_budget.raise_for_refusal()
    with pytest.raises(qm.BudgetExceeded, match="needs \\$50.00 but has \\$5.00"):
        engine.reserve("planner", 50.0)
    engine.set_quota(
        {"id": "calls", "scope": "global", "metric": "api_calls", "limit": 1, "period": "daily"}
    )
    call = {
        "client": "planner",
        "class": "normal",
        "needs": [{"pool": "gpu", "amount": 1}],
        "estimated_cost": 0.5,
    }
    engine.complete(engine.submit(call).raise_for_refusal().request, 0.0)
    with pytest.raises(qm.QuotaExceeded, match="quota calls"):
        engine.submit(call).raise_for_refusal()


def test_an_overlapping_booking_raises_booking_conflict(engine):
    engine.add_resource({"id": "a100", "name": "A100", "kind": "gpu", "cost_per_hour": 1.0})
    first = engine.book("a100", "planner", "2099-01-01T10:00:00Z", "2099-01-01T11:00:00Z")
    with pytest.raises(qm.BookingConflict, match=f"confirmed booking {first['id']}"):
        engine.book("a100", "planner", "2099-01-01T10:30:00Z", "2099-01-01T11:30:00Z")


def test_a_wrong_or_malformed_vault_key_raises_vault_key_error(tmp_path):
    path = tmp_path / "vault.db"
    qm.Vault(path, "33" * 32).create("db", "password", "postgres", "planner", "hunter2")
    with pytest.raises(qm.VaultKeyError, match="wrong vault key"):
        qm.Vault(path, "44" * 32)
    with pytest.raises(qm.VaultKeyError, match="key_hex is malformed"):
        qm.Vault(path, "not hex")
    assert qm.Vault(path, "33" * 32).reveal("cred-1") == "hunter2"


def test_a_file_that_is_not_a_database_raises_storage_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just words " * 100)
    with pytest.raises(qm.StorageError):
        qm.LiveEngine(path)


def test_engine_config_is_checked_field_by_field(tmp_path):
    qm.LiveEngine(tmp_path / "ok.db", {"scheduler": {"aging": False}})
    with pytest.raises(qm.InvalidInput, match="unknown field `agin`"):
        qm.LiveEngine(tmp_path / "bad.db", {"scheduler": {"agin": False}})
