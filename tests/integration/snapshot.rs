//! Bounded restarts: a snapshot plus the journal after it rebuilds exactly the state that
//! was never interrupted; compaction moves covered commands into the trace archive; a
//! damaged or foreign snapshot is skipped or refused, never misread.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use quartermaster::clock::{Clock, SharedClock, VirtualClock};
use quartermaster::live::{self, LiveConfig, LiveEngine, LiveError, StorageConfig};
use quartermaster::model::{
    AutoscaleBounds, BatchGroup, Client, ClientId, CostType, Metric, Money, MonthlyBudget, Need,
    Period, Pool, PoolId, PoolKind, Quota, QuotaScope, Request, RequestClass, RequestId, Resource,
    ResourceId, ResourceKind, ResourceStatus, Tier, Timestamp,
};

use crate::live::slot_pool;

/// One step of a random history.
#[derive(Debug, Clone)]
enum Op {
    Submit {
        client: u8,
        class: u8,
        pool: u8,
        amount: u8,
        estimate_cents: u32,
        batch: bool,
    },
    Complete {
        pick: u8,
        actual_cents: Option<u32>,
    },
    Cancel {
        pick: u8,
    },
    Advance {
        millis: u32,
    },
    Wake,
    Tick,
    Resize {
        size: u8,
    },
    QuotaLimit {
        limit: u16,
    },
    Reserve {
        client: u8,
        cents: u32,
    },
    SettleLast {
        cents: u32,
    },
    Book {
        start_min: u16,
        minutes: u8,
    },
    Cost {
        client: u8,
        cents: u32,
    },
    Active {
        client: u8,
        active: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 0u8..5, 0u8..2, 1u8..3, 0u32..5_000, any::<bool>()).prop_map(
            |(client, class, pool, amount, estimate_cents, batch)| Op::Submit {
                client,
                class,
                pool,
                amount,
                estimate_cents,
                batch,
            }
        ),
        4 => (any::<u8>(), proptest::option::of(0u32..6_000))
            .prop_map(|(pick, actual_cents)| Op::Complete { pick, actual_cents }),
        1 => any::<u8>().prop_map(|pick| Op::Cancel { pick }),
        3 => (1u32..120_000).prop_map(|millis| Op::Advance { millis }),
        1 => Just(Op::Wake),
        1 => Just(Op::Tick),
        1 => (1u8..5).prop_map(|size| Op::Resize { size }),
        1 => (1u16..40).prop_map(|limit| Op::QuotaLimit { limit }),
        1 => (0u8..3, 0u32..3_000).prop_map(|(client, cents)| Op::Reserve { client, cents }),
        1 => (0u32..4_000).prop_map(|cents| Op::SettleLast { cents }),
        1 => (0u16..600, 1u8..90).prop_map(|(start_min, minutes)| Op::Book { start_min, minutes }),
        1 => (0u8..3, 1u32..900).prop_map(|(client, cents)| Op::Cost { client, cents }),
        1 => (0u8..3, any::<bool>()).prop_map(|(client, active)| Op::Active { client, active }),
    ]
}

const CLIENTS: [&str; 3] = ["alice", "bob", "carol"];

fn start() -> Timestamp {
    Timestamp::parse("2026-03-02T10:00:00Z").unwrap()
}

/// Settings that take no snapshot by themselves: the test decides when.
fn manual() -> LiveConfig {
    LiveConfig {
        storage: StorageConfig {
            snapshot_every_commands: 0,
            snapshot_every_secs: 0.0,
            snapshot_on_close: false,
            // Small, so histories forget ended requests before and after the snapshot.
            keep_ended_requests: 5,
            ..StorageConfig::default()
        },
        ..LiveConfig::default()
    }
}

fn rig() -> Resource {
    Resource {
        id: ResourceId::new("rig"),
        name: "Test rig".into(),
        kind: ResourceKind::Gpu,
        specs: BTreeMap::new(),
        description: String::new(),
        owner: None,
        status: ResourceStatus::Available,
        cost_per_hour: Money::from_units(3),
        max_booking_hours: 24,
        tags: Vec::new(),
    }
}

