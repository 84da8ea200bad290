//! The `qm-bench` binary as `qm bench` runs it.

use std::process::Command;

/// The memory child replays its burst and reports a peak and every request but the
/// running one still queued.
#[test]
fn the_memory_child_reports_its_peak_and_the_queue() {
    let output = Command::new(env!("CARGO_BIN_EXE_qm-bench"))
        .args(["--peak-rss-child", "2000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let numbers: Vec<u64> = text
        .split_whitespace()
        .map(|word| word.parse().unwrap())
        .collect();
    let [peak_bytes, queued] = numbers[..] else {
        panic!("expected two numbers, got {text:?}");
    };
    assert!(peak_bytes > 1024 * 1024, "a peak of {peak_bytes} bytes");
    assert_eq!(queued, 1_999);
}

/// An unknown flag is refused with clap's message, not a panic.
#[test]
fn an_unknown_flag_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_qm-bench"))
        .arg("--fast")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--fast"));
}
