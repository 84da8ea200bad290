//! One fleet, two clocks: the live engine and the simulator's fleet decide alike, the live
//! engine autoscales and batches, settings are refused the same way whichever way they
//! come in, and tier budgets apply by default.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Arbiter;
use quartermaster::actors::{Batching, Completion, Dispatches, Fleet, FleetSetup, Job, JobVariant};
use quartermaster::clock::{SharedClock, VirtualClock};
use quartermaster::config::{MonitorConfig, MonitorSettings, SchedulerConfig, SchedulerSettings};
use quartermaster::live::{LiveConfig, LiveEngine, LiveError, SubmitOutcome};
use quartermaster::model::{
    AutoscaleBounds, BatchGroup, Client, ClientId, Metric, Money, MonthlyBudget, Need, Period,
    Pool, PoolId, PoolKind, Quota, QuotaScope, Request, RequestClass, RequestId, Tier, Timestamp,
};
use quartermaster::policy::admission::RefusalReason;
use tokio::sync::oneshot;

use crate::live::slot_pool;

/// One step of a script both drivers follow.
#[derive(Debug, Clone)]
enum Step {
    Submit {
        client: &'static str,
        class: RequestClass,
        pool: &'static str,
        amount: u64,
        estimate: Money,
    },
    /// Completes the running request with the lowest id, at `actual`.
    CompleteOldest {
        actual: Money,
    },
    Wake,
    Tick,
    Resize {
        pool: &'static str,
        size: f64,
    },
    Price {
        pool: &'static str,
        price: Money,
    },
    Active {
        client: &'static str,
        active: bool,
    },
}

/// What a step decided: (request, "started" / "started (downgraded)" / "refused: reason").
type Decisions = Vec<(u64, String)>;

fn start() -> Timestamp {
    Timestamp::parse("2026-03-02T10:00:00Z").unwrap()
}

fn pools() -> Vec<Pool> {
    let mut gpu = slot_pool("gpu", 2);
    gpu.autoscale = Some(AutoscaleBounds { min: 1, max: 4 });
    let api = Pool {
        id: PoolId::new("api"),
        kind: PoolKind::Rate {
            capacity: 1_000.0,
            refill_per_sec: 50.0,
            cost_per_1k_units: Money::from_micros(30_000),
        },
        autoscale: None,
    };
    vec![gpu, api]
}

fn clients() -> Vec<Client> {
    let alice = Client::new("alice", Tier::Premium);
    let mut bob = Client::new("bob", Tier::Basic);
    bob.credits = Money::from_units(40);
    bob.monthly_budget = MonthlyBudget::Limit(Money::from_units(30));
    vec![alice, bob]
}

fn quota() -> Quota {
    Quota::new(
        "bob-calls",
        QuotaScope::Client(ClientId::new("bob")),
        Metric::ApiCalls,
        6,
        Period::Daily,
    )
}

fn scheduler_config() -> SchedulerConfig {
    SchedulerConfig::default()
}

/// Samples every second, scales without cooldown, looks back two seconds before shrinking.
fn monitor_config() -> MonitorConfig {
    MonitorConfig {
        sample_every_secs: 1.0,
        window: 4,
        horizon_secs: 2.0,
        cooldown_secs: 0.0,
        stabilisation_secs: 2.0,
        ..MonitorConfig::default()
    }
}

/// A script with every kind of change, drawn from a fixed linear congruential sequence.
fn script() -> Vec<(f64, Step)> {
    let mut x: u64 = 42;
    let mut draw = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let mut at = 0.0;
    let mut steps = Vec::new();
    for i in 0..160 {
        at += draw(4) as f64 * 0.25;
        let step = match i {
            40 => Step::Resize {
                pool: "gpu",
                size: 1.0,
            },
            70 => Step::Price {
                pool: "api",
                price: Money::from_micros(60_000),
            },
            90 => Step::Active {
                client: "bob",
                active: false,
            },
            110 => Step::Active {
                client: "bob",
                active: true,
            },
            _ => match draw(10) {
                0..=4 => {
                    let (pool, amount) = if draw(2) == 0 {
                        ("gpu", 1 + draw(2))
                    } else {
                        ("api", 100 + 100 * draw(8))
                    };
                    Step::Submit {
                        client: if draw(3) == 0 { "bob" } else { "alice" },
                        class: RequestClass::ALL[draw(5) as usize],
                        pool,
                        amount,
                        estimate: Money::from_micros(500_000 + 250_000 * draw(8) as i64),
                    }
                }
                5..=7 => Step::CompleteOldest {
                    actual: Money::from_micros(400_000 + 100_000 * draw(6) as i64),
                },
                8 => Step::Tick,
                _ => Step::Wake,
            },
        };
        steps.push((at, step));
    }
    steps
}

