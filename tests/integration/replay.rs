use quartermaster::sim::{self, RunOptions};

fn mmc() -> sim::Scenario {
    sim::load_file(&crate::root().join("scenarios/mmc.ron")).expect("the shipped scenario loads")
}

#[test]
fn same_scenario_and_seed_give_identical_report_bytes() {
    let mut scenario = mmc();
    scenario.max_requests = Some(20_000);
    let options = RunOptions {
        seed: Some(9),
        progress: false,
    };
    let first = sim::run(&scenario, &options).unwrap().to_json();
    let second = sim::run(&scenario, &options).unwrap().to_json();
    assert_eq!(first, second);
    let other_seed = RunOptions {
        seed: Some(10),
        progress: false,
    };
    assert_ne!(first, sim::run(&scenario, &other_seed).unwrap().to_json());
}

/// Five consecutive seeds of 500,000 customers of M/M/8 at utilisation 0.8 against
/// Erlang C, none skipped. One run's mean wait has a standard error of about 3% of the
/// formula's (seed 2 lands at −7.3%, a 2.4σ draw), so each run must land within 4
/// standard errors (12%) and the mean of the five within 3 standard errors of a mean of
/// five (4%).
#[test]
fn mmc_mean_wait_matches_erlang_c() {
    const RUN_ERROR: f64 = 0.03;
    let scenario = mmc();
    let mut ratios = Vec::new();
    for seed in 1..=5 {
        let options = RunOptions {
            seed: Some(seed),
            progress: false,
        };
        let report = sim::run(&scenario, &options).unwrap();
        assert_eq!(report.totals.completed, 500_000);
        let check = report
            .erlang_c
            .expect("the M/M/c scenario gets an Erlang C check");
        assert!((check.expected_mean_wait - 0.286_028).abs() < 1e-5);
        assert!(
            check.relative_error.abs() < 4.0 * RUN_ERROR,
            "seed {seed}: measured {} vs {}",
            check.measured_mean_wait,
            check.expected_mean_wait
        );
        ratios.push(check.measured_mean_wait / check.expected_mean_wait);
    }
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let mean_error = 3.0 * RUN_ERROR / (ratios.len() as f64).sqrt();
    assert!(
        (mean_ratio - 1.0).abs() < mean_error,
        "mean ratio {mean_ratio} of {ratios:?}"
    );
}

/// A `quota_limit` event raises the limit mid-run: fewer refusals than without it, and the
/// change shows as `quota.updated`.
#[test]
fn a_quota_limit_event_changes_the_limit_mid_run() {
    let text = r#"(
        name: "quota-change",
        start: "2026-01-05T00:00:00Z",
        duration_secs: 200,
        pools: [(id: "api", kind: slot(slots: 100, cost_per_hour: 0))],
        clients: [(id: "bot", tier: enterprise)],
        quotas: [(id: "calls", scope: global, metric: api_calls, limit: 100, period: daily)],
        workloads: [(
            client: "bot",
            arrivals: constant(rate_per_sec: 2),
            kinds: [(name: "k", class: normal, needs: [(pool: "api", amount: constant(1))], service_secs: constant(0.1))],
        )],
        events: [(at_secs: 100, action: quota_limit(quota: "calls", limit: 1000))],
    )"#;
    let with_event = sim::parse(text, "t").unwrap();
    let mut without_event = with_event.clone();
    without_event.events.clear();
    let options = RunOptions::default();
    let raised = sim::run(&with_event, &options).unwrap();
    let fixed = sim::run(&without_event, &options).unwrap();
    let refused = |r: &sim::Report| r.totals.refused.get("quota").copied().unwrap_or(0);
    // 399 arrivals, every half second from 0.5 s; 199 of them before the change at 100 s.
    assert_eq!(fixed.totals.submitted, 399);
    assert_eq!((fixed.totals.completed, refused(&fixed)), (100, 299));
    assert_eq!((raised.totals.completed, refused(&raised)), (300, 99));
    // Registering the quota at the start shows too; the change is one more.
    let updates = |r: &sim::Report| r.events.get("quota.updated").copied().unwrap_or(0);
    assert_eq!(updates(&raised), updates(&fixed) + 1);
}

/// Deferred work waits for off-peak on purpose: it raises `request.starving` only if it
/// still waits once the window is open, not for the hours it was meant to wait.
#[test]
fn deferred_work_waiting_for_off_peak_is_not_starving() {
    let scenario = |slots: u32| {
        let text = format!(
            r#"(
            name: "deferred",
            start: "2026-01-05T12:00:00Z",
            duration_secs: 600,
            scheduler: (off_peak: Some((start_hour: 22, end_hour: 6)), starvation_bound_secs: 300),
            pools: [(id: "gpu", kind: slot(slots: {slots}, cost_per_hour: 0))],
            clients: [(id: "bot", tier: enterprise)],
            workloads: [(
                client: "bot",
                arrivals: constant(rate_per_sec: 0.1),
                kinds: [(name: "k", class: deferred, needs: [(pool: "gpu", amount: constant(1))],
                         service_secs: constant(60))],
            )],
        )"#
        );
        sim::parse(&text, "deferred.ron").unwrap()
    };
    let starving = |r: &sim::Report| r.events.get("request.starving").copied().unwrap_or(0);
    // Enough servers: everything starts at 22:00, ten hours after it arrived.
    let roomy = sim::run(&scenario(100), &RunOptions::default()).unwrap();
    assert_eq!(roomy.totals.completed, roomy.totals.submitted);
    assert_eq!(starving(&roomy), 0);
    // One server for sixty one-minute jobs: most still wait well past the bound at night.
    let tight = sim::run(&scenario(1), &RunOptions::default()).unwrap();
    assert!(starving(&tight) > 40, "{}", starving(&tight));
}
