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


QM_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
QM_ADMIN = "admin-token-for-the-python-tests"


def _qm_binary() -> Path:
    """The `qm` binary: $QM_BIN, or the workspace's debug build (built here if missing)."""
    import os
    import subprocess

    if os.environ.get("QM_BIN"):
        return Path(os.environ["QM_BIN"])
    binary = REPO / "target" / "debug" / "qm"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--bin", "qm", "--locked"], cwd=REPO, check=True)
    return binary


class QmServer:
    """A real `qm serve` on 127.0.0.1 (a free port), with a database in a temporary folder."""

    def __init__(self, db: Path) -> None:
        import os
        import subprocess

        self.db = db
        self.binary = _qm_binary()
        env = dict(os.environ, QM_ENCRYPTION_KEY=QM_KEY, QM_ADMIN_TOKEN=QM_ADMIN)
        self.process = subprocess.Popen(
            [str(self.binary), "serve", "--bind", "127.0.0.1:0", "--db", str(db)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line.startswith("listening on "), line
        self.url = line.removeprefix("listening on ")
        self.admin = QM_ADMIN

    def token(self, client: str) -> str:
        import subprocess

        out = subprocess.run(
            [str(self.binary), "token", "create", "--client", client, "--db", str(self.db)],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def qm_server(tmp_path: Path):
    server = QmServer(tmp_path / "fleet.db")
    yield server
    server.stop()
