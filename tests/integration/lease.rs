//! Leases: a started request that is neither completed nor renewed in time expires, its
//! capacity goes to the next queued request, its reservation is settled (or released),
//! `request.expired` is published, and all of it survives a reopen.

use std::sync::Arc;
use std::time::Duration;

use quartermaster::clock::{Clock, SharedClock, VirtualClock};
use quartermaster::live::{
    LeaseConfig, LeaseExpiry, LiveConfig, LiveEngine, LiveError, RequestState,
};
use quartermaster::model::{
    AlertKind, Client, ClientId, EventKind, Money, MonthlyBudget, Tier, Timestamp,
};
use quartermaster::policy::alert::AlertFilter;

use crate::live::{request, slot_pool};

fn start() -> Timestamp {
    Timestamp::parse("2026-05-04T09:00:00Z").unwrap()
}

async fn engine(
    path: &std::path::Path,
    clock: &VirtualClock,
    on_expiry: LeaseExpiry,
) -> LiveEngine {
    let config = LiveConfig {
        leases: LeaseConfig {
            default_secs: Some(60.0),
            on_expiry,
        },
        ..LiveConfig::default()
    };
    let shared: SharedClock = Arc::new(clock.clone());
    LiveEngine::open_on(path, config, shared).await.unwrap()
}

async fn set_up(engine: &LiveEngine) {
    engine.add_pool(slot_pool("gpu", 1)).await.unwrap();
    let mut client = Client::new("alice", Tier::Premium);
    client.credits = Money::from_units(100);
    client.monthly_budget = MonthlyBudget::Unlimited;
    engine.add_client(client).await.unwrap();
}

fn advance(clock: &VirtualClock, secs: u64) {
    clock.advance_to(clock.now() + Duration::from_secs(secs));
}

#[tokio::test]
async fn an_expired_lease_frees_capacity_for_the_next_request_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let clock = VirtualClock::starting_at(start());
    let engine = engine(&path, &clock, LeaseExpiry::Settle).await;
    set_up(&engine).await;
    let mut events = engine.subscribe();

    let mut first = request("alice", "gpu", Money::from_units(5));
    first.lease_secs = Some(30.0);
    let (first, _) = engine.enqueue(first).await.unwrap();
    let (second, mut second_started) = engine
        .enqueue(request("alice", "gpu", Money::from_units(5)))
        .await
        .unwrap();
    assert_eq!(
        engine.request_state(second).await,
        Some(RequestState::Queued)
    );
    let record = engine.request(first).await.unwrap();
    assert_eq!(record.lease_secs, Some(30.0));
    assert_eq!(record.lease_until, Some(start() + Duration::from_secs(30)));

    // A heartbeat at 20 s keeps it past its first deadline.
    advance(&clock, 20);
    engine.renew(first, None).await.unwrap();
    advance(&clock, 15);
    engine.wake().await.unwrap();
    assert_eq!(
        engine.request_state(first).await,
        Some(RequestState::Running)
    );

    // Then its worker goes silent.
    advance(&clock, 16);
    engine.wake().await.unwrap();
    assert_eq!(
        engine.request_state(first).await,
        Some(RequestState::Expired)
    );
    assert_eq!(
        engine.request_state(second).await,
        Some(RequestState::Running)
    );
    assert!(
        second_started.try_recv().is_ok(),
        "the next request was told it started"
    );
    // The second takes the default lease.
    assert_eq!(engine.request(second).await.unwrap().lease_secs, Some(60.0));
    // Settled at what it used: an hour's price of one slot, for the 51 s it held it.
    let charged = engine.request(first).await.unwrap().charged.unwrap();
    assert_eq!(charged, Money::from_units(1).mul_div(51, 3_600));
    let balance = engine.account(&ClientId::new("alice")).await.unwrap();
    assert_eq!(balance.spent, charged);

    let expired = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let event = events.recv().await.unwrap();
            if let EventKind::RequestExpired {
                request,
                lease_secs,
                held_secs,
                settled,
                ..
            } = event.kind
            {
                break (request, lease_secs, held_secs, settled);
            }
        }
    })
    .await
    .expect("request.expired on the stream");
    assert_eq!(expired, (first, 30.0, 51.0, true));

    // Completing an expired request is refused; so is renewing it.
    assert!(matches!(
        engine.complete(first, None).await,
        Err(LiveError::Unknown { .. })
    ));
    assert!(engine.renew(first, Some(10.0)).await.is_err());

    let before = engine.state().await.unwrap();
    drop(engine);
    let again = self::engine(&path, &clock, LeaseExpiry::Settle).await;
    assert_eq!(
        again.request_state(first).await,
        Some(RequestState::Expired)
    );
    assert_eq!(again.state().await.unwrap(), before);
    // The second's lease is still kept after the reopen: it expires on time too.
    advance(&clock, 60);
    again.wake().await.unwrap();
    assert_eq!(
        again.request_state(second).await,
        Some(RequestState::Expired)
    );
}