async fn set_up(engine: &LiveEngine) {
    let mut gpu = slot_pool("gpu", 2);
    gpu.autoscale = Some(AutoscaleBounds { min: 1, max: 4 });
    engine.add_pool(gpu).await.unwrap();
    engine
        .add_pool(Pool {
            id: PoolId::new("api"),
            kind: PoolKind::Rate {
                capacity: 50.0,
                refill_per_sec: 2.0,
                cost_per_1k_units: Money::from_units(1),
            },
            autoscale: None,
        })
        .await
        .unwrap();
    for (i, id) in CLIENTS.iter().enumerate() {
        let mut client = Client::new(*id, [Tier::Premium, Tier::Basic, Tier::Standard][i]);
        client.credits = Money::from_units(60);
        client.monthly_budget = MonthlyBudget::Limit(Money::from_units(45));
        engine.add_client(client).await.unwrap();
    }
    let mut calls = Quota::new(
        "bob-calls",
        QuotaScope::Client(ClientId::new("bob")),
        Metric::ApiCalls,
        20,
        Period::Daily,
    );
    calls.hard_stop = true;
    engine.set_quota(calls).await.unwrap();
    engine.add_resource(rig()).await.unwrap();
}

/// Plays `ops` on `engine`, moving `clock`; a snapshot after step `cut` if given. Refused
/// operations are part of a history too: they must leave no trace.
async fn play(engine: &LiveEngine, clock: &VirtualClock, ops: &[Op], cut: Option<usize>) {
    let mut submitted: Vec<RequestId> = Vec::new();
    let mut reservations = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Submit {
                client,
                class,
                pool,
                amount,
                estimate_cents,
                batch,
            } => {
                let request = Request {
                    id: RequestId(0),
                    client: ClientId::new(CLIENTS[*client as usize]),
                    class: RequestClass::ALL[*class as usize],
                    urgency: 0.5,
                    needs: vec![Need {
                        pool: PoolId::new(["gpu", "api"][*pool as usize]),
                        amount: u64::from(*amount) * if *pool == 1 { 5 } else { 1 },
                    }],
                    estimated_cost: Some(Money::from_micros(i64::from(*estimate_cents) * 10_000)),
                    alternative: None,
                    batch: batch.then(|| BatchGroup {
                        name: "nightly".into(),
                        max_size: 3,
                        max_wait_secs: 30.0,
                    }),
                    lease_secs: None,
                };
                if let Ok((id, _outcome)) = engine.enqueue(request).await {
                    submitted.push(id);
                }
            }
            Op::Complete { pick, actual_cents } if !submitted.is_empty() => {
                let id = submitted[*pick as usize % submitted.len()];
                let actual = actual_cents.map(|c| Money::from_micros(i64::from(c) * 10_000));
                let _ = engine.complete(id, actual).await;
            }
            Op::Cancel { pick } if !submitted.is_empty() => {
                let _ = engine
                    .cancel(submitted[*pick as usize % submitted.len()])
                    .await;
            }
            Op::Complete { .. } | Op::Cancel { .. } => {}
            Op::Advance { millis } => {
                clock.advance_to(clock.now() + Duration::from_millis(u64::from(*millis)));
            }
            Op::Wake => engine.wake().await.unwrap(),
            Op::Tick => engine.tick().await.unwrap(),
            Op::Resize { size } => engine
                .resize_pool(&PoolId::new("gpu"), f64::from(*size))
                .await
                .unwrap(),
            Op::QuotaLimit { limit } => {
                let mut quota = Quota::new(
                    "bob-calls",
                    QuotaScope::Client(ClientId::new("bob")),
                    Metric::ApiCalls,
                    u64::from(*limit),
                    Period::Daily,
                );
                quota.hard_stop = true;
                engine.set_quota(quota).await.unwrap();
            }
            Op::Reserve { client, cents } => {
                let estimate = Money::from_micros(i64::from(*cents) * 10_000);
                if let Ok(grant) = engine
                    .reserve(&ClientId::new(CLIENTS[*client as usize]), Some(estimate))
                    .await
                {
                    reservations.push(grant.id);
                }
            }
            Op::SettleLast { cents } => {
                if let Some(reservation) = reservations.pop() {
                    let actual = Money::from_micros(i64::from(*cents) * 10_000);
                    let _ = engine.settle(reservation, actual).await;
                }
            }
            Op::Book { start_min, minutes } => {
                let from = start() + Duration::from_secs(u64::from(*start_min) * 60);
                let to = from + Duration::from_secs(u64::from(*minutes) * 60);
                let _ = engine
                    .book(
                        &ResourceId::new("rig"),
                        &ClientId::new("alice"),
                        from,
                        to,
                        "training",
                    )
                    .await;
            }
            Op::Cost { client, cents } => {
                let _ = engine
                    .record_cost(
                        &ClientId::new(CLIENTS[*client as usize]),
                        CostType::ApiUsage,
                        "tokens",
                        Money::from_micros(i64::from(*cents) * 10_000),
                        BTreeMap::new(),
                    )
                    .await;
            }
            Op::Active { client, active } => {
                let _ = engine
                    .set_client_active(&ClientId::new(CLIENTS[*client as usize]), *active)
                    .await;
            }
        }
        if cut == Some(step) {
            engine.snapshot().await.unwrap();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn history(path: &Path, ops: &[Op], cut: Option<usize>) -> live::EngineImage {
    let clock = VirtualClock::starting_at(start());
    let shared: SharedClock = Arc::new(clock.clone());
    let engine = LiveEngine::open_on(path, manual(), shared).await.unwrap();
    set_up(&engine).await;
    play(&engine, &clock, ops, cut).await;
    engine.state().await.unwrap()
}

async fn reopened(path: &Path) -> live::EngineImage {
    let clock: SharedClock = Arc::new(VirtualClock::starting_at(start()));
    let engine = LiveEngine::open_on(path, manual(), clock).await.unwrap();
    engine.state().await.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// snapshot + suffix = uninterrupted = full replay, whatever the history and
    /// wherever the snapshot falls in it.
    #[test]
    fn snapshot_plus_suffix_equals_the_uninterrupted_state(
        ops in proptest::collection::vec(op(), 1..90),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (snapshotted, replayed) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let cut = cut.index(ops.len());
        let rt = runtime();
        let uninterrupted = rt.block_on(history(&snapshotted, &ops, Some(cut)));
        let from_snapshot = rt.block_on(reopened(&snapshotted));
        prop_assert_eq!(&from_snapshot, &uninterrupted);
        rt.block_on(history(&replayed, &ops, None));
        let from_journal = rt.block_on(reopened(&replayed));
        prop_assert_eq!(&from_journal, &uninterrupted);
    }
}

async fn busy_engine(path: &Path, config: LiveConfig, pairs: usize) -> LiveEngine {
    let clock = VirtualClock::starting_at(start());
    let shared: SharedClock = Arc::new(clock.clone());
    let engine = LiveEngine::open_on(path, config, shared).await.unwrap();
    set_up(&engine).await;
    for i in 0..pairs {
        let mut request = crate::live::request("alice", "gpu", Money::from_micros(10_000));
        // Classes that start at once (deferred work waits for off-peak hours).
        request.class = RequestClass::ALL[i % 3];
        let (id, _) = engine.enqueue(request).await.unwrap();
        clock.advance_to(clock.now() + Duration::from_millis(250));
        engine
            .complete(id, Some(Money::from_micros(9_000)))
            .await
            .unwrap();
    }
    engine
}

/// Snapshots every 100 commands keep the journal within two intervals, move the rest into
/// the archive, and a reopen reads the same state.
#[tokio::test]
async fn compaction_bounds_the_journal_and_archives_what_it_covered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let config = LiveConfig {
        storage: StorageConfig {
            snapshot_every_commands: 100,
            snapshot_every_secs: 0.0,
            ..StorageConfig::default()
        },
        ..LiveConfig::default()
    };
    let engine = busy_engine(&path, config.clone(), 600).await;
    let before = engine.state().await.unwrap();
    engine.close().await.unwrap();

    let info = live::info(&path).unwrap();
    assert_eq!(info.schema_version, 2);
    assert!(
        info.journal_commands <= 200,
        "journal holds {} commands",
        info.journal_commands
    );
    assert_eq!(info.snapshots.len(), 2, "{info:?}");
    let last = info.last_command.unwrap_or(info.snapshots[0].covers);
    assert_eq!(
        info.snapshots[0].covers, last,
        "the close snapshot covers all"
    );
    let archive = info.archive.expect("an archive beside the database");
    assert!(archive.commands >= 1_000, "{archive:?}");
    assert_eq!(archive.first_command, Some(1));
    // Journal and archive together hold every command, once.
    let archived = live::archive::read(&path).unwrap();
    assert!(archived.windows(2).all(|w| w[1].seq == w[0].seq + 1));

    let clock: SharedClock = Arc::new(VirtualClock::starting_at(start()));
    let again = LiveEngine::open_on(&path, config, clock).await.unwrap();
    assert_eq!(again.state().await.unwrap(), before);
}

