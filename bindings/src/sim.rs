//! The simulator: scenarios as plain dicts in, reports as JSON text out.

use std::path::PathBuf;

use pyo3::prelude::*;

use quartermaster::sim::{self, RunOptions, Scenario};

use crate::convert::{serialized, to_json};
use crate::errors::{raise, run_error, scenario_error, scenario_problems};

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
