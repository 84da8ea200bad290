"""Two-class non-preemptive priority M/M/c in SimPy.

Urgent customers (a share of the arrivals) are served before normal ones; within a class
first come, first served. Prints one JSON object with customers per second and the mean
wait of each class beside Cobham's formula for non-preemptive priorities.
"""

import argparse
import json
import math
import random
import time

import simpy

URGENT, NORMAL = 0, 1


def erlang_c_waiting_probability(servers, offered):
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= offered / k
        total += term
    last = term * offered / servers
    rho = offered / servers
    return last / (1 - rho) / (total + last / (1 - rho))


def cobham_mean_waits(args):
    """Mean wait per class: P(wait) / (c·μ·(1-σ_{k-1})(1-σ_k)), σ_k the load of classes ≤ k."""
    capacity = args.servers * args.service_rate
    waiting = erlang_c_waiting_probability(args.servers, args.arrival_rate / args.service_rate)
    urgent_load = args.arrival_rate * args.urgent_share / capacity
    total_load = args.arrival_rate / capacity
    return {
        "urgent": waiting / (capacity * (1 - urgent_load)),
        "normal": waiting / (capacity * (1 - urgent_load) * (1 - total_load)),
    }


def customer(env, servers, service_rate, rng, priority, waits):
    arrived = env.now
    with servers.request(priority=priority) as slot:
        yield slot
        waits[priority].append(env.now - arrived)
        yield env.timeout(rng.expovariate(service_rate))


def arrivals(env, servers, args, rng, waits):
    for _ in range(args.customers):
        yield env.timeout(rng.expovariate(args.arrival_rate))
        priority = URGENT if rng.random() < args.urgent_share else NORMAL
        env.process(customer(env, servers, args.service_rate, rng, priority, waits))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arrival-rate", type=float, default=6.4)
    parser.add_argument("--service-rate", type=float, default=1.0)
    parser.add_argument("--servers", type=int, default=8)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--urgent-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    env = simpy.Environment()
    servers = simpy.PriorityResource(env, capacity=args.servers)
    waits = {URGENT: [], NORMAL: []}
    env.process(arrivals(env, servers, args, rng, waits))
    start = time.perf_counter()
    env.run()
    wall = time.perf_counter() - start
    customers = len(waits[URGENT]) + len(waits[NORMAL])
    mean = lambda values: sum(values) / len(values) if values else math.nan
    print(json.dumps({
        "customers": customers,
        "wall_secs": wall,
        "customers_per_sec": customers / wall,
        "mean_wait": mean(waits[URGENT] + waits[NORMAL]),
        "mean_wait_urgent": mean(waits[URGENT]),
        "mean_wait_normal": mean(waits[NORMAL]),
        "expected_mean_wait": cobham_mean_waits(args),
        "simpy": simpy.__version__,
    }))


if __name__ == "__main__":
    main()