/// The archive's retention by size keeps the newest commands within the limit.
#[tokio::test]
async fn archive_retention_by_size_drops_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let config = LiveConfig {
        storage: StorageConfig {
            snapshot_every_commands: 50,
            snapshot_every_secs: 0.0,
            archive_max_mb: Some(0.01),
            ..StorageConfig::default()
        },
        ..LiveConfig::default()
    };
    let engine = busy_engine(&path, config, 400).await;
    engine.close().await.unwrap();
    let archived = live::archive::read(&path).unwrap();
    let text: usize = archived
        .iter()
        .map(|e| serde_json::to_string(&e.command).unwrap().len())
        .sum();
    assert!(!archived.is_empty());
    assert!(text <= 10_000 + 400, "{text} bytes archived");
    assert!(archived[0].seq > 1, "the oldest were dropped");
}

/// Without an archive, compaction drops what snapshots cover.
#[tokio::test]
async fn compaction_without_archive_drops_covered_commands() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let config = LiveConfig {
        storage: StorageConfig {
            snapshot_every_commands: 100,
            archive: false,
            ..StorageConfig::default()
        },
        ..LiveConfig::default()
    };
    busy_engine(&path, config, 300).await.close().await.unwrap();
    let info = live::info(&path).unwrap();
    assert!(info.archive.is_none());
    assert!(info.journal_commands <= 200);
}

