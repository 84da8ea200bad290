"""Sweeps the server count of the shipped M/M/c scenario (Poisson arrivals at 6.4/s, mean
service 1 s) and prints its effect on waits and money. Run after `maturin develop`:

    python bindings/examples/sweep.py

`spend` is what clients were charged for the server time they held, so it barely moves;
`capacity $` is what keeping that many servers up for the run costs, which is the price of
the shorter waits.
"""

from pathlib import Path

import quartermaster

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "mmc.ron"
PRICE_PER_SERVER_HOUR = 2.0
DURATION_SECS = 3_600.0

base = quartermaster.Scenario.load(SCENARIO)
print(f"{'servers':>7} {'mean wait s':>11} {'p99 wait s':>10} {'spend $':>8} {'capacity $':>10}")
for servers in range(7, 13):
    scenario = base.to_dict()
    scenario["duration_secs"] = DURATION_SECS
    scenario["max_requests"] = None
    scenario["pools"][0]["kind"]["slot"] = {
        "slots": servers,
        "cost_per_hour": PRICE_PER_SERVER_HOUR,
    }
    report = quartermaster.Scenario.from_dict(scenario).run(seed=1)
    capacity = servers * DURATION_SECS / 3_600 * PRICE_PER_SERVER_HOUR
    print(
        f"{servers:>7} {report.totals.wait.mean:>11.3f} {report.totals.wait.p99:>10.3f}"
        f" {report.totals.spend:>8.2f} {capacity:>10.2f}"
    )
