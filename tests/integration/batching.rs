//! Batching of like requests: held until `max_size` have gathered or the oldest has waited
//! `max_wait`, then dispatched as one job. Replayed through the simulator, and driven
//! through the scheduler directly to follow every member.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use quartermaster::actors::{
    Batching, ClientActor, ClientSetup, Completion, Dispatches, Finish, GetClientStats, Job,
    JobVariant, LedgerActor, SchedulerActor, Submit, Wake,
};
use quartermaster::clock::{SharedClock, VirtualClock};
use quartermaster::config::SchedulerSettings;
use quartermaster::model::{
    ClientId, Money, Pool, PoolKind, RequestClass, RequestId, Tier, Timestamp,
};
use quartermaster::policy::admission::Gate;
use quartermaster::policy::batch::BatchRule;
use quartermaster::policy::reservation::ReservationPolicy;
use quartermaster::sim::{self, Report, RunOptions};

/// 300 requests arriving every 0.1 s exactly, each drawing 100 tokens and one GPU for 1 s.
fn replay(batch: &str) -> Report {
    let text = format!(
        r#"(
    name: "batching",
    start: "2026-01-05T00:00:00Z",
    duration_secs: 100,
    max_requests: 300,
    pools: [
        (id: "llm", kind: rate(capacity: 100000, refill_per_sec: 100000, cost_per_1k_units: 1)),
        (id: "gpus", kind: slot(slots: 50, cost_per_hour: 3.6)),
    ],
    clients: [(id: "bot", tier: enterprise, credits: 100000, max_concurrent: 1000)],
    workloads: [(
        client: "bot",
        arrivals: constant(rate_per_sec: 10),
        kinds: [(
            name: "embed",
            class: normal,
            needs: [(pool: "llm", amount: constant(100)), (pool: "gpus", amount: constant(1))],
            service_secs: constant(1),
            estimate: exact,
            {batch}
        )],
    )],
)"#
    );
    let scenario = sim::parse(&text, "batching.ron").expect("the test scenario is valid");
    sim::run(&scenario, &RunOptions::default()).expect("the scenario replays")
}

#[test]
fn requests_that_do_not_fill_a_batch_leave_when_the_oldest_has_waited_max_wait() {
    // Three requests arrive within 0.25 s of the first, so each batch has three members
    // and leaves 0.25 s after its first arrived: they wait 0.25, 0.15 and 0.05 s.
    let report = replay("batch: (max_size: 10, max_wait_secs: 0.25),");
    let bot = &report.clients[0];
    let batched = bot.batched.expect("a batched tally");
    assert_eq!((batched.batches, batched.members), (100, 300));
    let t = &bot.totals;
    assert_eq!((t.submitted, t.admitted, t.completed), (300, 300, 300));
    assert!((t.wait.mean - 0.15).abs() < 1e-6, "{}", t.wait.mean);
    // The histogram keeps three significant figures.
    assert!(t.wait.max <= 0.25 * 1.001, "{}", t.wait.max);
    assert!(t.wait.max >= 0.25 * 0.999, "{}", t.wait.max);
    assert!(
        report
            .render()
            .contains("batched: bot sent 300 requests in 100 batches")
    );
}

#[test]
fn a_full_batch_leaves_at_once() {
    let report = replay("batch: (max_size: 3, max_wait_secs: 10),");
    let bot = &report.clients[0];
    assert_eq!(bot.batched.unwrap().batches, 100);
    // Members wait 0.2, 0.1 and 0 s for the third.
    assert!((bot.totals.wait.mean - 0.1).abs() < 1e-6);
    assert!(bot.totals.wait.max <= 0.2 * 1.001);
}

#[test]
fn a_batch_takes_its_members_tokens_but_shares_their_gpu() {
    // Per request alone: 100 tokens at $1/1K ($0.10) + one GPU-second at $3.60/h ($0.001).
    let alone = replay("");
    assert!(alone.clients[0].batched.is_none());
    assert!(!alone.to_json().contains("\"batched\""));
    assert_eq!(alone.totals.spend, Money::from_micros(300 * 101_000));
    // A batch of three: 300 tokens ($0.30) and one GPU for the longest member's second.
    let batched = replay("batch: (max_size: 3, max_wait_secs: 10),");
    assert_eq!(batched.totals.spend, Money::from_micros(100 * 301_000));
    assert_eq!(batched.costs.total, batched.totals.spend);
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Arrive(u64),
    Finish(RequestId),
    Wake,
}