#[tokio::test]
async fn release_on_expiry_charges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::starting_at(start());
    let engine = engine(&dir.path().join("fleet.db"), &clock, LeaseExpiry::Release).await;
    set_up(&engine).await;
    let (id, _) = engine
        .enqueue(request("alice", "gpu", Money::from_units(5)))
        .await
        .unwrap();
    advance(&clock, 61);
    engine.wake().await.unwrap();
    assert_eq!(engine.request_state(id).await, Some(RequestState::Expired));
    let balance = engine.account(&ClientId::new("alice")).await.unwrap();
    assert_eq!(balance.spent, Money::ZERO);
    assert_eq!(balance.reserved, Money::ZERO);
    assert_eq!(balance.available, Money::from_units(100));
}

#[tokio::test]
async fn bad_leases_are_refused_naming_the_field() {
    let clock = VirtualClock::starting_at(start());
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir.path().join("fleet.db"), &clock, LeaseExpiry::Settle).await;
    set_up(&engine).await;
    let mut bad = request("alice", "gpu", Money::from_units(5));
    bad.lease_secs = Some(-3.0);
    match engine.enqueue(bad).await {
        Err(LiveError::Invalid(e)) => assert_eq!(e.field, "request[0].lease_secs"),
        other => panic!(
            "expected a validation error, got {:?}",
            other.map(|(id, _)| id)
        ),
    }
    let (id, _) = engine
        .enqueue(request("alice", "gpu", Money::from_units(5)))
        .await
        .unwrap();
    match engine.renew(id, Some(f64::NAN)).await {
        Err(LiveError::Invalid(e)) => assert_eq!(e.field, "lease_secs"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    let config = LiveConfig {
        leases: LeaseConfig {
            default_secs: Some(0.0),
            ..LeaseConfig::default()
        },
        ..LiveConfig::default()
    };
    match LiveEngine::open_in_memory(config).await {
        Err(LiveError::Invalid(e)) => assert_eq!(e.field, "leases.default_secs"),
        other => panic!("expected a validation error, got {:?}", other.err()),
    }
}

/// A lease about to end raises `lease.expiring` at the next tick (the default window is
/// 60 s); a heartbeat that moves its end past the window resolves it at the tick after.
#[tokio::test]
async fn a_lease_near_its_end_raises_an_alert_that_a_heartbeat_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::starting_at(start());
    let engine = engine(&dir.path().join("fleet.db"), &clock, LeaseExpiry::Settle).await;
    set_up(&engine).await;
    let mut work = request("alice", "gpu", Money::from_units(5));
    work.lease_secs = Some(300.0);
    let (id, _) = engine.enqueue(work).await.unwrap();
    let open = || AlertFilter {
        open_only: true,
        subject: Some("request".to_owned()),
        ..AlertFilter::default()
    };

    engine.tick().await.unwrap();
    assert!(
        engine.alerts(open()).await.unwrap().is_empty(),
        "300 s left"
    );

    advance(&clock, 250);
    engine.tick().await.unwrap();
    let raised = engine.alerts(open()).await.unwrap();
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].kind, AlertKind::LeaseExpiring);
    assert_eq!(raised[0].subject.to_string(), format!("request:{id}"));

    engine.renew(id, None).await.unwrap();
    engine.tick().await.unwrap();
    assert!(engine.alerts(open()).await.unwrap().is_empty());
    let all = engine
        .alerts(AlertFilter {
            open_only: false,
            ..open()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].resolved_at.is_some());
}
