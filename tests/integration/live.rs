//! The live engine on a real SQLite file: state survives reopening, bad input changes
//! nothing, foreign and corrupt files are refused untouched, concurrent submits never
//! overspend.

use std::path::PathBuf;

use quartermaster::live::{
    LiveConfig, LiveEngine, LiveError, RequestState, StoreError, SubmitOutcome,
};
use quartermaster::model::{
    Client, ClientId, CostType, Metric, Money, Need, Period, Pool, PoolId, PoolKind, Quota,
    QuotaScope, Request, RequestClass, RequestId, Tier,
};
use quartermaster::policy::admission::RefusalReason;
use quartermaster::policy::ledger::CostFilter;

pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qm-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn slot_pool(id: &str, slots: u32) -> Pool {
    Pool {
        id: PoolId::new(id),
        kind: PoolKind::Slot {
            slots,
            cost_per_hour: Money::from_units(1),
        },
        autoscale: None,
    }
}

pub fn request(client: &str, pool: &str, estimate: Money) -> Request {
    Request {
        id: RequestId(0),
        client: ClientId::new(client),
        class: RequestClass::Normal,
        urgency: 0.5,
        needs: vec![Need {
            pool: PoolId::new(pool),
            amount: 1,
        }],
        estimated_cost: Some(estimate),
        alternative: None,
        batch: None,
        lease_secs: None,
    }
}

async fn seeded(path: &std::path::Path) -> LiveEngine {
    let engine = LiveEngine::open(path, LiveConfig::default()).await.unwrap();
    engine.add_pool(slot_pool("gpu", 2)).await.unwrap();
    let mut client = Client::new("alice", Tier::Premium);
    client.credits = Money::from_units(100);
    engine.add_client(client).await.unwrap();
    engine
        .set_quota(Quota::new(
            "alice-calls",
            QuotaScope::Client(ClientId::new("alice")),
            Metric::ApiCalls,
            100,
            Period::Daily,
        ))
        .await
        .unwrap();
    engine
}

