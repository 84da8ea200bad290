//! The live engine: the simulator's actors on the wall clock, every change logged to
//! SQLite before it is acknowledged, state rebuilt by replaying the log on open; and the
//! credentials vault beside it in the same database file.

pub mod archive;
mod command;
mod driver;
mod engine;
mod journal;
mod lease;
#[cfg(feature = "server")]
pub mod server;
mod snapshot;
mod storage;
pub mod trace;
pub mod vault;

pub use command::Command;
pub use engine::{
    ConfigFileError, Health, LiveConfig, LiveEngine, LiveError, NewCostEntry, RequestRecord,
    RequestState, SubmitOutcome,
};
pub use journal::{
    COMMIT_BUCKETS, CommitTimes, Compaction, DbInfo, Location, SnapshotInfo, StoreError, info,
    vacuum,
};
pub use lease::{LeaseConfig, LeaseExpiry};
pub use snapshot::EngineImage;
pub use storage::StorageConfig;
