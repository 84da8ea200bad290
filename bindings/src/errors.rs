//! The one converter from the engine's errors to the Python exceptions of
//! `quartermaster.errors`, where the hierarchy is defined (so a class can also be a
//! `ValueError` or a `LookupError`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use quartermaster::live::LiveError;
use quartermaster::live::vault::VaultError;
use quartermaster::policy::booking::BookingError;
use quartermaster::policy::reservation::ReserveError;
use quartermaster::sim::{RunError, ScenarioError};

/// The Python exception `class` of `quartermaster.errors` carrying `message`.
pub fn raise(class: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let made = py
            .import("quartermaster.errors")
            .and_then(|module| module.getattr(class))
            .and_then(|class| class.call1((message.clone(),)));
        match made {
            Ok(exception) => PyErr::from_value(exception),
            Err(e) => PyRuntimeError::new_err(format!(
                "{message} (and quartermaster.errors.{class} is missing: {e})"
            )),
        }
    })
}

pub fn invalid_input(message: impl Into<String>) -> PyErr {
    raise("InvalidInput", message)
}

pub fn scenario_error(e: ScenarioError) -> PyErr {
    raise("ScenarioError", e.to_string())
}

pub fn run_error(e: RunError) -> PyErr {
    match e {
        RunError::Invalid(_) => raise("ScenarioError", e.to_string()),
        _ => raise("QuartermasterError", e.to_string()),
    }
}

pub fn live_error(e: LiveError) -> PyErr {
    let class = match &e {
        LiveError::Invalid(_) | LiveError::Cost(_) => "InvalidInput",
        LiveError::Store(_) | LiveError::Replay { .. } => "StorageError",
        LiveError::Budget(budget) => match budget {
            ReserveError::InsufficientCredit { .. } => "BudgetExceeded",
            ReserveError::UnknownClient(_) | ReserveError::UnknownReservation(_) => "NotFound",
            ReserveError::Unestimated | ReserveError::Invalid(_) => "InvalidInput",
            ReserveError::AccountExists(_) | ReserveError::NotActive { .. } => "QuartermasterError",
        },
        LiveError::Booking(booking) => match booking {
            BookingError::Conflict { .. } => "BookingConflict",
            BookingError::UnknownBooking(_) | BookingError::UnknownResource(_) => "NotFound",
            _ => "InvalidInput",
        },
        LiveError::Unknown { .. } => "NotFound",
        LiveError::Stopped(_) => "QuartermasterError",
    };
    raise(class, e.to_string())
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
