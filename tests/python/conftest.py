from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scenarios_dir() -> Path:
    return REPO / "scenarios"


@pytest.fixture
def small_mmc(scenarios_dir: Path) -> dict:
    """The shipped M/M/c scenario cut to a few thousand requests."""
    import quartermaster

    scenario = quartermaster.Scenario.load(scenarios_dir / "mmc.ron").to_dict()
    scenario["max_requests"] = 2000
    return scenario
