//! The shipped scenarios show what their comment headers say they show.

use quartermaster::model::Tier;
use quartermaster::sim::report::ClientReport;
use quartermaster::sim::{self, Report, RunOptions, Scenario};

fn shipped(name: &str) -> Scenario {
    let path = crate::root().join("scenarios").join(name);
    sim::load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn replay(scenario: &Scenario) -> Report {
    sim::run(scenario, &RunOptions::default()).expect("the scenario replays")
}

fn client<'a>(report: &'a Report, id: &str) -> &'a ClientReport {
    report
        .clients
        .iter()
        .find(|c| c.client == id)
        .unwrap_or_else(|| panic!("no client {id} in the report"))
}

/// A basic request trails a fresh premium one by the tier gap less its fair-share lead
/// (at most the whole fair-share weight): 20 − 10 = 10 points, which waiting closes at
/// 20 points a minute in 30 s. From then on it overtakes every premium request that has
/// waited 30 s less than it, so its wait is about 30 s plus the premium queue's own wait,
/// which keeps it under `waiting_full_after`. Without aging it runs only when no premium
/// request waits at all, which at 99% utilisation can take many minutes.
#[test]
fn aging_bounds_the_basic_clients_wait_and_without_it_the_client_starves() {
    let mut scenario = shipped("starvation.ron");
    assert!(scenario.scheduler.aging, "the scenario ships with aging on");
    let aged = replay(&scenario);

    let weights = scenario.scheduler.weights;
    let full_after = weights.waiting_full_after.as_secs_f64();
    let points_per_sec = weights.waiting / full_after;
    let tier_gap = weights.tier * (Tier::Premium.priority_points() - Tier::Basic.priority_points())
        / Tier::Enterprise.priority_points();
    let catch_up = (tier_gap - weights.fair_share) / points_per_sec;
    assert_eq!(catch_up, 30.0);

    let premium = &client(&aged, "premium-fleet").totals.wait;
    let basic = &client(&aged, "basic-bot").totals;
    assert!(
        catch_up + premium.max < full_after,
        "premium requests themselves wait up to {} s",
        premium.max
    );
    assert!(
        basic.wait.max < full_after,
        "with aging the basic client waited up to {} s",
        basic.wait.max
    );
    assert_eq!(aged.starvation_events, 0);
    assert_eq!(basic.completed, basic.submitted);

    scenario.scheduler.aging = false;
    let unaged = replay(&scenario);
    let starved = &client(&unaged, "basic-bot").totals;
    assert!(
        starved.wait.max > 3.0 * full_after,
        "without aging the basic client waited only up to {} s",
        starved.wait.max
    );
    assert!(unaged.starvation_events > aged.starvation_events);
    assert_eq!(unaged.still_queued, 0);
    assert_eq!(
        starved.completed, starved.submitted,
        "starved requests are late, not lost"
    );
}

#[test]
fn bursts_wait_for_the_refill_and_only_requests_larger_than_the_bucket_are_refused() {
    let report = replay(&shipped("burst.ron"));
    let agents = client(&report, "research-agents");

    let chat = &agents.classes["normal"];
    assert!(chat.wait.p99 > 0.0, "burst requests wait for tokens");
    assert!(chat.refused.is_empty(), "{:?}", chat.refused);
    assert_eq!(chat.completed, chat.submitted);
    // The backlog of a one-minute burst drains within the nine quiet minutes after it.
    assert!(chat.wait.max < 540.0, "waited up to {} s", chat.wait.max);

    let oversized = &agents.classes["batch"];
    assert!(oversized.submitted > 0);
    assert_eq!(oversized.admitted, 0);
    assert_eq!(oversized.refused.get("rate"), Some(&oversized.submitted));

    assert_eq!(report.totals.refused.keys().collect::<Vec<_>>(), [&"rate"]);
    assert_eq!(report.still_queued, 0);
    assert!(report.pools[0].peak_utilisation > 0.99);
}

#[test]
fn spent_credit_never_exceeds_the_balance_and_cheaper_calls_stretch_it() {
    let mut scenario = shipped("budget.ron");
    let credits = scenario
        .clients
        .iter()
        .find(|c| c.id.as_str() == "startup-agent")
        .expect("the startup agent")
        .credits;
    let report = replay(&scenario);
    let startup = &client(&report, "startup-agent").totals;
    assert!(report.totals.downgraded > 0);
    assert_eq!(startup.downgraded, report.totals.downgraded);
    assert!(
        startup.spend <= credits,
        "spent {} of {credits}",
        startup.spend
    );
    assert_eq!(report.costs.by_client["startup-agent"], startup.spend);
    assert_eq!(startup.refused.keys().collect::<Vec<_>>(), [&"credit"]);
    assert_eq!(
        startup.admitted + startup.refused["credit"],
        startup.submitted
    );
    let funded = &client(&report, "funded-team").totals;
    assert_eq!(funded.downgraded, 0);
    assert!(funded.refused.is_empty());
    assert_eq!(funded.completed, funded.submitted);

    scenario.scheduler.downgrade = false;
    let strict = replay(&scenario);
    let strict_startup = &client(&strict, "startup-agent").totals;
    assert_eq!(strict.totals.downgraded, 0);
    assert!(strict_startup.spend <= credits);
    assert!(
        strict_startup.refused["credit"] > startup.refused["credit"],
        "{} refusals without downgrades, {} with",
        strict_startup.refused["credit"],
        startup.refused["credit"]
    );
}