/// Flips one byte in the middle of the newest snapshot's body, as a bad disk would.
fn damage_newest_snapshot(path: &Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    let (covers, mut body): (i64, Vec<u8>) = connection
        .query_row(
            "SELECT covers, body FROM snapshot ORDER BY covers DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let middle = body.len() / 2;
    body[middle] ^= 0x5a;
    connection
        .execute(
            "UPDATE snapshot SET body = ?1 WHERE covers = ?2",
            rusqlite::params![body, covers],
        )
        .unwrap();
}

/// A damaged newest snapshot is skipped for the one before it, with the same result.
#[tokio::test]
async fn a_damaged_snapshot_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let engine = busy_engine(&path, manual(), 20).await;
    engine.snapshot().await.unwrap();
    let clock = VirtualClock::starting_at(start());
    for _ in 0..5 {
        let (id, _) = engine
            .enqueue(crate::live::request("bob", "gpu", Money::from_units(1)))
            .await
            .unwrap();
        engine.complete(id, None).await.unwrap();
    }
    engine.snapshot().await.unwrap();
    let before = engine.state().await.unwrap();
    drop(engine);
    damage_newest_snapshot(&path);
    let again = LiveEngine::open_on(&path, manual(), Arc::new(clock))
        .await
        .unwrap();
    assert_eq!(again.state().await.unwrap(), before);
}