fn describe(started: bool, downgraded: bool, reason: Option<RefusalReason>) -> String {
    match (started, downgraded, reason) {
        (true, false, _) => "started".into(),
        (true, true, _) => "started (downgraded)".into(),
        (false, _, reason) => format!("refused: {}", reason.map_or("?", RefusalReason::as_str)),
    }
}

fn record(out: Dispatches, decided: &mut Decisions) {
    for started in out.started {
        decided.push((started.request.0, describe(true, started.downgraded, None)));
    }
    for (request, refusal) in out.refused {
        decided.push((request.0, describe(false, false, Some(refusal.reason))));
    }
}

/// Runs the script on the simulator's side: a fleet driven directly on a virtual clock.
fn through_the_fleet(script: &[(f64, Step)]) -> Vec<Decisions> {
    let script = script.to_vec();
    std::thread::spawn(move || {
        actix::System::new().block_on(async move {
            let clock = VirtualClock::starting_at(Timestamp::EPOCH);
            let shared: SharedClock = Arc::new(clock.clone());
            clock.advance_to(start());
            let setup = FleetSetup {
                clock: shared,
                scheduler: SchedulerSettings::try_from(&scheduler_config()).unwrap(),
                monitor: MonitorSettings::try_from(&monitor_config()).unwrap(),
                events_kept: 0,
                samples_kept: 100,
                subscribers: None,
                request_events: true,
                settlements: false,
            };
            let mut fleet = Fleet::start(setup, &Arbiter::current()).unwrap();
            for pool in pools() {
                fleet.add_pool(pool).await.unwrap();
            }
            for client in clients() {
                fleet.add_client(client, true).await.unwrap();
            }
            fleet.set_quota(quota()).await.unwrap();
            let mut running: BTreeMap<u64, ()> = BTreeMap::new();
            let mut next = 0u64;
            let mut log = Vec::new();
            for (at, step) in script {
                clock.advance_to(start() + Duration::from_secs_f64(at));
                let mut decided = Decisions::new();
                let out = match step {
                    Step::Submit {
                        client,
                        class,
                        pool,
                        amount,
                        estimate,
                    } => {
                        let job = Job {
                            id: RequestId(next),
                            client: fleet.client(&ClientId::new(client)).unwrap(),
                            class,
                            urgency: 0.5,
                            primary: JobVariant {
                                needs: vec![(fleet.pool(&PoolId::new(pool)).unwrap(), amount)],
                                estimate: Some(estimate),
                            },
                            alternative: None,
                            batching: Batching::Alone,
                        };
                        next += 1;
                        fleet.submit(vec![job]).await.unwrap()
                    }
                    Step::CompleteOldest { actual } => {
                        let Some((&oldest, _)) = running.iter().next() else {
                            log.push(decided);
                            continue;
                        };
                        running.remove(&oldest);
                        let done = Completion {
                            request: RequestId(oldest),
                            actual: Some(actual),
                            used: None,
                            expired_lease: None,
                        };
                        fleet.finish(vec![done]).await.unwrap()
                    }
                    Step::Wake => fleet.wake().await.unwrap(),
                    Step::Tick => fleet.tick(Vec::new()).await.unwrap(),
                    Step::Resize { pool, size } => fleet
                        .resize_pool(&PoolId::new(pool), size, "operator")
                        .await
                        .unwrap(),
                    Step::Price { pool, price } => fleet
                        .set_pool_price(&PoolId::new(pool), price)
                        .await
                        .unwrap(),
                    Step::Active { client, active } => {
                        let withdrawn = fleet
                            .set_client_active(&ClientId::new(client), active)
                            .await
                            .unwrap();
                        let mut out = Dispatches::default();
                        for id in withdrawn.0 {
                            out.refused.push((
                                id,
                                quartermaster::policy::admission::Refusal::new(
                                    RefusalReason::Withdrawn,
                                    "client left",
                                ),
                            ));
                        }
                        out
                    }
                };
                record(out, &mut decided);
                for (id, what) in &decided {
                    if what.starts_with("started") {
                        running.insert(*id, ());
                    }
                }
                decided.sort();
                log.push(decided);
            }
            log
        })
    })
    .join()
    .unwrap()
}

