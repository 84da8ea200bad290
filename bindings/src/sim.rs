//! The simulator: scenarios as plain dicts in, reports as JSON text out.

use std::path::PathBuf;

use pyo3::prelude::*;

use quartermaster::live::LiveConfig;
use quartermaster::live::trace::{TraceOptions, export};
use quartermaster::model::Timestamp;
use quartermaster::sim::{self, Changes, RunOptions, Scenario};

use crate::convert::{from_python, serialized, to_json};
use crate::errors::{
    invalid_input, live_error, raise, replay_error, run_error, scenario_error, scenario_problems,
};

/// Reads and validates the scenario file at `path`, as a dict.
#[pyfunction]
pub fn load_scenario<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let scenario = py
        .detach(|| sim::load_file(&path))
        .map_err(scenario_error)?;
    serialized(py, &scenario)
}

/// Parses and validates scenario RON text, as a dict; `origin` names it in messages.
#[pyfunction]
#[pyo3(signature = (text, origin = "<text>"))]
pub fn parse_scenario<'py>(
    py: Python<'py>,
    text: &str,
    origin: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let scenario = sim::parse(text, origin).map_err(scenario_error)?;
    serialized(py, &scenario)
}

/// Checks a scenario dict: raises `ScenarioError` naming every problem.
#[pyfunction]
pub fn check_scenario(scenario: &Bound<'_, PyAny>) -> PyResult<()> {
    validated(scenario).map(drop)
}

/// Runs a scenario dict (with the GIL released) and returns the report as JSON text.
#[pyfunction]
#[pyo3(signature = (scenario, seed = None))]
pub fn run_scenario(
    py: Python<'_>,
    scenario: &Bound<'_, PyAny>,
    seed: Option<u64>,
) -> PyResult<String> {
    let scenario = validated(scenario)?;
    let options = RunOptions {
        seed,
        progress: false,
    };
    let report = py
        .detach(|| sim::run(&scenario, &options))
        .map_err(run_error)?;
    Ok(report.to_json())
}

fn validated(scenario: &Bound<'_, PyAny>) -> PyResult<Scenario> {
    let scenario: Scenario = serde_json::from_value(to_json(scenario)?)
        .map_err(|e| raise("ScenarioError", format!("invalid scenario: {e}")))?;
    let problems = scenario.problems();
    if problems.is_empty() {
        return Ok(scenario);
    }
    Err(scenario_problems(&scenario.name, &problems))
}

/// The recorded traffic of the live database at `path` (journal and trace archive) as a
/// scenario dict with a `trace`; `from_` and `to` (RFC 3339) bound the window, `config` is
/// the settings it was served with.
#[pyfunction]
#[pyo3(signature = (path, from_ = None, to = None, config = None))]
pub fn export_trace<'py>(
    py: Python<'py>,
    path: PathBuf,
    from_: Option<&str>,
    to: Option<&str>,
    config: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let instant = |text: Option<&str>| {
        text.map(Timestamp::parse)
            .transpose()
            .map_err(|e| invalid_input(e.to_string()))
    };
    let config: LiveConfig = match config {
        Some(config) => from_python(config, "config")?,
        None => LiveConfig::default(),
    };
    let options = TraceOptions {
        from: instant(from_)?,
        to: instant(to)?,
        config,
    };
    let exported = py.detach(|| export(&path, &options)).map_err(live_error)?;
    serialized(py, &exported.scenario)
}

/// Reads a changes file (RON) for `replay_trace`, as a dict.
#[pyfunction]
pub fn load_changes<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let changes = Changes::load(&path).map_err(replay_error)?;
    serialized(py, &changes)
}

/// Replays a trace scenario dict as recorded, then with `changes` (a dict) if given, and
/// returns both reports as JSON text: `{"baseline": ..., "changes": ..., "changed": ...}`.
#[pyfunction]
#[pyo3(signature = (scenario, changes = None))]
pub fn replay_trace(
    py: Python<'_>,
    scenario: &Bound<'_, PyAny>,
    changes: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let scenario = validated(scenario)?;
    if scenario.trace.is_none() {
        return Err(raise(
            "ScenarioError",
            format!(
                "scenario {}: not a trace (it has no `trace`)",
                scenario.name
            ),
        ));
    }
    let changes: Option<Changes> = match changes {
        Some(changes) => Some(
            serde_json::from_value(to_json(changes)?)
                .map_err(|e| raise("ScenarioError", format!("invalid changes: {e}")))?,
        ),
        None => None,
    };
    let comparison = py
        .detach(|| sim::replay(&scenario, changes.as_ref(), &RunOptions::default()))
        .map_err(replay_error)?;
    Ok(comparison.to_json())
}