#[tokio::test]
async fn state_survives_reopening() {
    let path = fresh_dir("reopen").join("qm.db");
    let alice = ClientId::new("alice");
    let (balance, costs, quota) = {
        let engine = seeded(&path).await;
        let first = engine
            .submit(request("alice", "gpu", Money::from_units(5)))
            .await
            .unwrap();
        let SubmitOutcome::Started { request: id, .. } = first else {
            panic!("{first:?}")
        };
        engine
            .complete(id, Some(Money::from_units(3)))
            .await
            .unwrap();
        let grant = engine
            .reserve(&alice, Some(Money::from_units(10)))
            .await
            .unwrap();
        engine.settle(grant.id, Money::from_units(4)).await.unwrap();
        engine
            .record_cost(
                &alice,
                CostType::Hosting,
                "vm",
                Money::from_micros(1_500_000),
                Default::default(),
            )
            .await
            .unwrap();
        let balance = engine.account(&alice).await.unwrap();
        let costs = engine
            .cost_summary(CostFilter::default(), 10)
            .await
            .unwrap();
        let quota = engine
            .check_quota(&alice, Metric::ApiCalls, 1)
            .await
            .unwrap();
        (balance, costs, quota)
    };
    assert_eq!(balance.spent, Money::from_units(7));
    assert_eq!(balance.available, Money::from_units(93));
    let engine = LiveEngine::open(&path, LiveConfig::default())
        .await
        .unwrap();
    assert_eq!(engine.account(&alice).await.unwrap(), balance);
    assert_eq!(
        engine
            .cost_summary(CostFilter::default(), 10)
            .await
            .unwrap()
            .total,
        costs.total
    );
    assert_eq!(
        engine
            .check_quota(&alice, Metric::ApiCalls, 1)
            .await
            .unwrap()
            .usage_ratio,
        quota.usage_ratio
    );
    // Its own quota and its premium tier's $1,000 monthly budget.
    let mut ids: Vec<String> = engine
        .quotas()
        .await
        .iter()
        .map(|q| q.id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["alice-calls", "budget:alice"]);
    // Request ids continue after the ones already used.
    let next = engine
        .submit(request("alice", "gpu", Money::from_units(1)))
        .await
        .unwrap();
    assert!(
        matches!(
            next,
            SubmitOutcome::Started {
                request: RequestId(1),
                ..
            }
        ),
        "{next:?}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let path = fresh_dir("bad-input").join("qm.db");
    {
        let engine = seeded(&path).await;
        let mut pool = slot_pool("bad", 1);
        pool.kind = PoolKind::Rate {
            capacity: f64::NAN,
            refill_per_sec: 1.0,
            cost_per_1k_units: Money::ZERO,
        };
        let err = engine.add_pool(pool).await.unwrap_err();
        assert!(err.to_string().contains("pool[bad].capacity"), "{err}");
        assert!(matches!(
            engine.add_pool(slot_pool("gpu", 3)).await,
            Err(LiveError::Invalid(_))
        ));
        let err = engine
            .submit(request("mallory", "gpu", Money::from_units(1)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("mallory"), "{err}");
        let err = engine
            .submit(request("alice", "tpu", Money::from_units(1)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("tpu"), "{err}");
        let mut urgent = request("alice", "gpu", Money::from_units(1));
        urgent.urgency = 7.0;
        assert!(
            engine
                .submit(urgent)
                .await
                .unwrap_err()
                .to_string()
                .contains("urgency")
        );
        assert!(engine.complete(RequestId(99), None).await.is_err());
        let err = engine
            .record_cost(
                &ClientId::new("alice"),
                CostType::Other,
                "x",
                Money::from_units(-1),
                Default::default(),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("amount"), "{err}");
        assert!(
            engine
                .settle(quartermaster::model::ReservationId(42), Money::ZERO)
                .await
                .is_err()
        );
    }
    let engine = LiveEngine::open(&path, LiveConfig::default())
        .await
        .unwrap();
    let balance = engine.account(&ClientId::new("alice")).await.unwrap();
    assert_eq!(balance.available, Money::from_units(100));
    assert_eq!(
        engine
            .cost_summary(CostFilter::default(), 0)
            .await
            .unwrap()
            .count,
        0
    );
    // The first request still gets id 0: nothing refused was stored.
    let first = engine
        .submit(request("alice", "gpu", Money::from_units(1)))
        .await
        .unwrap();
    assert!(
        matches!(
            first,
            SubmitOutcome::Started {
                request: RequestId(0),
                ..
            }
        ),
        "{first:?}"
    );
}

#[tokio::test]
async fn foreign_and_corrupt_files_are_refused_untouched() {
    let dir = fresh_dir("foreign");
    let foreign = dir.join("other.db");
    {
        let connection = rusqlite::Connection::open(&foreign).unwrap();
        connection
            .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let err = LiveEngine::open(&foreign, LiveConfig::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, LiveError::Store(StoreError::Foreign { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("not a Quartermaster database"));
    assert_eq!(std::fs::read(&foreign).unwrap(), before);

    let corrupt = dir.join("corrupt.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&corrupt, &garbage).unwrap();
    let err = LiveEngine::open(&corrupt, LiveConfig::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, LiveError::Store(StoreError::Corrupt { .. })),
        "{err}"
    );
    assert_eq!(std::fs::read(&corrupt).unwrap(), garbage);
}

async fn fleet(name: &str, credits: Money) -> LiveEngine {
    let path = fresh_dir(name).join("qm.db");
    let engine = LiveEngine::open(&path, LiveConfig::default())
        .await
        .unwrap();
    engine.add_pool(slot_pool("api", 10_000)).await.unwrap();
    let mut client = Client::new("bot", Tier::Enterprise);
    client.credits = credits;
    client.max_concurrent = Some(10_000);
    engine.add_client(client).await.unwrap();
    engine
}

/// Submits `n` requests at once from `n` tasks; returns the ids and outcome receivers.
async fn submit_concurrently(
    engine: &LiveEngine,
    n: usize,
) -> Vec<(RequestId, tokio::sync::oneshot::Receiver<SubmitOutcome>)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .enqueue(request("bot", "api", Money::from_units(1)))
                    .await
            })
        })
        .collect();
    let mut handles = Vec::new();
    for task in tasks {
        handles.push(task.await.unwrap().unwrap());
    }
    handles
}

/// Four hundred concurrent submits whose estimates add up to four times the client's
/// credit: exactly the credit's worth starts, the rest wait for credit to come back and are
/// refused once it cannot; the client never spends a micro-unit more than it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_never_overspend_credit() {
    let engine = fleet("concurrent-credit", Money::from_units(100)).await;
    let bot = ClientId::new("bot");
    let handles = submit_concurrently(&engine, 400).await;
    let balance = engine.account(&bot).await.unwrap();
    assert_eq!(balance.reserved, Money::from_units(100));
    assert_eq!(balance.available, Money::ZERO);
    let status = engine.queue_status(None).await.unwrap();
    assert_eq!(status.running, 100);
    assert_eq!(status.queued.iter().sum::<usize>(), 300);
    let mut started = Vec::new();
    let mut waiting = Vec::new();
    for (id, mut outcome) in handles {
        match outcome.try_recv() {
            Ok(SubmitOutcome::Started { .. }) => started.push(id),
            Ok(other) => panic!("{other:?}"),
            Err(_) => waiting.push(outcome),
        }
    }
    assert_eq!(started.len(), 100);
    for id in started {
        engine
            .complete(id, Some(Money::from_units(1)))
            .await
            .unwrap();
    }
    for outcome in waiting {
        match outcome.await.unwrap() {
            SubmitOutcome::Refused { refusal, .. } => {
                assert_eq!(refusal.reason, RefusalReason::Credit)
            }
            other => panic!("{other:?}"),
        }
    }
    let balance = engine.account(&bot).await.unwrap();
    assert_eq!(
        (balance.spent, balance.reserved, balance.available),
        (Money::from_units(100), Money::ZERO, Money::ZERO)
    );
}

