//! The actors: thin owners of state that speak in typed messages. The same actors serve
//! the simulator (on a virtual clock) and the live engine (on the wall clock); none of them
//! knows which.
//!
//! Message flow per request, chosen to pay as few mailbox round trips as the model needs:
//! the driver sends `Submit` and later `Finish` to the scheduler (two round trips); the
//! scheduler admits through its gate in the same handler (pools, quotas and credit taken in
//! one atomic step) and tells the client and ledger actors what happened fire-and-forget.

mod booking;
mod client;
mod fleet;
mod ledger;
mod monitor;
mod pool;
mod scheduler;

pub use booking::{
    Book, BookingActor, BookingSummary, CancelBooking, CancelClientBookings, CompleteBooking,
    GetBookingSummary, ListBookings, PendingBookings, RegisterResource, RemoveResource,
    ResourceUse,
};
pub use client::{
    ClassStats as ClientStatsClass, ClientActor, ClientOutcome, ClientStats, GetClientStats,
};
pub use fleet::{Fleet, FleetError, FleetImage, FleetSetup, RemoveError, budget_quota};
pub use ledger::{Charge, GetCostSeries, GetLedger, LedgerActor, LedgerView, Publish};
pub use monitor::{
    AlertSummary, GetAlertSummary, GetAlerts, GetSeries, MonitorActor, PoolSeries, ReadSeries,
    Sample, Tick, Watch,
};
pub use pool::{GetPoolHistory, PoolActor, PoolCommand, PoolHistory, ScalingEvent};
pub use scheduler::{
    ActiveReservations, CloseClient, Consume, ConsumeError, Consumed, GetQuotaStandings,
    GetReservation, QuotaStanding, RemoveQuota, belongs_to,
};
pub use scheduler::{
    AddBatchRule, AddClient, AddPool, CancelRequest, CheckQuota, CheckQuotas, CreditOp,
    CreditReply, GetAccount, QueueStatus, QueueStatusReply, QuotaAnswer, QuotaOp, SetQuota,
};
pub use scheduler::{
    BatchMember, Batching, ClientSetup, Completion, Dispatched, Dispatches, Finish, FormedBatch,
    Job, JobVariant, PoolChange, SchedulerActor, SetClientActive, Settled, Snapshot, Submit,
    TakeSnapshot, Wake, Withdrawn,
};
