//! Crash safety for real: a child process drives concurrent load against a database file
//! and prints every acknowledged operation; the parent kills it with SIGKILL mid-load,
//! reopens the file and checks that every acknowledged operation is there, that credit is
//! conserved, and that no confirmed bookings of one resource overlap.
//!
//! Two kinds of kill point. "After N": the parent kills once it has read N
//! acknowledgements, so the child has run on a little (the realistic crash). "Freeze at
//! N": the child stops itself with SIGSTOP the instant it prints its N-th
//! acknowledgement, and the parent kills the frozen process: the crash lands exactly at
//! an acknowledgement, which is where an acknowledgement sent before its cause is
//! durable shows up every time, not only when the timing happens to line up.
//!
//! Some rounds snapshot every few dozen commands, so kills land while a snapshot is being
//! taken, encoded or written and while the journal behind it is compacted: the reopened
//! engine loads the newest snapshot that was fully written and replays the rest.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use quartermaster::live::{LiveConfig, LiveEngine, RequestState, SubmitOutcome};
use quartermaster::model::{
    BookingId, BookingStatus, Client, ClientId, Money, RequestId, Resource, ResourceId,
    ResourceKind, ResourceStatus, Tier, Timestamp,
};
use quartermaster::policy::booking::BookingFilter;

use crate::live::{fresh_dir, request, slot_pool};

const DB_VARIABLE: &str = "QM_CRASH_DB";
/// Set in the child: freeze (SIGSTOP) at this acknowledgement.
const FREEZE_VARIABLE: &str = "QM_CRASH_FREEZE_AT";
/// Set in the child: snapshot after this many commands.
const SNAPSHOT_VARIABLE: &str = "QM_CRASH_SNAPSHOT_EVERY";
/// The line a child prints just before it freezes itself.
const FROZEN: &str = "FROZEN";
const CREDITS: i64 = 1_000;
const RESOURCES: [&str; 2] = ["gpu-1", "gpu-2"];

