"""Sweeps the server count of the shipped M/M/c scenario (Poisson arrivals at 6.4/s, mean
service 1 s) over three seeds and prints its effect on waits and money. Run after
`maturin develop`:

    python bindings/examples/sweep.py            # on this machine's processes
    python bindings/examples/sweep.py ray        # on Ray (RAY_ADDRESS, or a local one)

`spend` is what clients were charged for the server time they held, so it barely moves;
`capacity $` is what keeping that many servers up for the run costs, which is the price of
the shorter waits.
"""

import sys
from pathlib import Path

import quartermaster

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "mmc.ron"
PRICE_PER_SERVER_HOUR = 2.0
DURATION_SECS = 3_600.0
SERVERS = list(range(7, 13))
SEEDS = [1, 2, 3]

if __name__ == "__main__":
    scenario = quartermaster.Scenario.load(SCENARIO).to_dict()
    scenario["duration_secs"] = DURATION_SECS
    scenario["max_requests"] = None
    scenario["pools"][0]["kind"]["slot"]["cost_per_hour"] = PRICE_PER_SERVER_HOUR
    rows = quartermaster.sweep(
        scenario,
        {"pools.servers.kind.slot.slots": SERVERS},
        SEEDS,
        executor=sys.argv[1] if len(sys.argv) > 1 else None,
        as_frame=False,
    )

    print(
        f"{'servers':>7} {'mean wait s':>11} {'p99 wait s':>10} {'spend $':>8} {'capacity $':>10}"
    )
    for servers in SERVERS:
        runs = [row for row in rows if row["pools.servers.kind.slot.slots"] == servers]
        mean = sum(row["wait_mean"] for row in runs) / len(runs)
        p99 = sum(row["wait_p99"] for row in runs) / len(runs)
        spend = sum(row["spend"] for row in runs) / len(runs)
        capacity = servers * DURATION_SECS / 3_600 * PRICE_PER_SERVER_HOUR
        print(f"{servers:>7} {mean:>11.3f} {p99:>10.3f} {spend:>8.2f} {capacity:>10.2f}")
    print(f"(means over seeds {', '.join(map(str, SEEDS))})")