/// Four hundred concurrent submits against a hard quota of 150 calls: 150 start, 250 are
/// refused by the quota, and its usage never passes the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_never_pass_a_hard_quota() {
    let engine = fleet("concurrent-quota", Money::from_units(10_000)).await;
    engine
        .set_quota(Quota::new(
            "calls",
            QuotaScope::Global,
            Metric::ApiCalls,
            150,
            Period::Monthly,
        ))
        .await
        .unwrap();
    let handles = submit_concurrently(&engine, 400).await;
    let (mut started, mut refused) = (0, 0);
    for (_, outcome) in handles {
        match outcome.await.unwrap() {
            SubmitOutcome::Started { .. } => started += 1,
            SubmitOutcome::Refused { refusal, .. } => {
                assert_eq!(refusal.reason, RefusalReason::Quota, "{refusal}");
                refused += 1;
            }
        }
    }
    assert_eq!((started, refused), (150, 250));
    let answer = engine
        .check_quota(&ClientId::new("bot"), Metric::ApiCalls, 1)
        .await
        .unwrap();
    assert!(!answer.allowed);
    assert_eq!(answer.usage_ratio, 151.0 / 150.0);
    assert!(answer.reason.unwrap().contains("calls"));
}

/// Reopening replays the journal into exactly the state that was left: the same queue, the
/// same request states, the same balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_the_same_queue_and_states() {
    let path = fresh_dir("replay-state").join("qm.db");
    let snapshot = |engine: LiveEngine| async move {
        let status = engine.queue_status(None).await.unwrap();
        let mut states = Vec::new();
        for id in 0..60 {
            states.push(engine.request_state(RequestId(id)).await);
        }
        let balance = engine.account(&ClientId::new("bot")).await.unwrap();
        (status, states, balance)
    };
    let before = {
        let engine = LiveEngine::open(&path, LiveConfig::default())
            .await
            .unwrap();
        engine.add_pool(slot_pool("gpu", 3)).await.unwrap();
        let mut client = Client::new("bot", Tier::Standard);
        client.max_concurrent = Some(100);
        engine.add_client(client).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..50u64 {
            let mut r = request("bot", "gpu", Money::from_units(1));
            r.urgency = (i % 5) as f64 / 4.0;
            r.class = if i % 3 == 0 {
                RequestClass::Fast
            } else {
                RequestClass::Batch
            };
            ids.push(engine.enqueue(r).await.unwrap().0);
        }
        for round in 0..4 {
            let running: Vec<RequestId> = {
                let mut running = Vec::new();
                for id in &ids {
                    if engine.request_state(*id).await == Some(RequestState::Running) {
                        running.push(*id);
                    }
                }
                running
            };
            for id in running.iter().take(2) {
                engine
                    .complete(*id, Some(Money::from_micros(700_000 + round)))
                    .await
                    .unwrap();
            }
        }
        engine.cancel(ids[49]).await.unwrap();
        snapshot(engine).await
    };
    let engine = LiveEngine::open(&path, LiveConfig::default())
        .await
        .unwrap();
    let after = snapshot(engine).await;
    assert_eq!(before, after);
    assert_eq!(before.0.running, 3);
    assert!(before.1.contains(&Some(RequestState::Cancelled)));
}

