//! The `qm` binary as a user runs it: exit codes, what it prints, the files it writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHORT: &str = r#"// A short replay for the command-line tests.
(
    name: "cli-short",
    seed: 1,
    start: "2026-01-05T00:00:00Z",
    duration_secs: 300,
    pools: [(id: "gpus", kind: slot(slots: 4, cost_per_hour: 2.5))],
    clients: [(id: "bot", tier: standard)],
    workloads: [(
        client: "bot",
        arrivals: poisson(rate_per_sec: 2),
        kinds: [(name: "job", class: normal, needs: [(pool: "gpus", amount: constant(1))], service_secs: exponential(mean: 1.5))],
    )],
)
"#;

/// A fresh folder of its own under the system's temp dir, named for the test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qm-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn qm(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(args)
        .output()
        .expect("the qm binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn run_prints_the_summary_and_writes_json_and_csv() {
    let dir = scratch("run");
    let scenario = write(&dir, "short.ron", SHORT);
    let json = dir.join("report.json");
    let csv = dir.join("series");
    let out = qm(&[
        "run".as_ref(),
        scenario.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
        "--csv".as_ref(),
        csv.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Scenario cli-short (seed 1)"), "{stdout}");
    assert!(stdout.contains("gpus"), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["scenario"], "cli-short");
    let submitted = report["totals"]["submitted"].as_u64().unwrap();
    assert!(submitted > 400, "{submitted} submitted");
    assert_eq!(report["totals"]["completed"].as_u64(), Some(submitted));

    let series = std::fs::read_to_string(csv.join("series.csv")).unwrap();
    let mut lines = series.lines();
    assert_eq!(
        lines.next(),
        Some("at_secs,queued,running,spent,gpus_utilisation,gpus_size,gpus_predicted")
    );
    let rows: Vec<&str> = lines.collect();
    // A sample every 10 s over the 300 s of arrivals, and more while the queue drains.
    assert!(rows.len() >= 30, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.split(',').count() == 7), "{series}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_reports_each_problem_at_its_line_and_column() {
    let dir = scratch("check");
    let good = write(&dir, "good.ron", SHORT);
    let out = qm(&["check".as_ref(), good.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok (1 pools, 1 clients, 1 workloads)"));

    let broken_text = SHORT
        .replace("slots: 4", "slots: 0")
        .replace("tier: standard", "tier: gold");
    let broken = write(&dir, "broken.ron", &broken_text);
    let out = qm(&["check".as_ref(), broken.as_os_str()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    // Reading stops at the first error in the RON itself: the unknown tier.
    let (line, column) = position_of(&broken_text, "gold");
    let place = format!("{}:{line}:{column}: ", broken.display());
    assert!(stderr.contains(&place), "{place} not in:\n{stderr}");
    assert!(stderr.contains("`gold`"), "{stderr}");

    let semantic_text = SHORT.replace("slots: 4", "slots: 0");
    let semantic = write(&dir, "semantic.ron", &semantic_text);
    let out = qm(&["check".as_ref(), semantic.as_os_str()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let (line, column) = position_of(&semantic_text, "slots: 0");
    let place = format!("{}:{line}:{column}: ", semantic.display());
    assert!(stderr.contains(&place), "{place} not in:\n{stderr}");
    assert!(stderr.contains("slots"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_of_a_missing_file_fails_with_a_clear_message() {
    let dir = scratch("missing");
    let missing = dir.join("nowhere.ron");
    let out = qm(&["run".as_ref(), missing.as_os_str()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot read scenario {}", missing.display())),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1-based line and column of the first occurrence of `needle`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("the needle is in the text");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = at - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, column)
}

/// `qm db info` shows the journal, snapshots and archive; `qm db compact` snapshots, moves
/// the journal into the archive and vacuums; both refuse a foreign file untouched.
#[test]
fn db_info_and_compact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = quartermaster::live::LiveConfig {
            storage: quartermaster::live::StorageConfig {
                snapshot_every_commands: 0,
                snapshot_every_secs: 0.0,
                snapshot_on_close: false,
                ..Default::default()
            },
            ..Default::default()
        };
        let engine = quartermaster::live::LiveEngine::open(&db, config)
            .await
            .unwrap();
        engine
            .add_pool(crate::live::slot_pool("gpu", 2))
            .await
            .unwrap();
        let mut client =
            quartermaster::model::Client::new("alice", quartermaster::model::Tier::Premium);
        client.credits = quartermaster::model::Money::from_units(100);
        engine.add_client(client).await.unwrap();
        for _ in 0..30 {
            let request = crate::live::request(
                "alice",
                "gpu",
                quartermaster::model::Money::from_micros(10_000),
            );
            let (id, _) = engine.enqueue(request).await.unwrap();
            engine.complete(id, None).await.unwrap();
        }
    });

    let info = qm(&["db".as_ref(), "info".as_ref(), db.as_os_str()]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{info:?}");
    assert!(text.contains("schema 2"), "{text}");
    assert!(text.contains("snapshots: none"), "{text}");
    assert!(text.contains("commands (1 to "), "{text}");

    let compact = qm(&["db".as_ref(), "compact".as_ref(), db.as_os_str()]);
    let said = String::from_utf8_lossy(&compact.stdout);
    assert!(compact.status.success(), "{compact:?}");
    assert!(said.contains("snapshot at command"), "{said}");

    let info = qm(&[
        "db".as_ref(),
        "info".as_ref(),
        "--json".as_ref(),
        db.as_os_str(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["snapshots"].as_array().unwrap().len(), 1);
    let covers = json["snapshots"][0]["covers"].as_i64().unwrap();
    assert!(covers >= 62, "{json}");

    // A second compaction covers the first snapshot's commands: they move to the archive.
    let again = qm(&["db".as_ref(), "compact".as_ref(), db.as_os_str()]);
    assert!(again.status.success(), "{again:?}");
    let info = qm(&[
        "db".as_ref(),
        "info".as_ref(),
        "--json".as_ref(),
        db.as_os_str(),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["journal_commands"], 0, "{json}");
    assert_eq!(json["archive"]["commands"].as_i64(), Some(covers), "{json}");

    let foreign = dir.path().join("notes.db");
    std::fs::write(&foreign, b"not a database at all, just text").unwrap();
    let before = std::fs::read(&foreign).unwrap();
    for verb in ["info", "compact"] {
        let out = qm(&["db".as_ref(), verb.as_ref(), foreign.as_os_str()]);
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("notes.db"), "{verb}: {said}");
    }
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
}

/// An overloaded scenario (100 arrivals/s into one server for 100,000 s) is estimated by
/// `qm check` and refused by `qm run`, naming the pool and what to change; `--force`
/// overrides, and a lower `--limit-requests` refuses an ordinary run.
#[test]
fn qm_run_refuses_a_run_past_its_estimate_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let overloaded = dir.path().join("overloaded.ron");
    std::fs::write(
        &overloaded,
        r#"(
            name: "overloaded", start: "2026-01-05T00:00:00Z", duration_secs: 100000,
            pools: [(id: "server", kind: slot(slots: 1, cost_per_hour: 1))],
            clients: [(id: "c", tier: enterprise)],
            workloads: [(client: "c", arrivals: poisson(rate_per_sec: 100),
                kinds: [(name: "k", class: normal, needs: [(pool: "server", amount: constant(1))],
                         service_secs: exponential(mean: 1))])],
        )"#,
    )
    .unwrap();
    let check = qm(&["check".as_ref(), overloaded.as_os_str()]);
    assert!(check.status.success());
    let said = text(&check.stdout);
    assert!(
        said.contains("estimate: about 10,000,000 requests, peak queue about 9,900,000"),
        "{said}"
    );
    assert!(said.contains("warning: the run would need about"), "{said}");

    let refused = qm(&["run".as_ref(), overloaded.as_os_str()]);
    assert_eq!(refused.status.code(), Some(2));
    let said = text(&refused.stderr);
    assert!(
        said.contains("pool server is offered 100.0x what it can serve"),
        "{said}"
    );
    assert!(said.contains("--force"), "{said}");
    assert!(refused.stdout.is_empty());

    let short = dir.path().join("short.ron");
    std::fs::write(&short, SHORT).unwrap();
    let run = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), short.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        qm(&args)
    };
    let limited = run(&["--limit-requests", "100"]);
    assert_eq!(limited.status.code(), Some(2));
    let said = text(&limited.stderr);
    assert!(
        said.contains("about 600 requests would arrive (limit 100)"),
        "{said}"
    );
    let forced = run(&["--limit-requests", "100", "--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
}
