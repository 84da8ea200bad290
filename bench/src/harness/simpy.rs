//! The SimPy baselines: `bench/simpy/*.py` run by a Python that can import SimPy.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// A Python interpreter that imports SimPy, and SimPy's version.
#[derive(Debug, Clone)]
pub struct Python {
    pub interpreter: PathBuf,
    pub simpy_version: String,
}

/// The project's `.venv` first, then `python3` from the path; why each failed when neither
/// imports SimPy.
pub fn find_python(root: &Path) -> Result<Python, String> {
    let candidates = [root.join(".venv/bin/python"), PathBuf::from("python3")];
    let mut reasons = Vec::new();
    for interpreter in candidates {
        let output = Command::new(&interpreter)
            .args(["-c", "import simpy; print(simpy.__version__)"])
            .output();
        match output {
            Ok(out) if out.status.success() => {
                return Ok(Python {
                    interpreter,
                    simpy_version: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                });
            }
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr.lines().last().unwrap_or("no message").to_owned();
                reasons.push(format!(
                    "{} cannot import simpy: {last}",
                    interpreter.display()
                ));
            }
            Err(e) => reasons.push(format!("{} did not start: {e}", interpreter.display())),
        }
    }
    Err(format!(
        "{} (install it with `.venv/bin/pip install simpy`)",
        reasons.join("; ")
    ))
}

/// What a script prints: the fields both scripts share, and the priority script's extras.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SimpyRun {
    pub customers: u64,
    pub customers_per_sec: f64,
    pub mean_wait: f64,
    #[serde(default)]
    pub mean_wait_urgent: Option<f64>,
    #[serde(default)]
    pub mean_wait_normal: Option<f64>,
}

/// Runs `script` (relative to the root) with `args`, and reads its JSON line.
pub fn run_script(
    python: &Python,
    root: &Path,
    script: &str,
    args: &[String],
) -> Result<SimpyRun, String> {
    let path = root.join(script);
    let output = Command::new(&python.interpreter)
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("{} did not start: {e}", python.interpreter.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "{} printed {:?}, not the expected JSON: {e}",
            path.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