/// A snapshot in a format this build does not read is refused, naming both versions,
/// when nothing older can stand in for it.
#[tokio::test]
async fn a_snapshot_of_another_format_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let config = LiveConfig {
        storage: StorageConfig {
            snapshot_every_commands: 40,
            ..StorageConfig::default()
        },
        ..LiveConfig::default()
    };
    busy_engine(&path, config.clone(), 100)
        .await
        .close()
        .await
        .unwrap();
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute("UPDATE snapshot SET format = 99, build = '9.9.9'", [])
        .unwrap();
    drop(connection);
    let clock: SharedClock = Arc::new(VirtualClock::starting_at(start()));
    let error = match LiveEngine::open_on(&path, config, clock).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a snapshot of format 99 was read"),
    };
    assert!(
        error.contains("format 99") && error.contains("9.9.9") && error.contains("format 1"),
        "{error}"
    );
}

/// `qm db info` of a file that is not ours, or not there, is refused and leaves it alone.
#[test]
fn info_refuses_foreign_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("other.db");
    let connection = rusqlite::Connection::open(&foreign).unwrap();
    connection
        .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(connection);
    let before = std::fs::read(&foreign).unwrap();
    let error = live::info(&foreign).unwrap_err().to_string();
    assert!(error.contains("not a Quartermaster database"), "{error}");
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    let missing = dir.path().join("missing.db");
    assert!(
        live::info(&missing)
            .unwrap_err()
            .to_string()
            .contains("does not exist")
    );
    assert!(!missing.exists());
}

/// Bad storage settings are refused naming the field.
#[tokio::test]
async fn bad_storage_settings_name_the_field() {
    let config = LiveConfig {
        storage: StorageConfig {
            archive_keep_days: Some(-1.0),
            ..StorageConfig::default()
        },
        ..LiveConfig::default()
    };
    let error = match LiveEngine::open_in_memory(config).await {
        Err(LiveError::Invalid(e)) => e,
        other => panic!("expected a validation error, got {:?}", other.err()),
    };
    assert_eq!(error.field, "storage.archive_keep_days");
}

/// Only the latest `keep_ended_requests` ended requests keep their records; queued and
/// running ones always do, and a reopen forgets alike.
#[tokio::test]
async fn ended_requests_beyond_the_kept_number_are_forgotten_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let engine = LiveEngine::open(&path, manual()).await.unwrap();
    engine.add_pool(slot_pool("gpu", 1)).await.unwrap();
    let mut client = Client::new("a", Tier::Premium);
    client.monthly_budget = MonthlyBudget::Unlimited;
    engine.add_client(client).await.unwrap();
    let ask = || crate::live::request("a", "gpu", Money::from_units(1));
    let mut ids = Vec::new();
    for _ in 0..8 {
        let (id, _) = engine.enqueue(ask()).await.unwrap();
        engine.complete(id, None).await.unwrap();
        ids.push(id);
    }
    let (running, _) = engine.enqueue(ask()).await.unwrap();
    let (queued, _) = engine.enqueue(ask()).await.unwrap();
    for (i, id) in ids.iter().enumerate() {
        let kept = engine.request(*id).await.is_some();
        assert_eq!(
            kept,
            i >= 3,
            "request {id}: the latest 5 of 8 ended are kept"
        );
    }
    assert!(engine.request(running).await.is_some());
    assert!(engine.request(queued).await.is_some());
    engine.snapshot().await.unwrap();
    engine.complete(running, None).await.unwrap();
    let before = engine.state().await.unwrap();
    drop(engine);

    let again = LiveEngine::open(&path, manual()).await.unwrap();
    assert_eq!(again.state().await.unwrap(), before);
    assert!(
        again.request(ids[3]).await.is_none(),
        "forgotten after the snapshot"
    );
    assert!(again.request(running).await.is_some());
}
