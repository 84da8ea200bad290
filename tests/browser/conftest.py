"""A real `qm serve` on 127.0.0.1 and Debian's Chromium driven by Playwright.

The server is the built `qm` binary (`QM_BIN`, else target/debug/qm, built here if
missing), on a free port, with a fresh database, an admin token from the environment and
two clients, `a` and `b`, each with a token of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VAULT_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
ADMIN = "admin-token-for-the-browser-tests"
SCREENSHOTS = Path(os.environ.get("QM_SCREENSHOTS", REPO / "target" / "dashboard-screenshots"))


def chromium_executable() -> str | None:
    for candidate in (os.environ.get("QM_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def qm_binary() -> Path:
    if os.environ.get("QM_BIN"):
        return Path(os.environ["QM_BIN"])
    binary = REPO / "target" / "debug" / "qm"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--bin", "qm", "--locked"], cwd=REPO, check=True)
    return binary


@dataclass
class Served:
    base: str
    db: Path
    process: subprocess.Popen
    a: str
    b: str

    def call(self, method: str, path: str, body: object | None = None, token: str = ADMIN):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return json.loads(text) if text else None


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.exists():
        terminalreporter.write_line(f"dashboard screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="session")
def server():
    binary = qm_binary()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "fleet.db"
        config = Path(folder) / "qm.ron"
        # Samples every half second so the utilisation chart has a line within the test.
        config.write_text("(monitor: (sample_every_secs: 0.5))")
        env = dict(os.environ, QM_ENCRYPTION_KEY=VAULT_KEY, QM_ADMIN_TOKEN=ADMIN)
        process = subprocess.Popen(
            [str(binary), "serve", "--bind", "127.0.0.1:0", "--db", str(db), "--config", str(config)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            line = process.stdout.readline().strip()
            assert line.startswith("listening on "), f"unexpected first line {line!r}"
            base = line.removeprefix("listening on ")

            def token(client: str) -> str:
                out = subprocess.run(
                    [str(binary), "token", "create", "--client", client, "--db", str(db)],
                    capture_output=True, text=True, check=True, env=env,
                )
                return out.stdout.strip()

            served = Served(base=base, db=db, process=process, a=token("a"), b=token("b"))
            for client in ("a", "b"):
                served.call("POST", "/api/clients", {"id": client, "tier": "standard"})
            served.call("POST", "/api/pools",
                        {"id": "gpu", "kind": {"slot": {"slots": 2, "cost_per_hour": 2.5}},
                         "autoscale": {"min": 1, "max": 4}})
            served.call("POST", "/api/pools",
                        {"id": "gpt4", "kind": {"rate": {"capacity": 10000, "refill_per_sec": 166,
                                                          "cost_per_1k_units": 0.03}}})
            yield served
        finally:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="the Python package playwright is not installed (.ci/run installs it)"
    )
    executable = chromium_executable()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does it)")
    with playwright_api.sync_playwright() as p:
        # The flags keep Chromium from reaching for Google's services on a closed network.
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()
