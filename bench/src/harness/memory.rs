//! Peak resident memory of a replay, each measured in a child process of its own so one
//! measurement's heap does not count in the next.

use std::process::Command;

use quartermaster::sim::{self, RunOptions};

use super::machine::field;
use super::scenarios;

/// The flag that makes `qm-bench` the child: replay the all-queued scenario of this many
/// requests and print its peak resident memory in bytes.
pub const CHILD_FLAG: &str = "--peak-rss-child";

/// In the child: replays and returns (peak resident bytes, requests still queued).
pub fn replay_and_read_peak(requests: u64) -> Result<(u64, usize), String> {
    let scenario = scenarios::all_queued(requests).map_err(|e| e.to_string())?;
    let report = sim::run(&scenario, &RunOptions::default()).map_err(|e| e.to_string())?;
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let kib: u64 = field(&status, "VmHWM")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or("/proc/self/status has no VmHWM line")?;
    Ok((kib * 1024, report.still_queued))
}

/// In the parent: runs this executable as the child and reads what it prints.
pub fn peak_in_child(requests: u64) -> Result<(u64, usize), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find qm-bench itself: {e}"))?;
    let output = Command::new(&exe)
        .args([CHILD_FLAG, &requests.to_string()])
        .output()
        .map_err(|e| format!("{} did not start: {e}", exe.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the memory child failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut words = text.split_whitespace().map(str::parse);
    match (words.next(), words.next()) {
        (Some(Ok(bytes)), Some(Ok(queued))) => Ok((bytes, queued as usize)),
        _ => Err(format!(
            "the memory child printed {text:?}, not two numbers"
        )),
    }
}
