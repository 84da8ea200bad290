//! The comparison harness behind `qm bench`: the actor simulator beside a bare heap loop
//! and SimPy on the same M/M/c, the live engine's figures, how replay time scales, and the
//! memory a million queued requests take. Each figure is a median with min and max.

mod live_figures;
mod machine;
mod memory;
mod output;
mod rate_limit;
mod reopen;
mod scenarios;
mod simpy;
mod spread;

use std::path::{Path, PathBuf};

use quartermaster::sim::report::erlang_c_mean_wait;
use quartermaster::sim::{self, RunOptions, Scenario};
use serde::Serialize;

pub use live_figures::LiveFigures;
pub use machine::Machine;
pub use memory::{CHILD_FLAG, replay_and_read_peak};
pub use output::{markdown, write_report};
pub use rate_limit::RateLimitFigures;
pub use reopen::ReopenFigures;
pub use spread::Spread;

use crate::mmc_heap::{self, Mmc};
use live_figures::LiveWork;

/// The M/M/c every simulator replays: `scenarios/mmc.ron`.
const ARRIVAL_RATE: f64 = 6.4;
const SERVICE_RATE: f64 = 1.0;
const SERVERS: u32 = 8;
const SEED: u64 = 42;
/// Share of the two-class queue's arrivals in the urgent class.
const URGENT_SHARE: f64 = 0.2;

/// How much to measure: `--quick` or the full run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub runs: usize,
    pub customers: u64,
    pub simpy_customers: u64,
    pub scaling_requests: Vec<u64>,
    pub family_requests: u64,
    pub client_counts: Vec<usize>,
    pub pool_counts: Vec<usize>,
    pub queued_requests: u64,
    pub live: LiveWork,
    /// Logged commands before each reopen measured.
    pub reopen_histories: Vec<u64>,
    /// Queued requests in the snapshot measured.
    pub snapshot_queued: u64,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        Plan {
            quick,
            runs: if quick { 3 } else { 5 },
            customers: if quick { 200_000 } else { 500_000 },
            simpy_customers: if quick { 100_000 } else { 500_000 },
            scaling_requests: vec![10_000, 100_000, 1_000_000],
            family_requests: if quick { 100_000 } else { 500_000 },
            client_counts: vec![1, 10, 100],
            pool_counts: vec![1, 4, 16],
            queued_requests: 1_000_000,
            reopen_histories: if quick {
                vec![10_000, 100_000]
            } else {
                vec![10_000, 100_000, 1_000_000]
            },
            snapshot_queued: if quick { 100_000 } else { 1_000_000 },
            live: if quick {
                LiveWork {
                    single_checks: 20_000,
                    batches: 50,
                    rounds: 10,
                }
            } else {
                LiveWork {
                    single_checks: 200_000,
                    batches: 500,
                    rounds: 100,
                }
            },
        }
    }
}

/// One simulator's replay of the M/M/c: its speed and mean wait beside Erlang C.
#[derive(Debug, Clone, Serialize)]
pub struct SimulatorFigure {
    pub customers: u64,
    pub customers_per_sec: Option<Spread>,
    pub mean_wait: Option<Spread>,
    pub erlang_c_mean_wait: Option<f64>,
}

/// The two-class priority queue in the actor simulator and in SimPy, per class.
#[derive(Debug, Clone, Serialize)]
pub struct PriorityFigure {
    pub simulator: &'static str,
    pub customers: u64,
    pub customers_per_sec: f64,
    pub mean_wait_urgent: Option<f64>,
    pub mean_wait_normal: Option<f64>,
}

/// Mean waits of the two classes, seconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClassWaits {
    pub urgent: f64,
    pub normal: f64,
}

/// A baseline that could not run, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub baseline: &'static str,
    pub reason: String,
}

/// One point of a scaling series: replay wall time for a scenario size.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingPoint {
    pub requests: u64,
    pub clients: usize,
    pub pools: usize,
    /// Wall seconds of the actor simulator's replay, over the plan's runs.
    pub wall_secs: Option<Spread>,
    /// Wall seconds of the heap loop on the same M/M/c, for the series by requests.
    pub heap_loop_wall_secs: Option<Spread>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryFigure {
    pub queued: usize,
    pub peak_rss_bytes: u64,
    /// Peak of the same scenario with a single request: the fixed cost to subtract.
    pub baseline_peak_rss_bytes: u64,
    pub bytes_per_queued_request: f64,
}

