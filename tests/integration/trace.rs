//! Recorded live traffic replayed: a live session on a real SQLite file, driven by
//! concurrent tasks with wall-clock waits, exported as a trace and replayed with no
//! changes, repeats the live engine's decisions exactly; changes move the figures; bad
//! input is refused with the field named.

use std::time::Duration;

use quartermaster::live::trace::{TraceOptions, export};
use quartermaster::live::{LiveConfig, LiveEngine, RequestState, SubmitOutcome};
use quartermaster::model::{
    Client, ClientId, Metric, Money, Period, Quota, QuotaScope, RequestId, Tier,
};
use quartermaster::sim::{self, Changes, RunOptions};

use crate::live::{fresh_dir, request, slot_pool};

/// One worker: `n` requests one after another, each held a few milliseconds of wall
/// time once started; some give up waiting and cancel.
async fn worker(engine: LiveEngine, client: &'static str, w: u64, n: u64) {
    for k in 0..n {
        let estimate = Money::from_micros(40_000 + 10_000 * ((w + k) % 3) as i64);
        let mut asked = request(client, "gpu", estimate);
        asked.urgency = ((w * 7 + k) % 10) as f64 / 10.0;
        let (asked_id, outcome) = engine.enqueue(asked).await.unwrap();
        let patience = Duration::from_millis(if k % 5 == 4 { 5 } else { 400 });
        let (id, started) = match tokio::time::timeout(patience, outcome).await {
            Ok(Ok(SubmitOutcome::Started { request, .. })) => (request, true),
            Ok(Ok(SubmitOutcome::Refused { .. })) => continue,
            Ok(Err(_)) => panic!("the engine dropped a submitter"),
            Err(_) => {
                // Gave up waiting: cancel it (if it started meanwhile, this stops it; if
                // it was refused meanwhile, there is nothing to cancel).
                let _ = engine.cancel(asked_id).await;
                continue;
            }
        };
        assert!(started);
        tokio::time::sleep(Duration::from_millis(3 + (w * 5 + k * 3) % 17)).await;
        let actual = Money::from_micros(30_000 + 7_000 * ((w + 2 * k) % 4) as i64);
        engine.complete(id, Some(actual)).await.unwrap();
        tokio::time::sleep(Duration::from_millis((w + k) % 4)).await;
    }
}

