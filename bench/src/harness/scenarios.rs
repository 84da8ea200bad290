//! The scenarios the harness replays, written as RON so they go through the same parser
//! and validation as a scenario file.

use quartermaster::sim::{self, Scenario, ScenarioError};

/// Utilisation of every pool in the family: the M/M/c of `scenarios/mmc.ron`.
const ARRIVALS_PER_POOL: f64 = 6.4;
const SLOTS_PER_POOL: u32 = 8;

/// `pools` M/M/8 pools at utilisation 0.8, fed by `clients` clients whose Poisson
/// arrivals spread evenly over the pools, until `requests` have arrived.
pub fn mmc_family(clients: usize, pools: usize, requests: u64) -> Result<Scenario, ScenarioError> {
    let total_rate = ARRIVALS_PER_POOL * pools as f64;
    let rate = total_rate / clients as f64;
    let pool_list: String = (0..pools)
        .map(|p| {
            format!("(id: \"pool-{p}\", kind: slot(slots: {SLOTS_PER_POOL}, cost_per_hour: 0)),")
        })
        .collect();
    let client_list: String = (0..clients)
        .map(|c| format!("(id: \"client-{c}\", tier: standard, max_concurrent: 1000000, monthly_budget: None),"))
        .collect();
    let kinds: String = (0..pools)
        .map(|p| {
            format!(
                "(name: \"job-{p}\", weight: 1, class: normal, \
                 needs: [(pool: \"pool-{p}\", amount: constant(1))], \
                 service_secs: exponential(mean: 1.0)),"
            )
        })
        .collect();
    let workloads: String = (0..clients)
        .map(|c| {
            format!(
                "(client: \"client-{c}\", arrivals: poisson(rate_per_sec: {rate}), kinds: [{kinds}]),"
            )
        })
        .collect();
    let text = format!(
        "(name: \"mmc-{clients}-clients-{pools}-pools\", seed: 42, start: \"2026-01-05T00:00:00Z\", \
         duration_secs: {duration}, max_requests: {requests}, pools: [{pool_list}], \
         clients: [{client_list}], workloads: [{workloads}])",
        duration = duration_for(requests, total_rate),
    );
    sim::parse(&text, "the benchmark's M/M/c family")
}

/// The M/M/8 of `scenarios/mmc.ron` with a share of its arrivals in the `fast` class: the
/// two-class priority queue SimPy's `PriorityResource` replays in `bench/simpy/priority.py`.
pub fn two_classes(requests: u64, urgent_share: f64) -> Result<Scenario, ScenarioError> {
    let urgent = (urgent_share * 100.0).round();
    let normal = 100.0 - urgent;
    let text = format!(
        "(name: \"priority\", seed: 42, start: \"2026-01-05T00:00:00Z\", \
         duration_secs: {duration}, max_requests: {requests}, \
         pools: [(id: \"servers\", kind: slot(slots: {SLOTS_PER_POOL}, cost_per_hour: 0))], \
         clients: [(id: \"agents\", tier: standard, max_concurrent: 1000000, monthly_budget: None)], \
         workloads: [(client: \"agents\", arrivals: poisson(rate_per_sec: {ARRIVALS_PER_POOL}), kinds: [\
           (name: \"urgent\", weight: {urgent}, class: fast, \
            needs: [(pool: \"servers\", amount: constant(1))], service_secs: exponential(mean: 1.0)), \
           (name: \"normal\", weight: {normal}, class: normal, \
            needs: [(pool: \"servers\", amount: constant(1))], service_secs: exponential(mean: 1.0))])])",
        duration = duration_for(requests, ARRIVALS_PER_POOL),
    );
    sim::parse(&text, "the benchmark's two-class queue")
}

/// A burst of `requests` arrivals at a one-slot pool whose first job never finishes within
/// the run: at the end every other request is queued at once.
pub fn all_queued(requests: u64) -> Result<Scenario, ScenarioError> {
    let rate = 100_000.0;
    let text = format!(
        "(name: \"all-queued\", seed: 42, start: \"2026-01-05T00:00:00Z\", \
         duration_secs: {duration}, max_requests: {requests}, \
         pools: [(id: \"stuck\", kind: slot(slots: 1, cost_per_hour: 0))], \
         clients: [(id: \"agents\", tier: standard, max_concurrent: 1000000000, monthly_budget: None)], \
         workloads: [(client: \"agents\", arrivals: constant(rate_per_sec: {rate}), kinds: [\
           (name: \"job\", class: normal, needs: [(pool: \"stuck\", amount: constant(1))], \
            service_secs: constant(1000000000))])])",
        duration = requests as f64 / rate + 1.0,
    );
    sim::parse(&text, "the benchmark's burst at a stuck pool")
}

/// Long enough for every request to arrive: the request count ends the run.
fn duration_for(requests: u64, rate: f64) -> f64 {
    (requests as f64 / rate * 2.0).ceil() + 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_has_the_pools_clients_and_rates_asked_for() {
        let scenario = mmc_family(10, 4, 1_000).unwrap();
        assert_eq!(scenario.pools.len(), 4);
        assert_eq!(scenario.clients.len(), 10);
        assert_eq!(scenario.max_requests, Some(1_000));
    }

    #[test]
    fn the_generated_scenarios_parse() {
        two_classes(1_000, 0.2).unwrap();
        all_queued(1_000).unwrap();
    }
}
