//! Crash safety for real: a child process drives concurrent load against a database file
//! and prints every acknowledged operation; the parent kills it with SIGKILL mid-load,
//! reopens the file and checks that every acknowledged operation is there, that credit is
//! conserved, and that no confirmed bookings of one resource overlap.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use quartermaster::live::{LiveConfig, LiveEngine, RequestState, SubmitOutcome};
use quartermaster::model::{
    BookingId, BookingStatus, Client, ClientId, Money, RequestId, Resource, ResourceId,
    ResourceKind, ResourceStatus, Tier, Timestamp,
};
use quartermaster::policy::booking::BookingFilter;

use crate::live::{fresh_dir, request, slot_pool};

const DB_VARIABLE: &str = "QM_CRASH_DB";
const CREDITS: i64 = 1_000;
const RESOURCES: [&str; 2] = ["gpu-1", "gpu-2"];

fn resource(id: &str) -> Resource {
    Resource {
        id: ResourceId::new(id),
        name: id.to_owned(),
        kind: ResourceKind::Gpu,
        specs: BTreeMap::new(),
        status: ResourceStatus::Available,
        cost_per_hour: Money::from_units(2),
        max_booking_hours: 8,
        tags: Vec::new(),
    }
}

/// The child's load: eight tasks submitting, completing and booking until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by crash::acknowledged_work_survives_sigkill as a child process"]
async fn child_load() {
    let Ok(path) = std::env::var(DB_VARIABLE) else {
        return;
    };
    let engine = LiveEngine::open(&path, LiveConfig::default())
        .await
        .unwrap();
    engine.add_pool(slot_pool("gpu", 4)).await.unwrap();
    let mut client = Client::new("bot", Tier::Enterprise);
    client.credits = Money::from_units(CREDITS);
    engine.add_client(client).await.unwrap();
    for id in RESOURCES {
        engine.add_resource(resource(id)).await.unwrap();
    }
    println!("READY");
    // Bookings go a day ahead, on whole hours, so they are never in the past.
    let hour = 3_600_000_000_000i64;
    let now = Timestamp::from_datetime(chrono::Utc::now()).nanos();
    let base = (now / hour + 24) * hour;
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let bot = ClientId::new("bot");
                for i in 0..1_000_000u64 {
                    if let SubmitOutcome::Started { request: id, .. } = engine
                        .submit(request("bot", "gpu", Money::from_units(1)))
                        .await
                        .unwrap()
                    {
                        println!("ACK started {}", id.0);
                        engine
                            .complete(id, Some(Money::from_micros(500_000)))
                            .await
                            .unwrap();
                        println!("ACK completed {}", id.0);
                    }
                    let slot = ((task * 7919 + i * 104_729) % 200) as i64;
                    let hours = 1 + (i % 3) as i64;
                    let resource = ResourceId::new(RESOURCES[(i % 2) as usize]);
                    let start = Timestamp::from_nanos(base + slot * hour);
                    let end = Timestamp::from_nanos(base + (slot + hours) * hour);
                    if let Ok(booking) = engine.book(&resource, &bot, start, end, "load").await {
                        println!("ACK booked {}", booking.id.0);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[derive(Default, Debug)]
struct Acknowledged {
    started: Vec<u64>,
    completed: Vec<u64>,
    booked: Vec<u64>,
}

/// Runs the child until it has acknowledged `kill_after` operations, then SIGKILLs it.
fn run_child_and_kill(path: &std::path::Path, kill_after: usize) -> Acknowledged {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::child_load",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_VARIABLE, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acknowledged = Acknowledged::default();
    let mut count = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let mut words = line.split_whitespace();
        if words.next() != Some("ACK") {
            continue;
        }
        let kind = words.next().unwrap().to_owned();
        let id: u64 = words.next().unwrap().parse().unwrap();
        match kind.as_str() {
            "started" => acknowledged.started.push(id),
            "completed" => acknowledged.completed.push(id),
            "booked" => acknowledged.booked.push(id),
            other => panic!("unknown acknowledgement {other}"),
        }
        count += 1;
        if count >= kill_after {
            child.kill().unwrap(); // SIGKILL on Unix: no chance to flush or close anything.
            break;
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(
        count, kill_after,
        "the child stopped by itself ({status}) before it was killed"
    );
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill() {
    for (round, kill_after) in [25usize, 300, 1200].into_iter().enumerate() {
        let path = fresh_dir(&format!("crash-{round}")).join("qm.db");
        let acknowledged = run_child_and_kill(&path, kill_after);
        assert!(acknowledged.started.len() + acknowledged.booked.len() > 0);

        let engine = LiveEngine::open(&path, LiveConfig::default())
            .await
            .unwrap();
        for id in &acknowledged.started {
            let state = engine.request_state(RequestId(*id)).await;
            assert!(
                matches!(state, Some(RequestState::Running | RequestState::Finished)),
                "round {round}: started request {id} is {state:?}"
            );
        }
        for id in &acknowledged.completed {
            assert_eq!(
                engine.request_state(RequestId(*id)).await,
                Some(RequestState::Finished),
                "round {round}: completed request {id}"
            );
        }
        let bookings = engine.bookings(BookingFilter::default()).await.unwrap();
        let confirmed: BTreeMap<BookingId, _> = bookings
            .iter()
            .filter(|b| b.status == BookingStatus::Confirmed)
            .map(|b| (b.id, b))
            .collect();
        for id in &acknowledged.booked {
            assert!(
                confirmed.contains_key(&BookingId(*id)),
                "round {round}: booking {id} lost"
            );
        }
        for resource in RESOURCES {
            let mut slots: Vec<_> = confirmed
                .values()
                .filter(|b| b.resource.as_str() == resource)
                .map(|b| (b.start, b.end))
                .collect();
            slots.sort();
            for pair in slots.windows(2) {
                assert!(
                    pair[0].1 <= pair[1].0,
                    "round {round}: {resource} overlaps {pair:?}"
                );
            }
        }
        let balance = engine.account(&ClientId::new("bot")).await.unwrap();
        assert_eq!(
            balance.available + balance.reserved + balance.spent,
            Money::from_units(CREDITS),
            "round {round}: credit not conserved: {balance:?}"
        );
        assert_eq!(
            balance.spent,
            Money::from_micros(500_000) * engine_finished(&engine, &acknowledged).await,
            "round {round}: spend is half a unit per finished request"
        );
        drop(engine);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Finished requests known to the reopened engine (at least the acknowledged ones).
async fn engine_finished(engine: &LiveEngine, acknowledged: &Acknowledged) -> i64 {
    let highest = acknowledged.started.iter().max().copied().unwrap_or(0) + 64;
    let mut finished = 0;
    for id in 0..=highest {
        if engine.request_state(RequestId(id)).await == Some(RequestState::Finished) {
            finished += 1;
        }
    }
    assert!(finished >= acknowledged.completed.len() as i64);
    finished
}
