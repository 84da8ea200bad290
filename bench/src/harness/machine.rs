//! The machine and the versions a report was measured with.

use std::process::Command;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub os: String,
    pub rustc: String,
    pub quartermaster: String,
}

impl Machine {
    /// What `/proc` and `rustc --version` say; "unknown" for what they do not.
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned()),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            os: std::env::consts::OS.to_owned(),
            rustc: Command::new("rustc")
                .arg("--version")
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map_or_else(
                    || "unknown".to_owned(),
                    |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                ),
            quartermaster: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The value of the first `name: value` line of a `/proc` file.
pub fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proc_field_is_found_by_its_name() {
        let text = "VmPeak:\t  2000 kB\nVmHWM:\t  1234 kB\n";
        assert_eq!(field(text, "VmHWM").as_deref(), Some("1234 kB"));
        assert_eq!(field(text, "VmRSS"), None);
    }
}
