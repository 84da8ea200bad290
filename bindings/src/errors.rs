//! The one converter from the engine's errors to the Python exceptions of
//! `quartermaster.errors`, where the hierarchy is defined (so a class can also be a
//! `ValueError` or a `LookupError`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use quartermaster::live::LiveError;
use quartermaster::live::vault::VaultError;
use quartermaster::model::ValidationError;
use quartermaster::policy::booking::BookingError;
use quartermaster::policy::reservation::ReserveError;
use quartermaster::sim::{ReplayError, RunError, ScenarioError};

/// The Python exception `class` of `quartermaster.errors` carrying `message`.
pub fn raise(class: &str, message: impl Into<String>) -> PyErr {
    raise_with(class, message, |_| Ok(()))
}

/// Like [`raise`], with attributes set on the exception by `describe`.
fn raise_with(
    class: &str,
    message: impl Into<String>,
    describe: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<()>,
) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let made = py
            .import("quartermaster.errors")
            .and_then(|module| module.getattr(class))
            .and_then(|class| class.call1((message.clone(),)))
            .and_then(|exception| describe(&exception).map(|()| exception));
        match made {
            Ok(exception) => PyErr::from_value(exception),
            Err(e) => PyRuntimeError::new_err(format!(
                "{message} (and quartermaster.errors.{class} is missing: {e})"
            )),
        }
    })
}

/// An exception naming the field, the value and what was expected, as attributes too.
fn invalid(class: &str, message: String, error: &ValidationError) -> PyErr {
    raise_with(class, message, |exception| {
        exception.setattr("field", &error.field)?;
        exception.setattr("value", &error.value)?;
        exception.setattr("expected", &error.expected)
    })
}

pub fn invalid_input(message: impl Into<String>) -> PyErr {
    raise("InvalidInput", message)
}

/// A scenario's problems, also as `problems` (line, column, field, message each) and the
/// first one's `field`.
pub fn scenario_error(e: ScenarioError) -> PyErr {
    let message = e.to_string();
    match e {
        ScenarioError::Invalid { problems, .. } => {
            raise_with("ScenarioError", message, |exception| {
                let py = exception.py();
                let list = pyo3::types::PyList::empty(py);
                for problem in &problems {
                    let item = pyo3::types::PyDict::new(py);
                    item.set_item("line", problem.line)?;
                    item.set_item("column", problem.column)?;
                    item.set_item("field", &problem.field)?;
                    item.set_item("message", &problem.message)?;
                    list.append(item)?;
                }
                exception.setattr("problems", list)?;
                exception.setattr("field", problems.first().map(|p| p.field.clone()))
            })
        }
        ScenarioError::Read { .. } => raise("ScenarioError", message),
    }
}

/// A scenario dict's problems: every one in the message and in `problems` (field and
/// message each), the first one's field, value and expectation as attributes.
pub fn scenario_problems(name: &str, problems: &[ValidationError]) -> PyErr {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    let message = format!(
        "scenario {name}: {} problem(s)\n{}",
        problems.len(),
        lines.join("\n")
    );
    raise_with("ScenarioError", message, |exception| {
        let py = exception.py();
        let list = pyo3::types::PyList::empty(py);
        for problem in problems {
            let item = pyo3::types::PyDict::new(py);
            item.set_item("field", &problem.field)?;
            item.set_item("message", problem.to_string())?;
            list.append(item)?;
        }
        exception.setattr("problems", list)?;
        if let Some(first) = problems.first() {
            exception.setattr("field", &first.field)?;
            exception.setattr("value", &first.value)?;
            exception.setattr("expected", &first.expected)?;
        }
        Ok(())
    })
}

/// Why a replay could not be made: bad changes or trace name the field.
pub fn replay_error(e: ReplayError) -> PyErr {
    let message = e.to_string();
    match e {
        ReplayError::Invalid { error, .. } => invalid("ScenarioError", message, &error),
        ReplayError::Scenario(e) => scenario_error(e),
        ReplayError::Run(e) => run_error(e),
        ReplayError::Read { .. } | ReplayError::Syntax { .. } => raise("ScenarioError", message),
    }
}

pub fn run_error(e: RunError) -> PyErr {
    let message = e.to_string();
    match &e {
        RunError::Invalid(error) => invalid("ScenarioError", message, error),
        _ => raise("QuartermasterError", message),
    }
}

pub fn live_error(e: LiveError) -> PyErr {
    let class = match &e {
        LiveError::Invalid(_) | LiveError::Cost(_) => "InvalidInput",
        LiveError::Store(_) | LiveError::Replay { .. } => "StorageError",
        LiveError::Credit(budget) => match budget {
            ReserveError::InsufficientCredit { .. } => "BudgetExceeded",
            ReserveError::UnknownClient(_) | ReserveError::UnknownReservation(_) => "NotFound",
            ReserveError::Unestimated | ReserveError::Invalid(_) => "InvalidInput",
            ReserveError::SameAccount(_) => "InvalidInput",
            ReserveError::AccountBusy { .. } => "InUse",
            ReserveError::AccountExists(_) | ReserveError::NotActive { .. } => "QuartermasterError",
        },
        LiveError::Booking(booking) => match booking {
            BookingError::Conflict { .. } => "BookingConflict",
            BookingError::UnknownBooking(_) | BookingError::UnknownResource(_) => "NotFound",
            _ => "InvalidInput",
        },
        LiveError::Unknown { .. } => "NotFound",
        LiveError::InUse(_) => "InUse",
        LiveError::QuotaExceeded(_) => "QuotaExceeded",
        LiveError::Stopped(_) => "QuartermasterError",
    };
    match &e {
        LiveError::Invalid(error) | LiveError::Credit(ReserveError::Invalid(error)) => {
            invalid(class, e.to_string(), error)
        }
        _ => raise(class, e.to_string()),
    }
}

pub fn vault_error(e: VaultError) -> PyErr {
    let class = match &e {
        VaultError::MalformedKey { .. } | VaultError::WrongKey { .. } => "VaultKeyError",
        VaultError::UnknownCredential { .. } => "NotFound",
        VaultError::Invalid(_) => "InvalidInput",
        VaultError::Randomness(_) => "QuartermasterError",
        _ => "StorageError",
    };
    raise(class, e.to_string())
}