/// Requests every 0.25 s with a pause every seventh, batched by up to four within 1 s, on
/// one GPU serving a batch for 0.5 to 1.7 s: more work than the GPU can take at once, so
/// formed batches queue.
#[test]
fn each_member_waits_at_most_max_wait_plus_its_batch_queueing() {
    const REQUESTS: u64 = 200;
    let max_wait = Duration::from_secs(1);
    let t0 = Timestamp::parse("2026-01-05T00:00:00Z").unwrap();
    let gap = |i: u64| Duration::from_millis(if i % 7 == 6 { 1500 } else { 250 });
    let service = |id: RequestId| Duration::from_millis(500 + (id.0 % 5) * 300);
    let clock = VirtualClock::starting_at(t0);
    let shared: SharedClock = Arc::new(clock.clone());
    actix::System::new().block_on(async move {
        let mut gate = Gate::new(ReservationPolicy::default()).unwrap();
        let gpu = Pool {
            id: "gpu".into(),
            kind: PoolKind::Slot {
                slots: 1,
                cost_per_hour: Money::from_units(1),
            },
            autoscale: None,
        };
        gate.add_pool(gpu, t0).unwrap();
        let client = ClientId::new("bot");
        gate.credits_mut()
            .open_account(client.clone(), Money::from_units(1_000))
            .unwrap();
        let client_actor = ClientActor::new(client.clone()).start();
        let config = SchedulerSettings::default();
        let setup = ClientSetup {
            id: client,
            tier: Tier::Standard,
            max_concurrent: 100,
            active: true,
            actor: client_actor.clone(),
        };
        let scheduler = SchedulerActor::new(
            shared,
            config,
            gate,
            vec![setup],
            LedgerActor::new(10).start(),
        )
        .unwrap()
        .with_batching(vec![BatchRule::new(4, max_wait).unwrap()])
        .start();

        let mut agenda: BTreeMap<(Timestamp, u64), Step> = BTreeMap::new();
        let mut seq = 0u64;
        let mut push = |agenda: &mut BTreeMap<_, _>, at: Timestamp, step: Step| {
            seq += 1;
            agenda.insert((at, seq), step);
        };
        let mut arrived = BTreeMap::new();
        let mut at = t0;
        for i in 0..REQUESTS {
            arrived.insert(RequestId(i), at);
            push(&mut agenda, at, Step::Arrive(i));
            at = at + gap(i);
        }
        let mut wake_at: Option<Timestamp> = None;
        let mut formed = BTreeMap::new();
        let mut members: BTreeMap<RequestId, Vec<RequestId>> = BTreeMap::new();
        let mut started = BTreeMap::new();
        while let Some(((now, _), step)) = agenda.pop_first() {
            clock.advance_to(now);
            let out: Dispatches = match step {
                Step::Arrive(i) => {
                    let job = Job {
                        id: RequestId(i),
                        client: 0,
                        class: RequestClass::Normal,
                        urgency: 0.5,
                        primary: JobVariant {
                            needs: vec![(0, 1)],
                            estimate: Some(Money::from_micros(1_000)),
                        },
                        alternative: None,
                        batching: Batching::Joins(0),
                    };
                    scheduler.send(Submit(vec![job])).await.unwrap()
                }
                Step::Finish(request) => scheduler
                    .send(Finish(vec![Completion {
                        request,
                        actual: None,
                        used: None,
                        expired_lease: None,
                    }]))
                    .await
                    .unwrap(),
                Step::Wake => {
                    if wake_at != Some(now) {
                        continue;
                    }
                    wake_at = None;
                    scheduler.send(Wake).await.unwrap()
                }
            };
            assert!(out.refused.is_empty(), "{:?}", out.refused);
            for batch in out.batched {
                formed.insert(batch.id, now);
                members.insert(batch.id, batch.members);
            }
            for dispatched in out.started {
                started.insert(dispatched.request, now);
                let longest = members[&dispatched.request]
                    .iter()
                    .map(|m| service(*m))
                    .max()
                    .unwrap();
                push(&mut agenda, now + longest, Step::Finish(dispatched.request));
            }
            if let Some(wake) = out.wake_at
                && wake_at.is_none_or(|w| wake < w)
            {
                wake_at = Some(wake);
                push(&mut agenda, wake, Step::Wake);
            }
        }

        // Every request was a member of exactly one batch, and each batch one dispatch.
        let mut all: Vec<RequestId> = members.values().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..REQUESTS).map(RequestId).collect::<Vec<_>>());
        assert_eq!(started.len(), members.len());
        assert!(members.len() < REQUESTS as usize / 2, "{}", members.len());
        assert!(members.values().all(|m| m.len() <= 4));
        assert!(
            members.values().any(|m| m.len() < 4),
            "some batches left at the deadline"
        );

        let mut wait_sum_micros = 0u128;
        let mut queued_batches = 0;
        for (batch, ids) in &members {
            let queueing = started[batch].since(formed[batch]);
            if !queueing.is_zero() {
                queued_batches += 1;
            }
            for id in ids {
                let waited = started[batch].since(arrived[id]);
                assert!(
                    waited <= max_wait + queueing,
                    "request {id} waited {waited:?}, its batch queued {queueing:?}"
                );
                wait_sum_micros += waited.as_micros();
            }
        }
        assert!(
            queued_batches > 10,
            "the GPU is contended: {queued_batches}"
        );

        // The client saw every member admitted with its own wait, and every one finish.
        let stats = client_actor.send(GetClientStats).await.unwrap();
        let (_, normal) = stats
            .classes
            .iter()
            .find(|(class, _)| *class == RequestClass::Normal)
            .unwrap();
        assert_eq!(normal.submitted, REQUESTS);
        assert_eq!(normal.admitted, REQUESTS);
        assert_eq!(normal.completed, REQUESTS);
        assert_eq!(normal.wait_sum_micros, wait_sum_micros);
        assert_eq!(stats.batches, members.len() as u64);
        assert_eq!(stats.batch_members, REQUESTS);
    });
}

#[test]
fn batching_the_mmc_queue_withdraws_the_erlang_c_check() {
    let mut scenario = sim::load_file(&crate::root().join("scenarios/mmc.ron")).unwrap();
    scenario.max_requests = Some(20_000);
    scenario.workloads[0].kinds[0].batch = Some(quartermaster::sim::scenario::BatchSpec {
        max_size: 4,
        max_wait_secs: 0.5,
    });
    let report = sim::run(&scenario, &RunOptions::default()).unwrap();
    assert!(report.erlang_c.is_none());
    let batched = report.clients[0].batched.unwrap();
    assert_eq!(batched.members, 20_000);
    assert!(batched.batches < 10_000, "{}", batched.batches);
    assert_eq!(report.totals.completed, 20_000);
}