fn resource(id: &str) -> Resource {
    Resource {
        id: ResourceId::new(id),
        name: id.to_owned(),
        kind: ResourceKind::Gpu,
        specs: BTreeMap::new(),
        description: String::new(),
        owner: None,
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
    let mut config = LiveConfig::default();
    if let Some(every) = std::env::var(SNAPSHOT_VARIABLE)
        .ok()
        .and_then(|n| n.parse().ok())
    {
        config.storage.snapshot_every_commands = every;
    }
    let engine = LiveEngine::open(&path, config).await.unwrap();
    engine.add_pool(slot_pool("gpu", 4)).await.unwrap();
    let mut client = Client::new("bot", Tier::Enterprise);
    client.credits = Money::from_units(CREDITS);
    engine.add_client(client).await.unwrap();
    for id in RESOURCES {
        engine.add_resource(resource(id)).await.unwrap();
    }
    let freeze_at: usize = std::env::var(FREEZE_VARIABLE)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let frozen = Arc::new(AtomicBool::new(false));
    // Prints an acknowledgement. From the chosen count on, the first start of a request
    // that had to wait in the queue (so was started by somebody else's command) stops the
    // whole process at once: the moment a too-early acknowledgement would be lost.
    let ack = move |what: &str, id: u64, waited: bool| {
        println!("ACK {what} {id}");
        let count = acknowledged.fetch_add(1, Ordering::SeqCst) + 1;
        if count >= freeze_at && waited && !frozen.swap(true, Ordering::SeqCst) {
            println!("{FROZEN}");
            // SAFETY: raise has no preconditions; SIGSTOP stops every thread of the process.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
    };
    println!("READY");
    // Bookings go a day ahead, on whole hours, so they are never in the past.
    let hour = 3_600_000_000_000i64;
    let now = Timestamp::from_datetime(chrono::Utc::now()).nanos();
    let base = (now / hour + 24) * hour;
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let engine = engine.clone();
            let ack = ack.clone();
            tokio::spawn(async move {
                let bot = ClientId::new("bot");
                for i in 0..1_000_000u64 {
                    let (_, mut outcome) = engine
                        .enqueue(request("bot", "gpu", Money::from_units(1)))
                        .await
                        .unwrap();
                    // Not decided when its own submit was acknowledged: it waited.
                    let (decided, waited) = match outcome.try_recv() {
                        Ok(decided) => (decided, false),
                        Err(_) => (outcome.await.unwrap(), true),
                    };
                    if let SubmitOutcome::Started { request: id, .. } = decided {
                        ack("started", id.0, waited);
                        engine
                            .complete(id, Some(Money::from_micros(500_000)))
                            .await
                            .unwrap();
                        ack("completed", id.0, false);
                    }
                    let slot = ((task * 7919 + i * 104_729) % 200) as i64;
                    let hours = 1 + (i % 3) as i64;
                    let resource = ResourceId::new(RESOURCES[(i % 2) as usize]);
                    let start = Timestamp::from_nanos(base + slot * hour);
                    let end = Timestamp::from_nanos(base + (slot + hours) * hour);
                    if let Ok(booking) = engine.book(&resource, &bot, start, end, "load").await {
                        ack("booked", booking.id.0, false);
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

/// Where the child dies.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// Killed by the parent once it has read this many acknowledgements.
    After(usize),
    /// Frozen by itself at this acknowledgement, then killed.
    FreezeAt(usize),
}

impl Acknowledged {
    fn record(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        if words.next() != Some("ACK") {
            return false;
        }
        let kind = words.next().unwrap();
        let id: u64 = words.next().unwrap().parse().unwrap();
        match kind {
            "started" => self.started.push(id),
            "completed" => self.completed.push(id),
            "booked" => self.booked.push(id),
            other => panic!("unknown acknowledgement {other}"),
        }
        true
    }
}

/// Whether the process is stopped (state `T` in `/proc/PID/stat`).
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses.
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().next().map(|state| state == "T")
        })
        .unwrap_or(false)
}

/// Runs the child under load until the kill point, SIGKILLs it, and returns every
/// acknowledgement it printed.
fn run_child_and_kill(
    path: &std::path::Path,
    point: KillPoint,
    snapshot_every: Option<u64>,
) -> Acknowledged {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "crash::child_load",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_VARIABLE, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let KillPoint::FreezeAt(n) = point {
        command.env(FREEZE_VARIABLE, n.to_string());
    }
    if let Some(every) = snapshot_every {
        command.env(SNAPSHOT_VARIABLE, every.to_string());
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = Acknowledged::default();
    let mut count = 0;
    let mut killed = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if acknowledged.record(&line) {
            count += 1;
        }
        match point {
            KillPoint::After(n) if count >= n => {
                child.kill().unwrap(); // SIGKILL on Unix: no chance to flush or close anything.
                killed = true;
                break;
            }
            KillPoint::FreezeAt(_) if line == FROZEN => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !is_stopped(child.id()) {
                    assert!(Instant::now() < deadline, "the child never froze");
                    std::thread::sleep(Duration::from_micros(200));
                }
                child.kill().unwrap();
                killed = true;
                break;
            }
            _ => {}
        }
    }
    // Whatever the child printed before it died was acknowledged too.
    for line in lines {
        let Ok(line) = line else { break };
        acknowledged.record(&line);
    }
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the child stopped by itself ({status}) before it was killed"
    );
    acknowledged
}

/// Keeps both cores busy while the crash rounds run, so the engine's threads are
/// descheduled at awkward moments the way they are on a loaded machine.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.wrapping_mul(6364136223846793005) + 1);
                        }
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill() {
    let _load = Load::start(2);
    // (where it dies, snapshot every n commands)
    let points = [
        (KillPoint::FreezeAt(3), None),
        (KillPoint::FreezeAt(11), None),
        (KillPoint::FreezeAt(40), None),
        (KillPoint::FreezeAt(97), Some(25)),
        (KillPoint::FreezeAt(230), None),
        (KillPoint::FreezeAt(512), Some(40)),
        (KillPoint::After(25), None),
        (KillPoint::After(300), Some(20)),
        (KillPoint::After(777), Some(33)),
        (KillPoint::After(1200), None),
        (KillPoint::After(1500), Some(50)),
    ];
    for (round, (point, snapshot_every)) in points.into_iter().enumerate() {
        let path = fresh_dir(&format!("crash-{round}")).join("qm.db");
        let acknowledged = run_child_and_kill(&path, point, snapshot_every);
        let round = format!("{round} ({point:?}, snapshot every {snapshot_every:?})");
        if snapshot_every.is_some() {
            let info = quartermaster::live::info(&path).unwrap();
            assert!(
                !info.snapshots.is_empty(),
                "round {round}: no snapshot taken"
            );
        }
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
