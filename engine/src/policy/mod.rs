//! Pure, synchronous policies: no clock, no mailbox, no disk. Time comes in as an argument.

pub mod admission;
pub mod alert;
pub mod autoscale;
pub mod batch;
pub mod booking;
pub mod dispatch;
pub mod ledger;
pub mod predictor;
pub mod priority;
pub mod queue;
pub mod quota;
pub mod reservation;
pub mod token_bucket;
