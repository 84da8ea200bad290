//! What can stop a run.

use actix::MailboxError;

use crate::actors::FleetError;
use crate::model::ValidationError;
use crate::policy::booking::BookingError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the scenario is invalid: {0}")]
    Invalid(#[from] ValidationError),
    #[error("an actor stopped unexpectedly: {0}")]
    Mailbox(#[from] MailboxError),
    #[error("the actor system failed: {0}")]
    System(String),
    #[error("a booking step failed unexpectedly: {0}")]
    Booking(#[from] BookingError),
    #[error("the fleet refused a step of the scenario: {0}")]
    Fleet(String),
}

impl From<FleetError> for RunError {
    fn from(error: FleetError) -> Self {
        match error {
            FleetError::Invalid(e) => RunError::Invalid(e),
            FleetError::Stopped(e) => RunError::Mailbox(e),
            other => RunError::Fleet(other.to_string()),
        }
    }
}