/// Everything one `qm bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub plan: Plan,
    pub machine: Machine,
    pub simpy_version: Option<String>,
    pub actors: SimulatorFigure,
    pub heap_loop: SimulatorFigure,
    pub simpy: Option<SimulatorFigure>,
    pub priority: Vec<PriorityFigure>,
    pub priority_expected: Option<ClassWaits>,
    pub rate_limit: RateLimitFigures,
    pub live: LiveFigures,
    pub reopen: Option<ReopenFigures>,
    pub by_requests: Vec<ScalingPoint>,
    pub by_clients: Vec<ScalingPoint>,
    pub by_pools: Vec<ScalingPoint>,
    pub memory: Option<MemoryFigure>,
    pub skipped: Vec<Skipped>,
}

impl BenchReport {
    /// Actor simulator replay rate over the heap loop's, medians.
    pub fn actors_vs_heap_loop(&self) -> Option<f64> {
        ratio(
            &self.actors.customers_per_sec,
            &self.heap_loop.customers_per_sec,
        )
    }

    /// Actor simulator replay rate over SimPy's, medians.
    pub fn actors_vs_simpy(&self) -> Option<f64> {
        ratio(
            &self.actors.customers_per_sec,
            &self.simpy.as_ref()?.customers_per_sec,
        )
    }

    /// Persisted submit+complete with group commit over without, medians.
    pub fn group_commit_gain(&self) -> Option<f64> {
        ratio(
            &self.live.submit_complete_group_commit_per_sec,
            &self.live.submit_complete_commit_each_per_sec,
        )
    }
}

fn ratio(top: &Option<Spread>, bottom: &Option<Spread>) -> Option<f64> {
    Some(top.as_ref()?.median / bottom.as_ref()?.median)
}