/// Runs the script through the live engine, in memory, on a clock the test moves.
async fn through_the_live_engine(script: &[(f64, Step)]) -> Vec<Decisions> {
    let clock = VirtualClock::starting_at(start());
    let config = LiveConfig {
        scheduler: scheduler_config(),
        monitor: monitor_config(),
        ..LiveConfig::default()
    };
    let engine = LiveEngine::open_in_memory_on(config, Arc::new(clock.clone()))
        .await
        .unwrap();
    for pool in pools() {
        engine.add_pool(pool).await.unwrap();
    }
    for client in clients() {
        engine.add_client(client).await.unwrap();
    }
    engine.set_quota(quota()).await.unwrap();
    let mut waiting: BTreeMap<u64, oneshot::Receiver<SubmitOutcome>> = BTreeMap::new();
    let mut running: BTreeMap<u64, ()> = BTreeMap::new();
    let mut log = Vec::new();
    for (at, step) in script.iter().cloned() {
        clock.advance_to(start() + Duration::from_secs_f64(at));
        match step {
            Step::Submit {
                client,
                class,
                pool,
                amount,
                estimate,
            } => {
                let request = Request {
                    id: RequestId(0),
                    client: ClientId::new(client),
                    class,
                    urgency: 0.5,
                    needs: vec![Need {
                        pool: PoolId::new(pool),
                        amount,
                    }],
                    estimated_cost: Some(estimate),
                    alternative: None,
                    batch: None,
                    lease_secs: None,
                };
                let (id, outcome) = engine.enqueue(request).await.unwrap();
                waiting.insert(id.0, outcome);
            }
            Step::CompleteOldest { actual } => {
                if let Some((&oldest, _)) = running.iter().next() {
                    running.remove(&oldest);
                    engine
                        .complete(RequestId(oldest), Some(actual))
                        .await
                        .unwrap();
                }
            }
            Step::Wake => engine.wake().await.unwrap(),
            Step::Tick => engine.tick().await.unwrap(),
            Step::Resize { pool, size } => {
                engine.resize_pool(&PoolId::new(pool), size).await.unwrap()
            }
            Step::Price { pool, price } => engine
                .set_pool_price(&PoolId::new(pool), price)
                .await
                .unwrap(),
            Step::Active { client, active } => engine
                .set_client_active(&ClientId::new(client), active)
                .await
                .unwrap(),
        }
        // Everything this step decided has reached its receiver when the call returned.
        let mut decided = Decisions::new();
        waiting.retain(|id, outcome| match outcome.try_recv() {
            Ok(SubmitOutcome::Started { downgraded, .. }) => {
                decided.push((*id, describe(true, downgraded, None)));
                running.insert(*id, ());
                false
            }
            Ok(SubmitOutcome::Refused { refusal, .. }) => {
                decided.push((*id, describe(false, false, Some(refusal.reason))));
                false
            }
            Err(_) => true,
        });
        decided.sort();
        log.push(decided);
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_engine_decides_every_step_as_the_simulators_fleet_does() {
    let script = script();
    let simulated = through_the_fleet(&script);
    let live = through_the_live_engine(&script).await;
    assert_eq!(simulated.len(), live.len());
    for (i, ((at, step), (sim, live))) in script.iter().zip(simulated.iter().zip(&live)).enumerate()
    {
        assert_eq!(sim, live, "step {i} at {at} s ({step:?})");
    }
    let all: Vec<&(u64, String)> = simulated.iter().flatten().collect();
    let count = |what: &str| all.iter().filter(|(_, w)| w.starts_with(what)).count();
    // The script exercises starts and several kinds of refusal, not one path.
    assert!(count("started") > 20, "{all:?}");
    for reason in ["refused: quota", "refused: withdrawn"] {
        assert!(count(reason) > 0, "no {reason} in {all:?}");
    }
}

/// Small monitor settings so a wall-clock test scales in a fraction of a second.
fn quick_monitor() -> MonitorConfig {
    MonitorConfig {
        sample_every_secs: 0.05,
        window: 2,
        horizon_secs: 0.0,
        cooldown_secs: 0.0,
        stabilisation_secs: 0.2,
        ..MonitorConfig::default()
    }
}

fn one_slot(client: &str) -> Request {
    let mut request = crate::live::request(client, "gpu", Money::from_micros(10_000));
    request.urgency = 0.5;
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_pool_grows_for_queued_work_and_shrinks_when_idle() {
    let config = LiveConfig {
        monitor: quick_monitor(),
        ..LiveConfig::default()
    };
    let engine = LiveEngine::open_in_memory(config).await.unwrap();
    let mut gpu = slot_pool("gpu", 1);
    gpu.autoscale = Some(AutoscaleBounds { min: 1, max: 4 });
    engine.add_pool(gpu).await.unwrap();
    engine
        .add_client(Client::new("alice", Tier::Enterprise))
        .await
        .unwrap();
    let mut events = engine.subscribe();
    // Four one-slot requests on a one-slot pool: one starts, three queue.
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(engine.enqueue(one_slot("alice")).await.unwrap());
    }
    let mut started = Vec::new();
    for (id, outcome) in outcomes {
        let outcome = tokio::time::timeout(Duration::from_secs(20), outcome)
            .await
            .expect("the autoscaler grew the pool so every request started")
            .unwrap();
        assert!(
            matches!(outcome, SubmitOutcome::Started { .. }),
            "{outcome:?}"
        );
        started.push(id);
    }
    let grown = engine.pool_history().await.unwrap()[0].size;
    assert!(grown >= 4.0, "grown to {grown}");
    for id in started {
        engine.complete(id, None).await.unwrap();
    }
    // Idle now: back to its minimum once the stabilisation window has passed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let size = engine.pool_history().await.unwrap()[0].size;
        if size == 1.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {size} slots");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The stream tells of the growth and of the shrink back to one slot (events reach it
    // through the ledger's mailbox, a moment after the resize).
    let mut sizes = Vec::new();
    while sizes.last() != Some(&1) {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .unwrap_or_else(|_| panic!("no pool.scaled back to 1 after {sizes:?}"))
            .unwrap();
        if let quartermaster::model::EventKind::PoolScaled { to, .. } = event.kind {
            sizes.push(to);
        }
    }
    assert!(sizes.iter().any(|&to| to >= 4), "grown first: {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaling_decisions_replay_from_the_journal() {
    let path = crate::live::fresh_dir("fleet-autoscale").join("qm.db");
    let config = LiveConfig {
        monitor: quick_monitor(),
        ..LiveConfig::default()
    };
    let before = {
        let engine = LiveEngine::open(&path, config.clone()).await.unwrap();
        let mut gpu = slot_pool("gpu", 1);
        gpu.autoscale = Some(AutoscaleBounds { min: 1, max: 3 });
        engine.add_pool(gpu).await.unwrap();
        engine
            .add_client(Client::new("alice", Tier::Enterprise))
            .await
            .unwrap();
        for _ in 0..3 {
            engine.submit(one_slot("alice")).await.unwrap();
        }
        engine.pool_history().await.unwrap()
    };
    // Reopened with timers that have not ticked yet: the state comes from the journal.
    let engine = LiveEngine::open(&path, config).await.unwrap();
    let after = engine.pool_history().await.unwrap();
    assert_eq!(before[0].size, after[0].size);
    assert_eq!(before[0].scaling, after[0].scaling);
    assert!(after[0].size >= 3.0);
}

/// An in-memory engine with a slot pool `gpu` and one client.
async fn engine_with(slots: u32, client: Client) -> LiveEngine {
    let engine = LiveEngine::open_in_memory(LiveConfig::default())
        .await
        .unwrap();
    engine.add_pool(slot_pool("gpu", slots)).await.unwrap();
    engine.add_client(client).await.unwrap();
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_requests_of_one_batch_group_start_together() {
    let engine = engine_with(1, Client::new("alice", Tier::Enterprise)).await;
    let batched = || {
        let mut request = one_slot("alice");
        request.batch = Some(BatchGroup {
            name: "summaries".into(),
            max_size: 3,
            max_wait_secs: 60.0,
        });
        request
    };
    let (a, first) = engine.enqueue(batched()).await.unwrap();
    let (b, second) = engine.enqueue(batched()).await.unwrap();
    assert_eq!(
        engine.request_state(a).await,
        Some(quartermaster::live::RequestState::Queued),
        "held until the group fills"
    );
    let (c, third) = engine.enqueue(batched()).await.unwrap();
    for (id, outcome) in [(a, first), (b, second), (c, third)] {
        match outcome.await.unwrap() {
            SubmitOutcome::Started { request, batch, .. } => {
                assert_eq!(request, id);
                assert_eq!(batch, Some(a), "the batch is named by its first member");
            }
            other => panic!("{other:?}"),
        }
    }
    // One slot, three members: they share it; it frees when the last one completes.
    engine
        .complete(a, Some(Money::from_micros(1_000)))
        .await
        .unwrap();
    engine
        .complete(b, Some(Money::from_micros(2_000)))
        .await
        .unwrap();
    let (d, fourth) = engine.enqueue(one_slot("alice")).await.unwrap();
    assert_eq!(
        engine.request_state(d).await,
        Some(quartermaster::live::RequestState::Queued)
    );
    engine
        .complete(c, Some(Money::from_micros(3_000)))
        .await
        .unwrap();
    assert!(matches!(
        fourth.await.unwrap(),
        SubmitOutcome::Started { batch: None, .. }
    ));
    let spent = engine.account(&ClientId::new("alice")).await.unwrap().spent;
    assert_eq!(
        spent,
        Money::from_micros(6_000),
        "the members' actual costs"
    );
}

#[tokio::test]
async fn bad_settings_are_refused_alike_through_a_scenario_and_live_config() {
    let cases = [
        (
            "scheduler: (starvation_bound_secs: -5)",
            LiveConfig {
                scheduler: SchedulerConfig {
                    starvation_bound_secs: -5.0,
                    ..SchedulerConfig::default()
                },
                ..LiveConfig::default()
            },
        ),
        (
            "scheduler: (off_peak: Some((start_hour: 30, end_hour: 6)))",
            LiveConfig {
                scheduler: SchedulerConfig {
                    off_peak: Some(quartermaster::config::OffPeak {
                        start_hour: 30,
                        end_hour: 6,
                    }),
                    ..SchedulerConfig::default()
                },
                ..LiveConfig::default()
            },
        ),
        (
            "monitor: (window: 1)",
            LiveConfig {
                monitor: MonitorConfig {
                    window: 1,
                    ..MonitorConfig::default()
                },
                ..LiveConfig::default()
            },
        ),
    ];
    for (settings, config) in cases {
        let text = format!(
            r#"(name: "bad", start: "2026-01-01T00:00:00Z", duration_secs: 10, {settings},
                pools: [], clients: [])"#
        );
        let Err(quartermaster::sim::ScenarioError::Invalid { problems, .. }) =
            quartermaster::sim::parse(&text, "bad.ron")
        else {
            panic!("{settings} was accepted in a scenario");
        };
        let Err(LiveError::Invalid(from_live)) = LiveEngine::open_in_memory(config).await else {
            panic!("{settings} was accepted live");
        };
        assert_eq!(
            (problems[0].field.as_str(), problems[0].message.as_str()),
            (from_live.field.as_str(), from_live.to_string().as_str()),
            "{settings}"
        );
    }
}

#[tokio::test]
async fn a_basic_client_is_refused_at_its_default_hundred_dollar_budget() {
    let engine = engine_with(10, Client::new("bob", Tier::Basic)).await;
    let mut spent = Money::ZERO;
    let refusal = loop {
        match engine
            .submit(crate::live::request("bob", "gpu", Money::from_units(40)))
            .await
            .unwrap()
        {
            SubmitOutcome::Started { request, .. } => {
                engine
                    .complete(request, Some(Money::from_units(40)))
                    .await
                    .unwrap();
                spent += Money::from_units(40);
                assert!(
                    spent <= Money::from_units(100),
                    "spent {spent} past the budget"
                );
            }
            SubmitOutcome::Refused { refusal, .. } => break refusal,
        }
    };
    assert_eq!(refusal.reason, RefusalReason::Quota);
    assert!(refusal.message.contains("budget:bob"), "{refusal}");
    assert_eq!(
        spent,
        Money::from_units(80),
        "two of $40 fit under $100, a third does not"
    );

    // Opting out: no monthly cap at all.
    let mut free = Client::new("carol", Tier::Basic);
    free.monthly_budget = MonthlyBudget::Unlimited;
    engine.add_client(free).await.unwrap();
    for _ in 0..4 {
        let outcome = engine
            .submit(crate::live::request("carol", "gpu", Money::from_units(40)))
            .await
            .unwrap();
        let SubmitOutcome::Started { request, .. } = outcome else {
            panic!("{outcome:?}")
        };
        engine
            .complete(request, Some(Money::from_units(40)))
            .await
            .unwrap();
    }
}

/// Names of the request, quota (but `quota.updated`) and reservation events on the
/// stream, up to and with the first named `last` (events reach the stream through the
/// ledger's mailbox, a moment after the call that caused them returned).
async fn names_until(
    events: &mut tokio::sync::broadcast::Receiver<quartermaster::model::Event>,
    last: &str,
) -> Vec<String> {
    let mut names = Vec::new();
    while names.last().is_none_or(|name| name != last) {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {last} after {names:?}"))
            .unwrap();
        let name = event.kind.name();
        // `quota.updated` from setting the quota up may reach the stream after the
        // subscription (the ledger's mailbox lags the call); it is not what is tested.
        let wanted = ["request.", "quota.", "resource."]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        if wanted && name != "quota.updated" {
            names.push(name.to_owned());
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_tells_its_lifecycle_and_keeps_its_record() {
    let engine = engine_with(1, Client::new("alice", Tier::Enterprise)).await;
    engine
        .set_quota(Quota::new(
            "alice-calls",
            QuotaScope::Client(ClientId::new("alice")),
            Metric::ApiCalls,
            2,
            Period::Daily,
        ))
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let estimate = Money::from_micros(10_000);
    let first = engine
        .submit(crate::live::request("alice", "gpu", estimate))
        .await
        .unwrap();
    let SubmitOutcome::Started { request: first, .. } = first else {
        panic!("{first:?}")
    };
    // The second waits for the one slot, then starts when the first completes.
    let (second, outcome) = engine
        .enqueue(crate::live::request("alice", "gpu", estimate))
        .await
        .unwrap();
    engine.complete(first, Some(estimate)).await.unwrap();
    assert!(matches!(
        outcome.await.unwrap(),
        SubmitOutcome::Started { .. }
    ));
    // One queued behind the second, then cancelled.
    let (cancelled, _) = engine
        .enqueue(crate::live::request("alice", "gpu", estimate))
        .await
        .unwrap();
    engine.cancel(cancelled).await.unwrap();
    engine.complete(second, None).await.unwrap();
    // The third passes the two-call quota: refused, and the quota says it is exceeded.
    let third = engine
        .submit(crate::live::request("alice", "gpu", estimate))
        .await
        .unwrap();
    let SubmitOutcome::Refused { request: third, .. } = third else {
        panic!("{third:?}")
    };
    assert_eq!(
        names_until(&mut events, "request.refused").await,
        [
            "request.started",
            "request.queued",
            "request.finished",
            "request.started",
            "quota.warning",
            "request.queued",
            "request.cancelled",
            "request.finished",
            "quota.exceeded",
            "request.refused",
        ],
        "an exact estimate raises no resource.critical"
    );

    let done = engine.request(first).await.unwrap();
    assert_eq!(done.state, quartermaster::live::RequestState::Finished);
    assert_eq!(done.charged, Some(estimate));
    // All of the reservation used, no headroom: half marks (see reservation::efficiency).
    assert!((done.efficiency.unwrap() - 0.5).abs() < 1e-9, "{done:?}");
    assert_eq!(done.waited_secs, Some(0.0));
    assert!(done.started_at.is_some() && done.ended_at >= done.started_at);
    let waited = engine.request(second).await.unwrap();
    assert_eq!(waited.state, quartermaster::live::RequestState::Finished);
    assert!(waited.waited_secs.unwrap() > 0.0);
    assert!(waited.charged.is_some(), "priced from its pool and time");
    let gone = engine.request(cancelled).await.unwrap();
    assert_eq!(gone.state, quartermaster::live::RequestState::Cancelled);
    let refused = engine.request(third).await.unwrap();
    assert_eq!(refused.reason.as_deref(), Some("quota"));
    assert!(refused.message.unwrap().contains("alice-calls"));
    assert_eq!(refused.charged, None);
}
