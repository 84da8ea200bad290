"""`qm serve`'s `/metrics` read by the real Prometheus client's OpenMetrics parser (the
format the `prometheus-client` crate writes and Prometheus scrapes)."""

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import REPO

ADMIN = "metrics-test-admin-token"
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def qm_binary() -> Path:
    binary = Path(os.environ.get("QM_BIN", REPO / "target" / "debug" / "qm"))
    if not binary.exists():
        pytest.fail(f"no qm binary at {binary}: build it with `cargo build --bin qm` first")
    return binary


@pytest.fixture
def server(tmp_path):
    env = dict(os.environ, QM_ENCRYPTION_KEY=KEY, QM_ADMIN_TOKEN=ADMIN)
    child = subprocess.Popen(
        [qm_binary(), "serve", "--bind", "127.0.0.1:0", "--db", tmp_path / "fleet.db"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline().strip()
        assert line.startswith("listening on "), line
        yield line.removeprefix("listening on ")
    finally:
        child.kill()
        child.wait()


def call(base: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {ADMIN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers.get_content_type(), response.read().decode()


def families(base: str) -> dict:
    content_type, text = call(base, "GET", "/metrics")
    assert content_type == "application/openmetrics-text"
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family, **labels) -> float:
    for sample in family.samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()) and not sample.name.endswith(
            ("_created",)
        ):
            return sample.value
    raise AssertionError(f"no sample {labels} in {family.samples}")


def test_metrics_parse_and_cover_the_engine(server):
    call(server, "POST", "/api/clients", {"id": "a", "tier": "standard"})
    gpu = {"id": "gpu", "kind": {"slot": {"slots": 2, "cost_per_hour": 3.6}}}
    call(server, "POST", "/api/pools", gpu)
    need = [{"pool": "gpu", "amount": 1}]
    ids = []
    for _ in range(3):
        _, answer = call(
            server,
            "POST",
            "/api/queue/enqueue",
            {"client": "a", "needs": need, "estimated_cost": 0.5},
        )
        ids.append(json.loads(answer)["request_id"])
    call(server, "POST", f"/api/execution/{ids[0]}/complete")
    call(server, "POST", "/api/queue/enqueue", {"client": "a", "needs": [{"pool": "gpu", "amount": 9}]})

    # Outcomes are counted from the engine's event stream, a moment after the calls.
    deadline = time.monotonic() + 20
    while True:
        metrics = families(server)
        requests = metrics["qm_requests"]
        try:
            if value(requests, outcome="refused", reason="capacity") == 1:
                break
        except AssertionError:
            pass
        assert time.monotonic() < deadline, requests.samples
        time.sleep(0.05)

    assert requests.type == "counter"
    assert value(requests, outcome="started") == 3
    assert value(requests, outcome="finished") == 1
    assert value(requests, outcome="queued") == 1
    assert metrics["qm_pool_utilisation_ratio"].type == "gauge"
    assert value(metrics["qm_pool_utilisation_ratio"], pool="gpu") == 1.0
    assert value(metrics["qm_pool_size"], pool="gpu") == 2.0
    assert value(metrics["qm_pool_available"], pool="gpu") == 0.0
    assert value(metrics["qm_queue_depth"], **{"class": "normal"}) == 0.0
    assert value(metrics["qm_requests_running"]) == 2.0

    wait = metrics["qm_request_wait_seconds"]
    assert wait.type == "histogram"
    count = [s for s in wait.samples if s.name == "qm_request_wait_seconds_count"]
    assert count[0].value == 3
    inf = [s for s in wait.samples if s.labels.get("le") == "+Inf"]
    assert inf[0].value == 3

    assert value(metrics["qm_client_spent_dollars"], client="a") > 0
    assert value(metrics["qm_client_credit_available_dollars"], client="a") > 0
    assert value(metrics["qm_client_credit_reserved_dollars"], client="a") == 1.0
    assert 0 < value(metrics["qm_client_credit_used_ratio"], client="a") < 1
    assert 0 < value(metrics["qm_quota_usage_ratio"], quota="budget:a", client="a") < 1
    for level in ("info", "warning", "error", "critical"):
        assert value(metrics["qm_alerts_open"], level=level) >= 0

    commits = metrics["qm_journal_commit_seconds"]
    assert commits.type == "histogram"
    committed = [s for s in commits.samples if s.name == "qm_journal_commit_seconds_count"]
    assert committed[0].value >= 6, "every change above was committed"
    assert metrics["qm_http_requests"].type == "counter"
    assert metrics["qm_uptime_seconds"].type == "gauge"