async fn record_session(path: &std::path::Path) -> Vec<quartermaster::live::RequestRecord> {
    let mut config = LiveConfig::default();
    // Compact often, so the export reads the trace archive as well as the journal.
    config.storage.snapshot_every_commands = 60;
    let engine = LiveEngine::open(path, config).await.unwrap();
    engine.add_pool(slot_pool("gpu", 3)).await.unwrap();
    let mut alice = Client::new("alice", Tier::Premium);
    alice.credits = Money::from_units(50);
    engine.add_client(alice).await.unwrap();
    let mut bob = Client::new("bob", Tier::Basic);
    bob.credits = Money::from_micros(900_000);
    engine.add_client(bob).await.unwrap();
    let mut carol = Client::new("carol", Tier::Standard);
    carol.credits = Money::from_micros(350_000);
    engine.add_client(carol).await.unwrap();
    engine
        .set_quota(Quota::new(
            "bob-calls",
            QuotaScope::Client(ClientId::new("bob")),
            Metric::ApiCalls,
            14,
            Period::Daily,
        ))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..6 {
        let client = ["alice", "carol", "bob"][w as usize % 3];
        tasks.push(tokio::spawn(worker(engine.clone(), client, w, 14)));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Whatever still waits is cancelled, as a client that gives up would.
    let mut records = Vec::new();
    let mut id = 0;
    while let Some(record) = engine.request(RequestId(id)).await {
        records.push(record);
        id += 1;
    }
    for record in &records {
        if record.state == RequestState::Queued {
            engine.cancel(record.request).await.unwrap();
        }
    }
    let records = {
        let mut all = Vec::new();
        for record in &records {
            all.push(engine.request(record.request).await.unwrap());
        }
        all
    };
    engine.close().await.unwrap();
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_recorded_session_repeats_every_decision() {
    let dir = fresh_dir("trace-fidelity");
    let path = dir.join("fleet.db");
    let live = record_session(&path).await;
    assert!(live.len() > 60, "{} requests", live.len());
    assert!(
        quartermaster::live::archive::info(&path)
            .unwrap()
            .is_some_and(|a| a.commands > 0),
        "the session was compacted into the trace archive"
    );
    let reasons: Vec<_> = live.iter().filter_map(|r| r.reason.clone()).collect();
    assert!(!reasons.is_empty(), "some requests were refused");
    let waited = live
        .iter()
        .filter(|r| r.started_at.is_some_and(|s| s > r.queued_at))
        .count();
    let cancelled = live
        .iter()
        .filter(|r| r.state == RequestState::Cancelled)
        .count();
    eprintln!(
        "{} requests: {waited} waited for a slot, {cancelled} cancelled, refused: {reasons:?}",
        live.len()
    );

    let path2 = path.clone();
    let exported = tokio::task::spawn_blocking(move || export(&path2, &TraceOptions::default()))
        .await
        .unwrap()
        .unwrap();
    let scenario = exported.scenario;
    let trace = scenario.trace.as_ref().unwrap();
    assert_eq!(trace.arrivals.len(), live.len());
    // The file round-trips.
    let text = sim::trace::to_ron(&scenario).unwrap();
    let reloaded = sim::parse(&text, "trace.ron").unwrap();
    assert_eq!(reloaded, scenario);

    let report = tokio::task::spawn_blocking(move || sim::run(&reloaded, &RunOptions::default()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.decisions.len(), live.len());
    for (record, decided) in live.iter().zip(&report.decisions) {
        let who = format!("request {} ({:?})", record.request, record.state);
        assert_eq!(decided.started_at, record.started_at, "{who}: start");
        assert_eq!(decided.refused, record.reason, "{who}: refusal");
        let charged = record
            .charged
            .filter(|_| record.state == RequestState::Finished);
        let decided_charge = decided
            .charged
            .filter(|_| record.state == RequestState::Finished);
        assert_eq!(decided_charge, charged, "{who}: charge");
    }
    let spend: Money = live.iter().filter_map(|r| r.charged).sum();
    assert_eq!(report.totals.spend, spend);
}

fn small_trace() -> sim::Scenario {
    let text = r#"(
        name: "t",
        start: "2026-01-05T00:00:00Z",
        duration_secs: 100,
        pools: [(id: "gpu", kind: slot(slots: 1, cost_per_hour: 36))],
        clients: [(id: "a", tier: enterprise)],
        quotas: [(id: "calls", scope: global, metric: api_calls, limit: 6, period: daily)],
        trace: (arrivals: [
            (0.0, "a", normal, 0.5, [("gpu", 1)], Some(0.01), done(10.0, Some(0.1)), None),
            (1.0, "a", normal, 0.5, [("gpu", 1)], Some(0.01), done(10.0, Some(0.1)), None),
            (2.0, "a", normal, 0.5, [("gpu", 1)], Some(0.01), done(10.0, Some(0.1)), None),
            (3.0, "a", normal, 0.5, [("gpu", 1)], Some(0.01), done(10.0, Some(0.1)), None),
            (4.0, "a", normal, 0.5, [("gpu", 1)], Some(0.01), cancelled(25.0), None),
            (5.0, "a", normal, 0.5, [("gpu", 1)], Some(0.01), refused("quota"), None),
            (6.0, "a", normal, 0.5, [("gpu", 1)], Some(0.01), open, None),
        ]),
    )"#;
    sim::parse(text, "t.ron").unwrap()
}

#[test]
fn a_trace_replays_service_times_and_changes_move_the_figures() {
    let scenario = small_trace();
    let base = sim::run(&scenario, &RunOptions::default()).unwrap();
    let starts: Vec<Option<f64>> = base
        .decisions
        .iter()
        .map(|d| d.started_at.map(|t| t.since(scenario.start).as_secs_f64()))
        .collect();
    // One slot, ten seconds each: back to back; the fifth is cancelled at 25 s while
    // queued, the sixth waits for the slot (its service the median, 10 s).
    assert_eq!(
        starts,
        vec![
            Some(0.0),
            Some(10.0),
            Some(20.0),
            Some(30.0),
            None,
            Some(40.0),
            Some(50.0)
        ]
    );
    assert_eq!(base.trace.as_ref().unwrap().assumed_service, 1);
    let changes = Changes::parse(
        r#"(name: "tighter, wider", quotas: [(quota: "calls", limit: 3)], pools: [(pool: "gpu", add: 2)])"#,
        "c.ron",
    )
    .unwrap();
    let comparison = sim::replay(&scenario, Some(&changes), &RunOptions::default()).unwrap();
    let changed = comparison.changed.as_ref().unwrap();
    assert_eq!(changed.totals.refused.get("quota").copied(), Some(4));
    assert!(changed.totals.wait.p99 < base.totals.wait.p99);
    let text = comparison.render();
    assert!(text.contains("refused: quota"), "{text}");
    assert!(text.contains("tighter, wider"), "{text}");
}

#[test]
fn changes_naming_unknown_things_are_refused_by_field() {
    let scenario = small_trace();
    let changes = Changes::parse(r#"(pools: [(pool: "tpu", size: 4)])"#, "c.ron").unwrap();
    let err = sim::replay(&scenario, Some(&changes), &RunOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("pools[0].pool") && text.contains("tpu") && text.contains("gpu"),
        "{text}"
    );
    let err = Changes::parse(r#"(pools: [(pool: "gpu", slots: 4)])"#, "c.ron").unwrap_err();
    assert!(err.to_string().contains("c.ron:1:"), "{err}");
}

#[test]
fn malformed_traces_are_refused_with_the_field_named() {
    let bad = r#"(
        name: "t", start: "2026-01-05T00:00:00Z", duration_secs: 10,
        pools: [(id: "gpu", kind: slot(slots: 1, cost_per_hour: 1))],
        clients: [(id: "a", tier: basic)],
        trace: (arrivals: [
            (2.0, "a", normal, 0.5, [("gpu", 1)], None, open, None),
            (1.0, "zed", normal, 1.5, [("tpu", 1)], None, done(-1.0, None), None),
        ]),
    )"#;
    let err = sim::parse(bad, "bad.ron").unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    for field in [
        "trace.arrivals[1].0",
        "trace.arrivals[1].1",
        "trace.arrivals[1].3",
        "trace.arrivals[1].4",
        "trace.arrivals[1].6",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let syntax =
        sim::parse("(name: \"t\", trace: (arrivals: [(1.0, \"a\")]))", "s.ron").unwrap_err();
    assert!(syntax.to_string().contains("s.ron"), "{syntax}");
}

#[test]
fn a_file_that_is_not_a_journal_is_refused() {
    let dir = fresh_dir("trace-foreign");
    let path = dir.join("other.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(other);
    let err = export(&path, &TraceOptions::default()).unwrap_err();
    assert!(err.to_string().contains("other.db"), "{err}");
    let missing = export(&dir.join("none.db"), &TraceOptions::default()).unwrap_err();
    assert!(missing.to_string().contains("none.db"), "{missing}");
}

/// `qm trace export` and `qm replay` as a user runs them, on a real recorded database.
#[cfg(all(feature = "cli", feature = "server", feature = "plot"))]
mod cli {
    use std::process::{Command, Output};

    use super::*;

    fn qm(args: &[&std::ffi::OsStr]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_qm"))
            .args(args)
            .output()
            .expect("the qm binary runs")
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn export_then_replay_with_changes_prints_both_and_writes_json() {
        let dir = fresh_dir("trace-cli");
        let db = dir.join("fleet.db");
        let live = record_session(&db).await;
        let trace = dir.join("trace.ron");
        let out = qm(&[
            "trace".as_ref(),
            "export".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            trace.as_os_str(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(&format!("traced {} requests", live.len())),
            "{}",
            text(&out.stderr)
        );
        let changes = dir.join("changes.ron");
        std::fs::write(
            &changes,
            r#"(name: "one more slot", pools: [(pool: "gpu", add: 1)])"#,
        )
        .unwrap();
        let json = dir.join("both.json");
        let out = qm(&[
            "replay".as_ref(),
            trace.as_os_str(),
            "--with".as_ref(),
            changes.as_os_str(),
            "--json".as_ref(),
            json.as_os_str(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        assert!(printed.contains("one more slot"), "{printed}");
        assert!(printed.contains("wait p99"), "{printed}");
        let both: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let admitted = live.iter().filter(|r| r.started_at.is_some()).count() as u64;
        assert_eq!(both["baseline"]["totals"]["admitted"], admitted);
        assert_eq!(both["changed"]["pools"][0]["final_size"], 4.0);
        // Straight from the database gives the same baseline.
        let out = qm(&["replay".as_ref(), db.as_os_str()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains(&admitted.to_string()));
    }

    #[test]
    fn bad_inputs_are_refused_with_the_field_named() {
        let dir = fresh_dir("trace-cli-bad");
        let trace = dir.join("t.ron");
        std::fs::write(&trace, sim::trace::to_ron(&small_trace()).unwrap()).unwrap();
        let changes = dir.join("c.ron");
        std::fs::write(&changes, r#"(pools: [(pool: "tpu", size: 2)])"#).unwrap();
        let out = qm(&[
            "replay".as_ref(),
            trace.as_os_str(),
            "--with".as_ref(),
            changes.as_os_str(),
        ]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(
            err.contains("c.ron") && err.contains("pools[0].pool") && err.contains("\"tpu\""),
            "{err}"
        );

        let malformed = dir.join("bad.ron");
        std::fs::write(
            &malformed,
            "(name: \"x\", trace: (arrivals: [(1.0, \"a\", normal)]))",
        )
        .unwrap();
        let out = qm(&["replay".as_ref(), malformed.as_os_str()]);
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("bad.ron:1:"),
            "{}",
            text(&out.stderr)
        );

        let not_a_journal = dir.join("notes.db");
        std::fs::write(
            &not_a_journal,
            "just some text, not SQLite at all ".repeat(200),
        )
        .unwrap();
        let out = qm(&[
            "trace".as_ref(),
            "export".as_ref(),
            not_a_journal.as_os_str(),
        ]);
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("notes.db"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// Work the engine's own timer starts (a token bucket refilling) is the one place a replay
/// cannot repeat to the nanosecond: live it started when the timer's `Wake` ran, a little
/// late; the replay starts it at the instant it was due. Every request still starts, none
/// later than live, and the largest difference is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_on_a_refill_come_no_later_than_live() {
    use quartermaster::model::{Pool, PoolId, PoolKind};
    let dir = fresh_dir("trace-refill");
    let path = dir.join("fleet.db");
    let engine = LiveEngine::open(&path, LiveConfig::default())
        .await
        .unwrap();
    engine
        .add_pool(Pool {
            id: PoolId::new("api"),
            kind: PoolKind::Rate {
                capacity: 1_000.0,
                refill_per_sec: 20_000.0,
                cost_per_1k_units: Money::from_micros(30_000),
            },
            autoscale: None,
        })
        .await
        .unwrap();
    let mut bot = Client::new("bot", Tier::Enterprise);
    bot.credits = Money::from_units(1_000);
    engine.add_client(bot).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..12u64 {
                let mut asked = request("bot", "api", Money::from_micros(20_000));
                asked.needs[0].amount = 600 + 50 * ((w + k) % 3);
                match engine.submit(asked).await.unwrap() {
                    SubmitOutcome::Started { request, .. } => {
                        engine.complete(request, None).await.unwrap();
                    }
                    SubmitOutcome::Refused { refusal, .. } => panic!("refused: {refusal:?}"),
                }
                tokio::time::sleep(Duration::from_millis(1 + (w + k) % 3)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut live = Vec::new();
    let mut id = 0;
    while let Some(record) = engine.request(RequestId(id)).await {
        live.push(record);
        id += 1;
    }
    engine.close().await.unwrap();
    let waited = live
        .iter()
        .filter(|r| r.started_at.is_some_and(|s| s > r.queued_at))
        .count();
    let scenario = tokio::task::spawn_blocking(move || export(&path, &TraceOptions::default()))
        .await
        .unwrap()
        .unwrap()
        .scenario;
    let report = tokio::task::spawn_blocking(move || sim::run(&scenario, &RunOptions::default()))
        .await
        .unwrap()
        .unwrap();
    let mut largest = Duration::ZERO;
    for (record, decided) in live.iter().zip(&report.decisions) {
        let (Some(live_start), Some(replayed)) = (record.started_at, decided.started_at) else {
            panic!("request {} started live and in the replay", record.request);
        };
        assert!(replayed <= live_start, "request {}", record.request);
        largest = largest.max(live_start.since(replayed));
    }
    eprintln!(
        "{} requests, {waited} waited for the refill; largest start difference {:?}",
        live.len(),
        largest
    );
}