#[test]
fn the_diurnal_pool_grows_by_day_and_shrinks_by_night_within_its_bounds() {
    let scenario = shipped("diurnal.ron");
    let bounds = scenario.pools[0].autoscale.expect("the pool autoscales");
    let (min, max) = (f64::from(bounds.min), f64::from(bounds.max));
    let report = replay(&scenario);
    let pool = &report.pools[0];

    assert!(pool.scaling.iter().any(|s| s.to > s.from));
    assert!(pool.scaling.iter().any(|s| s.to < s.from));
    for change in &pool.scaling {
        assert!((min..=max).contains(&change.to), "{change:?}");
    }
    let sizes = report.series.iter().map(|s| s.pools[0].size);
    assert!(sizes.clone().all(|size| (min..=max).contains(&size)));
    assert!(
        pool.prediction_mae.is_some_and(|e| (0.0..0.2).contains(&e)),
        "{:?}",
        pool.prediction_mae
    );

    // Mean size over an hour of the first day: the day's peak needs several times the night's.
    let mean_size = |hour: i64| {
        let from = report.started_at + std::time::Duration::from_secs(hour as u64 * 3600);
        let hour_of: Vec<f64> = report
            .series
            .iter()
            .filter(|s| s.at >= from && s.at.since(from).as_secs() < 3600)
            .map(|s| s.pools[0].size)
            .collect();
        hour_of.iter().sum::<f64>() / hour_of.len() as f64
    };
    assert!(
        mean_size(12) > 3.0 * mean_size(2),
        "{} at noon, {} at 2:00",
        mean_size(12),
        mean_size(2)
    );
}

/// The monitor forecasts the load, not the utilisation, so samples taken before a resize
/// do not drag the forecast back to the old size: under a constant load of 10 busy slots
/// the forecasts are exact both before (0.5 of 20) and right after a resize to 40 (0.25).
#[test]
fn forecasts_follow_the_load_across_a_resize() {
    let text = r#"(
        name: "resize",
        start: "2026-01-05T00:00:00Z",
        duration_secs: 1200,
        pools: [(id: "gpus", kind: slot(slots: 20, cost_per_hour: 0))],
        clients: [(id: "c", tier: enterprise)],
        workloads: [(
            client: "c",
            arrivals: constant(rate_per_sec: 1),
            kinds: [(name: "k", class: normal, needs: [(pool: "gpus", amount: constant(1))], service_secs: constant(10.5))],
        )],
        events: [(at_secs: 600, action: pool_capacity(pool: "gpus", capacity: 40))],
    )"#;
    let scenario = sim::parse(text, "resize.ron").unwrap_or_else(|e| panic!("{e}"));
    let report = replay(&scenario);
    // Past the first window and horizon, and before the arrivals stop.
    let steady = report.series.iter().filter(|s| {
        let at = s.at.since(report.started_at).as_secs();
        (400..1200).contains(&at)
    });
    let mut checked = 0;
    for sample in steady {
        let pool = &sample.pools[0];
        assert_eq!(pool.utilisation * pool.size, 10.0, "{sample:?}");
        assert_eq!(pool.predicted, Some(pool.utilisation), "{sample:?}");
        checked += 1;
    }
    assert_eq!(checked, 80);
}

/// A run capped by `max_requests` ends once those requests drain, not at the end of a far
/// longer `duration_secs`: one server at 70% load measures about 70%, not the share of an
/// idle tail.
#[test]
fn a_run_capped_by_max_requests_measures_utilisation_while_work_was_offered() {
    let scenario = sim::parse(
        r#"(
            name: "capped",
            start: "2026-01-05T00:00:00Z",
            duration_secs: 1000000,
            max_requests: Some(20000),
            monitor: (sample_every_secs: 10),
            pools: [(id: "server", kind: slot(slots: 1, cost_per_hour: 1))],
            clients: [(id: "c", tier: standard)],
            workloads: [(
                client: "c",
                arrivals: poisson(rate_per_sec: 0.7),
                kinds: [(name: "job", class: normal, needs: [(pool: "server", amount: constant(1))],
                         service_secs: exponential(mean: 1))],
            )],
        )"#,
        "capped.ron",
    )
    .unwrap();
    let report = replay(&scenario);
    let utilisation = report.pools[0].mean_utilisation;
    assert!(
        (0.65..0.75).contains(&utilisation),
        "utilisation {utilisation}"
    );
    let ran_secs = report.ended_at.since(report.started_at).as_secs_f64();
    assert!(ran_secs < 40_000.0, "the run went on for {ran_secs} s");
}