/// Why the harness stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("the scenario {path} cannot be used: {source}")]
    Scenario {
        path: PathBuf,
        source: sim::ScenarioError,
    },
    #[error("a generated scenario is invalid: {0}")]
    Generated(#[from] sim::ScenarioError),
    #[error("the replay of {scenario} failed: {source}")]
    Replay {
        scenario: String,
        source: sim::RunError,
    },
    #[error("the heap loop refused its rates: {0}")]
    HeapLoop(#[from] mmc_heap::RateError),
    #[error("the live engine figures failed: {0}")]
    Live(String),
    #[error("cannot write the report to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot draw the chart {path}: {reason}")]
    Chart { path: PathBuf, reason: String },
}

/// Measures everything in `plan`; `root` is the workspace (for `scenarios/` and
/// `bench/simpy/`), `scratch` a folder for the live engine's databases.
pub fn measure(plan: Plan, root: &Path, scratch: &Path) -> Result<BenchReport, BenchError> {
    let mut skipped = Vec::new();
    let mmc_path = root.join("scenarios/mmc.ron");
    let mut mmc = sim::load_file(&mmc_path).map_err(|source| BenchError::Scenario {
        path: mmc_path,
        source,
    })?;
    mmc.max_requests = Some(plan.customers);
    let expected = erlang_c_mean_wait(SERVERS, ARRIVAL_RATE, SERVICE_RATE);

    tracing::info!("actor simulator on {}", mmc.name);
    let mut rates = Vec::new();
    let mut waits = Vec::new();
    for _ in 0..plan.runs {
        let report = replay(&mmc)?;
        rates.push(report.replay_rate());
        waits.extend(report.erlang_c.map(|check| check.measured_mean_wait));
    }
    let actors = SimulatorFigure {
        customers: plan.customers,
        customers_per_sec: Spread::of(&rates),
        mean_wait: Spread::of(&waits),
        erlang_c_mean_wait: expected,
    };

    tracing::info!("heap loop");
    let queue = Mmc {
        arrival_rate: ARRIVAL_RATE,
        service_rate: SERVICE_RATE,
        servers: SERVERS,
        customers: plan.customers,
        seed: SEED,
    };
    let heap_runs = (0..plan.runs)
        .map(|_| mmc_heap::run(&queue))
        .collect::<Result<Vec<_>, _>>()?;
    let heap_loop = SimulatorFigure {
        customers: plan.customers,
        customers_per_sec: Spread::of(
            &heap_runs
                .iter()
                .map(|r| r.customers_per_sec())
                .collect::<Vec<_>>(),
        ),
        mean_wait: Spread::of(&heap_runs.iter().map(|r| r.mean_wait).collect::<Vec<_>>()),
        erlang_c_mean_wait: expected,
    };

    tracing::info!("two-class priority queue");
    let two_classes = scenarios::two_classes(plan.simpy_customers, URGENT_SHARE)?;
    let report = replay(&two_classes)?;
    let class_wait = |class: &str| {
        report
            .clients
            .iter()
            .find_map(|c| c.classes.get(class))
            .map(|tally| tally.wait.mean)
    };
    let mut priority = vec![PriorityFigure {
        simulator: "actors",
        customers: plan.simpy_customers,
        customers_per_sec: report.replay_rate(),
        mean_wait_urgent: class_wait("fast"),
        mean_wait_normal: class_wait("normal"),
    }];

    let (simpy, simpy_version) = simpy_baselines(&plan, root, &mut priority, &mut skipped);

    tracing::info!("rate limiters");
    let rate_limit = rate_limit::measure(plan.runs);

    tracing::info!("live engine");
    let live = live_figures::measure(scratch, plan.live, plan.runs).map_err(BenchError::Live)?;

    tracing::info!("reopen and snapshots");
    let reopen = match reopen::measure(
        scratch,
        &plan.reopen_histories,
        plan.snapshot_queued,
        plan.runs,
    ) {
        Ok(figures) => Some(figures),
        Err(reason) => {
            skipped.push(Skipped {
                baseline: "reopen and snapshots",
                reason,
            });
            None
        }
    };

    tracing::info!("scaling");
    let mut by_requests = Vec::new();
    for &requests in &plan.scaling_requests {
        let mut point = scaling_point(1, 1, requests, plan.runs)?;
        let heap = Mmc {
            customers: requests,
            ..queue
        };
        let walls = (0..plan.runs)
            .map(|_| mmc_heap::run(&heap).map(|run| run.wall.as_secs_f64()))
            .collect::<Result<Vec<_>, _>>()?;
        point.heap_loop_wall_secs = Spread::of(&walls);
        by_requests.push(point);
    }
    let by_clients = plan
        .client_counts
        .iter()
        .map(|&clients| scaling_point(clients, 1, plan.family_requests, plan.runs))
        .collect::<Result<Vec<_>, _>>()?;
    let by_pools = plan
        .pool_counts
        .iter()
        .map(|&pools| scaling_point(1, pools, plan.family_requests, plan.runs))
        .collect::<Result<Vec<_>, _>>()?;

    tracing::info!("memory of {} queued requests", plan.queued_requests);
    let memory = match memory_figure(plan.queued_requests) {
        Ok(figure) => Some(figure),
        Err(reason) => {
            skipped.push(Skipped {
                baseline: "peak memory",
                reason,
            });
            None
        }
    };

    Ok(BenchReport {
        priority_expected: cobham_mean_waits(),
        plan,
        machine: Machine::describe(),
        simpy_version,
        actors,
        heap_loop,
        simpy,
        priority,
        rate_limit,
        live,
        reopen,
        by_requests,
        by_clients,
        by_pools,
        memory,
        skipped,
    })
}

/// SimPy's M/M/c over the plan's runs and its two-class queue once (added to `priority`);
/// what could not run goes to `skipped`. Returns the M/M/c figure and SimPy's version.
fn simpy_baselines(
    plan: &Plan,
    root: &Path,
    priority: &mut Vec<PriorityFigure>,
    skipped: &mut Vec<Skipped>,
) -> (Option<SimulatorFigure>, Option<String>) {
    let expected = erlang_c_mean_wait(SERVERS, ARRIVAL_RATE, SERVICE_RATE);
    match simpy::find_python(root) {
        Ok(python) => {
            tracing::info!("SimPy {}", python.simpy_version);
            let args = |customers: u64| {
                vec![
                    format!("--arrival-rate={ARRIVAL_RATE}"),
                    format!("--service-rate={SERVICE_RATE}"),
                    format!("--servers={SERVERS}"),
                    format!("--customers={customers}"),
                    format!("--seed={SEED}"),
                ]
            };
            let runs = (0..plan.runs)
                .map(|_| {
                    simpy::run_script(
                        &python,
                        root,
                        "bench/simpy/mmc.py",
                        &args(plan.simpy_customers),
                    )
                })
                .collect::<Result<Vec<_>, _>>();
            let figure = match runs {
                Ok(runs) => Some(SimulatorFigure {
                    customers: plan.simpy_customers,
                    customers_per_sec: Spread::of(
                        &runs.iter().map(|r| r.customers_per_sec).collect::<Vec<_>>(),
                    ),
                    mean_wait: Spread::of(&runs.iter().map(|r| r.mean_wait).collect::<Vec<_>>()),
                    erlang_c_mean_wait: expected,
                }),
                Err(reason) => {
                    skipped.push(Skipped {
                        baseline: "SimPy M/M/c",
                        reason,
                    });
                    None
                }
            };
            let mut priority_args = args(plan.simpy_customers);
            priority_args.push(format!("--urgent-share={URGENT_SHARE}"));
            match simpy::run_script(&python, root, "bench/simpy/priority.py", &priority_args) {
                Ok(run) => priority.push(PriorityFigure {
                    simulator: "SimPy",
                    customers: run.customers,
                    customers_per_sec: run.customers_per_sec,
                    mean_wait_urgent: run.mean_wait_urgent,
                    mean_wait_normal: run.mean_wait_normal,
                }),
                Err(reason) => skipped.push(Skipped {
                    baseline: "SimPy priority",
                    reason,
                }),
            }
            (figure, Some(python.simpy_version))
        }
        Err(reason) => {
            skipped.push(Skipped {
                baseline: "SimPy",
                reason,
            });
            (None, None)
        }
    }
}

/// Peak memory with `requests` queued, less that of a single request.
fn memory_figure(requests: u64) -> Result<MemoryFigure, String> {
    let (peak, queued) = memory::peak_in_child(requests)?;
    let (baseline, _) = memory::peak_in_child(1)?;
    Ok(MemoryFigure {
        queued,
        peak_rss_bytes: peak,
        baseline_peak_rss_bytes: baseline,
        bytes_per_queued_request: peak.saturating_sub(baseline) as f64 / queued.max(1) as f64,
    })
}

fn replay(scenario: &Scenario) -> Result<sim::Report, BenchError> {
    sim::run(scenario, &RunOptions::default()).map_err(|source| BenchError::Replay {
        scenario: scenario.name.clone(),
        source,
    })
}

fn scaling_point(
    clients: usize,
    pools: usize,
    requests: u64,
    runs: usize,
) -> Result<ScalingPoint, BenchError> {
    let scenario = scenarios::mmc_family(clients, pools, requests)?;
    let walls = (0..runs)
        .map(|_| replay(&scenario).map(|report| report.wall.as_secs_f64()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScalingPoint {
        requests,
        clients,
        pools,
        wall_secs: Spread::of(&walls),
        heap_loop_wall_secs: None,
    })
}

/// Mean waits of the urgent and normal classes under non-preemptive priority (Cobham):
/// P(wait) / (cμ (1-σ₁)) and P(wait) / (cμ (1-σ₁)(1-σ)), σ₁ the urgent load, σ the total.
fn cobham_mean_waits() -> Option<ClassWaits> {
    let capacity = f64::from(SERVERS) * SERVICE_RATE;
    // Erlang C's mean wait is P(wait) / (cμ - λ).
    let waiting =
        erlang_c_mean_wait(SERVERS, ARRIVAL_RATE, SERVICE_RATE)? * (capacity - ARRIVAL_RATE);
    let urgent_load = ARRIVAL_RATE * URGENT_SHARE / capacity;
    let total_load = ARRIVAL_RATE / capacity;
    Some(ClassWaits {
        urgent: waiting / (capacity * (1.0 - urgent_load)),
        normal: waiting / (capacity * (1.0 - urgent_load) * (1.0 - total_load)),
    })
}
