"""M/M/c in SimPy: the baseline `qm bench` sets beside the actor simulator.

Prints one JSON object: customers, wall seconds, customers per second, mean wait.
"""

import argparse
import json
import random
import time

import simpy


def customer(env, servers, service_rate, rng, waits):
    arrived = env.now
    with servers.request() as slot:
        yield slot
        waits.append(env.now - arrived)
        yield env.timeout(rng.expovariate(service_rate))


def arrivals(env, servers, args, rng, waits):
    for _ in range(args.customers):
        yield env.timeout(rng.expovariate(args.arrival_rate))
        env.process(customer(env, servers, args.service_rate, rng, waits))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arrival-rate", type=float, default=6.4)
    parser.add_argument("--service-rate", type=float, default=1.0)
    parser.add_argument("--servers", type=int, default=8)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=args.servers)
    waits = []
    env.process(arrivals(env, servers, args, rng, waits))
    start = time.perf_counter()
    env.run()
    wall = time.perf_counter() - start
    print(json.dumps({
        "customers": len(waits),
        "wall_secs": wall,
        "customers_per_sec": len(waits) / wall,
        "mean_wait": sum(waits) / len(waits),
        "simpy": simpy.__version__,
    }))


if __name__ == "__main__":
    main()