/// Top-ups, transfers, direct usage, completion with usage and removals are journaled:
/// they publish their events, and a reopened engine has the same balances and registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_moves_usage_and_removals_replay_after_reopening() {
    let dir = fresh_dir("credit-replay");
    let path = dir.join("fleet.db");
    let alice = ClientId::new("alice");
    let bob = ClientId::new("bob");
    let before = {
        let engine = seeded(&path).await;
        let mut client = Client::new("bob", Tier::Basic);
        client.credits = Money::from_units(10);
        engine.add_client(client).await.unwrap();
        let mut events = engine.subscribe();
        let topped = engine
            .top_up(&alice, Money::from_micros(1_384_100_000))
            .await
            .unwrap();
        assert_eq!(topped.available, Money::from_micros(1_484_100_000));
        let (from, to) = engine
            .transfer(&alice, &bob, Money::from_units(40))
            .await
            .unwrap();
        assert_eq!(
            (from.available, to.available),
            (Money::from_micros(1_444_100_000), Money::from_units(50))
        );
        let refused = engine.transfer(&bob, &alice, Money::from_units(51)).await;
        assert!(matches!(refused, Err(LiveError::Credit(_))), "{refused:?}");
        let usage = [("api_calls".to_owned(), 2u64)].into_iter().collect();
        let consumed = engine
            .consume(&bob, usage, Some(Money::from_units(3)), false)
            .await
            .unwrap();
        assert_eq!(consumed.charge.unwrap().charged, Money::from_units(3));
        let started = engine
            .submit(request("alice", "gpu", Money::from_units(2)))
            .await
            .unwrap();
        let SubmitOutcome::Started { request: id, .. } = started else {
            panic!("{started:?}")
        };
        let busy = engine.remove_client(&alice, false).await;
        assert!(
            matches!(busy, Err(LiveError::InUse(ref m)) if m.contains("drain")),
            "{busy:?}"
        );
        engine.remove_quota(&"alice-calls".into()).await.unwrap();
        let used = quartermaster::model::Usage {
            pools: Default::default(),
            compute_ms: Some(1_200),
        };
        engine
            .complete_with_usage(id, Some(Money::from_units(1)), Some(used))
            .await
            .unwrap();
        engine.remove_client(&bob, false).await.unwrap();
        let mut names = Vec::new();
        while let Ok(event) =
            tokio::time::timeout(std::time::Duration::from_secs(5), events.recv()).await
        {
            let name = event.unwrap().kind.name();
            names.push(name);
            if name == "client.removed" {
                break;
            }
        }
        for want in [
            "credit.topped_up",
            "credit.transferred",
            "usage.consumed",
            "quota.removed",
            "client.removed",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let balance = engine.account(&alice).await.unwrap();
        // Half the state from a snapshot, the rest replayed from the journal after it.
        engine.compact().await.unwrap();
        engine.top_up(&alice, Money::from_units(1)).await.unwrap();
        balance
    };
    let engine = LiveEngine::open(&path, LiveConfig::default())
        .await
        .unwrap();
    let after = engine.account(&alice).await.unwrap();
    assert_eq!(after.available, before.available + Money::from_units(1));
    let again = engine.add_client(Client::new("bob", Tier::Basic)).await;
    assert!(
        matches!(again, Err(LiveError::Invalid(_))),
        "a removed id stays taken: {again:?}"
    );
    assert!(matches!(
        engine.account(&bob).await,
        Err(LiveError::Unknown { .. })
    ));
    assert!(
        engine
            .quotas()
            .await
            .iter()
            .all(|q| q.id.as_str() != "alice-calls")
    );
    assert_eq!(engine.clients().await.len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}
