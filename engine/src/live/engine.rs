//! `LiveEngine`: an embeddable, durable scheduler.
//!
//! The actors run on their own thread (an actix system), assembled as one `Fleet`, the
//! same the simulator drives. Every change goes through one sequencer: it stamps the
//! command with the time, applies it through the fleet, appends it to the journal, and
//! lets the next caller in; the caller then waits until its command is on disk (many
//! callers share one commit). Reads skip the journal. On the wall clock the engine wakes
//! itself when queued work may start and ticks the monitor on its sampling interval, each
//! a journaled command like any other, so a replay repeats every decision.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{Mutex, broadcast, oneshot};

use super::command::Command;
use super::driver::{Driver, Reply};
use super::journal::{self, CommitTimes, Compaction, Journal, Location, SnapshotRow, StoreError};
use super::lease::LeaseConfig;
use super::snapshot::{self, EngineImage};
use super::storage::StorageConfig;
use crate::actors::{
    AlertSummary, CheckQuota, CheckQuotas, ClientStats, ConsumeError, Consumed, CreditReply, Fleet,
    FleetError, FleetSetup, GetAlertSummary, GetAlerts, GetClientStats, GetCostSeries, GetLedger,
    GetQuotaStandings, ListBookings, MonitorActor, PoolHistory, QueueStatus, QueueStatusReply,
    QuotaAnswer, QuotaStanding, RemoveError, Sample, SchedulerActor, Snapshot, TakeSnapshot,
};
use crate::clock::{Clock, SharedClock, VirtualClock, WallClock};
use crate::config::{MonitorConfig, MonitorSettings, SchedulerConfig, SchedulerSettings};
use crate::model::{
    Alert, Client, ClientId, CostEntry, CostType, Event, EventKind, Metadata, Metric, Money, Need,
    Pool, PoolId, Quota, QuotaId, Request, RequestClass, RequestId, ReservationId, Timestamp,
    Usage, ValidationError,
};
use crate::model::{Booking, BookingId, Resource, ResourceId};
use crate::policy::admission::Refusal;
use crate::policy::alert::AlertFilter;
use crate::policy::booking::{BookingError, BookingFilter};
use crate::policy::ledger::{CostFilter, CostSummary, LedgerError};
use crate::policy::reservation::{
    AccountBalance, ReservationAlert, ReservationGrant, ReserveError, Settlement,
};

/// How long a health check waits for the journal writer (a commit stuck on a locked or
/// slow disk holds it).
const HEALTH_WAIT: Duration = Duration::from_secs(3);

/// The engine's answer to a health check: each part `Ok` or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub journal_writer: Result<(), String>,
    pub database: Result<(), String>,
    /// Why the latest journal commit failed, if it did (a later probe may pass).
    pub last_commit_error: Option<String>,
}

impl Health {
    pub fn is_ready(&self) -> bool {
        self.journal_writer.is_ok() && self.database.is_ok()
    }
}

/// Monitor samples a live engine keeps (a day at the default ten-second interval).
const SAMPLES_KEPT: usize = 8_640;

/// How the live engine schedules, samples and stores: the same `scheduler` and `monitor`
/// settings as a scenario, checked the same way.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Scheduler weights, aging, starvation bound, off-peak hours, downgrade, reservations.
    pub scheduler: SchedulerConfig,
    /// Sampling interval, forecast window and horizon, autoscaling thresholds and timings.
    pub monitor: MonitorConfig,
    /// Commit each change on its own instead of batching concurrent ones (slower; for
    /// measuring what group commit buys).
    pub no_group_commit: bool,
    /// Snapshots, compaction and the trace archive.
    pub storage: StorageConfig,
    /// Leases on started requests: the default length, and what expiry does.
    pub leases: LeaseConfig,
}

impl LiveConfig {
    /// The first problem with these settings, if any: the same error a scenario with the
    /// same `scheduler` or `monitor` gets.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.scheduler.validate()?;
        self.monitor.validate()?;
        self.storage.validate()?;
        self.leases.validate()
    }

    /// Reads settings from a file: JSON if its name ends in `.json`, RON otherwise (as a
    /// scenario writes its `scheduler` and `monitor`), then checks them.
    pub fn load(path: &Path) -> Result<LiveConfig, ConfigFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let config: LiveConfig = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| ConfigFileError::Syntax {
                path: shown.clone(),
                detail: e.to_string(),
            })?
        } else {
            ron::Options::default()
                .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
                .from_str(&text)
                .map_err(|e| ConfigFileError::Syntax {
                    path: shown.clone(),
                    detail: e.to_string(),
                })?
        };
        config
            .validate()
            .map_err(|error| ConfigFileError::Invalid { path: shown, error })?;
        Ok(config)
    }
}

/// Why a settings file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid settings: {detail}")]
    Syntax { path: String, detail: String },
    #[error("{path}: {error}")]
    Invalid {
        path: String,
        error: ValidationError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credit(#[from] ReserveError),
    #[error(transparent)]
    Cost(#[from] LedgerError),
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error("unknown {kind} {id:?}")]
    Unknown { kind: &'static str, id: String },
    /// Removing something still in use (nothing was changed).
    #[error("{0}")]
    InUse(String),
    /// A hard quota refused usage counted directly (nothing was counted).
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("the engine has stopped: {0}")]
    Stopped(String),
    #[error("replaying the journal failed at entry {seq}: {detail}")]
    Replay { seq: i64, detail: String },
}

impl From<MailboxError> for LiveError {
    fn from(e: MailboxError) -> Self {
        LiveError::Stopped(e.to_string())
    }
}

impl From<RemoveError> for LiveError {
    fn from(e: RemoveError) -> Self {
        match e {
            RemoveError::Fleet(e) => e.into(),
            // What stands in the way, said in the error's own words.
            RemoveError::Credit(e @ ReserveError::AccountBusy { .. }) => {
                LiveError::InUse(e.to_string())
            }
            RemoveError::Credit(e) => e.into(),
            RemoveError::Booking(e @ BookingError::ResourceInUse { .. }) => {
                LiveError::InUse(e.to_string())
            }
            RemoveError::Booking(e) => e.into(),
        }
    }
}

impl From<ConsumeError> for LiveError {
    fn from(e: ConsumeError) -> Self {
        match e {
            ConsumeError::Quota(message) => LiveError::QuotaExceeded(message),
            ConsumeError::Credit(e) => e.into(),
        }
    }
}

impl From<FleetError> for LiveError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::Invalid(e) => LiveError::Invalid(e),
            FleetError::Unknown { kind, id } => LiveError::Unknown { kind, id },
            FleetError::Stopped(e) => e.into(),
        }
    }
}

/// A cost entry to record, with every field the seed's body has.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCostEntry {
    pub client: ClientId,
    pub cost_type: CostType,
    pub category: String,
    pub amount: Money,
    pub metadata: Metadata,
    /// An ISO 4217 code; USD when absent.
    pub currency: Option<String>,
    pub description: String,
}

/// How a submitted request ended its wait.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitOutcome {
    Started {
        request: RequestId,
        /// Started on its cheaper alternative.
        downgraded: bool,
        /// The batch it started in (named by its first member), if it joined one.
        batch: Option<RequestId>,
    },
    Refused {
        request: RequestId,
        refusal: Refusal,
    },
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Queued,
    Running,
    Finished,
    Refused,
    Cancelled,
    /// Started, then neither completed nor renewed within its lease.
    Expired,
}

impl RequestState {
    /// Whether the request is over: finished, refused, cancelled or expired.
    pub fn is_ended(self) -> bool {
        !matches!(self, RequestState::Queued | RequestState::Running)
    }
}

/// What the engine knows of a request: where it stands, when it moved, why it was refused,
/// what it cost.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestRecord {
    pub request: RequestId,
    pub client: ClientId,
    pub class: RequestClass,
    pub state: RequestState,
    pub queued_at: Timestamp,
    pub started_at: Option<Timestamp>,
    /// When it finished, was refused or was cancelled.
    pub ended_at: Option<Timestamp>,
    /// From its submission to its start (or refusal); none while it waits.
    pub waited_secs: Option<f64>,
    pub downgraded: bool,
    /// The batch it started in, named by its first member.
    pub batch: Option<RequestId>,
    /// Why it was refused (`quota`, `credit`, `rate`, `capacity`, `withdrawn`).
    pub reason: Option<String>,
    pub message: Option<String>,
    /// What it was charged when its reservation settled (a batch member: its share).
    pub charged: Option<Money>,
    /// How well its reservation fitted the actual cost (1 is exact).
    pub efficiency: Option<f64>,
    /// Its lease once started: its own, or the engine's default.
    #[serde(default)]
    pub lease_secs: Option<f64>,
    /// When its lease ends unless completed or renewed (while it runs).
    #[serde(default)]
    pub lease_until: Option<Timestamp>,
    /// What it asked of each pool.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// What its cheaper alternative asks, if it has one (held instead when downgraded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<Vec<Need>>,
}

impl RequestRecord {
    pub(super) fn queued(request: &Request, at: Timestamp, lease: Option<f64>) -> RequestRecord {
        RequestRecord {
            request: request.id,
            client: request.client.clone(),
            class: request.class,
            state: RequestState::Queued,
            queued_at: at,
            started_at: None,
            ended_at: None,
            waited_secs: None,
            downgraded: false,
            batch: None,
            reason: None,
            message: None,
            charged: None,
            efficiency: None,
            lease_secs: request.lease_secs.or(lease),
            lease_until: None,
            needs: request.needs.clone(),
            alternative: request.alternative.as_ref().map(|a| a.needs.clone()),
        }
    }

    /// The needs it holds (or will hold): its alternative's once downgraded.
    pub fn held_needs(&self) -> &[Need] {
        match (&self.alternative, self.downgraded) {
            (Some(alternative), true) => alternative,
            _ => &self.needs,
        }
    }
}

struct Inner {
    driver: Mutex<Driver>,
    /// For reads that need no sequencing.
    scheduler: Addr<SchedulerActor>,
    monitor: Addr<MonitorActor>,
    /// The engine's own clock, stepped to `time` by the sequencer (never backwards).
    clock: VirtualClock,
    /// Where time comes from: the wall clock, or a caller's clock.
    time: SharedClock,
    /// Whether the engine wakes and ticks by itself (on the wall clock).
    timers: bool,
    journal: Journal,
    storage: StorageConfig,
    /// When the last snapshot was taken, and whether one is being written.
    snapshots: std::sync::Mutex<SnapshotPace>,
    events: broadcast::Sender<Event>,
    arbiter: ArbiterHandle,
    system: System,
    config: SchedulerSettings,
}

/// When the next snapshot is due.
struct SnapshotPace {
    /// The last command the newest snapshot covers (or that replay started from).
    covers: i64,
    /// The engine's clock at the newest snapshot (or at open).
    at: Timestamp,
    /// A snapshot is being encoded or written: the next waits for it.
    writing: bool,
}

impl SnapshotPace {
    /// Whether command `seq`, applied at `at`, is due a snapshot under `storage`.
    fn due(&self, storage: &StorageConfig, seq: i64, at: Timestamp) -> bool {
        let by_count = storage.snapshot_every_commands > 0
            && (seq - self.covers) as u64 >= storage.snapshot_every_commands;
        let by_time = storage
            .every()
            .is_some_and(|every| at.since(self.at) >= every);
        by_count || by_time
    }

    /// Marks a snapshot as being written, unless one already is.
    fn claim(&mut self) -> bool {
        !std::mem::replace(&mut self.writing, true)
    }

    /// A snapshot attempt ended: a written one restarts the pace.
    fn finish(&mut self, covers: i64, at: Timestamp, written: bool) {
        self.writing = false;
        if written && covers > self.covers {
            self.covers = covers;
            self.at = at;
        }
    }
}

/// An embedded, durable Quartermaster. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct LiveEngine {
    inner: Arc<Inner>,
}

impl LiveEngine {
    /// Opens (or creates) the database at `path`, and rebuilds the engine's state from it.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), quartermaster::live::LiveError> {
    /// use quartermaster::live::{LiveConfig, LiveEngine};
    /// let engine = LiveEngine::open("fleet.db", LiveConfig::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open(path: impl AsRef<Path>, config: LiveConfig) -> Result<LiveEngine, LiveError> {
        let location = Location::File(path.as_ref().to_owned());
        Self::open_at(location, config, Arc::new(WallClock), true).await
    }

    /// An engine whose state lives only in memory. For tests: nothing survives it.
    pub async fn open_in_memory(config: LiveConfig) -> Result<LiveEngine, LiveError> {
        Self::open_at(Location::Memory, config, Arc::new(WallClock), true).await
    }

    /// An in-memory engine on a clock of the caller's: time moves only as that clock
    /// does, and nothing happens by itself (no timed wake, no monitor tick); the caller
    /// calls [`LiveEngine::wake`] and [`LiveEngine::tick`]. For tests and for comparing
    /// the engine with the simulator step by step.
    pub async fn open_in_memory_on(
        config: LiveConfig,
        clock: SharedClock,
    ) -> Result<LiveEngine, LiveError> {
        Self::open_at(Location::Memory, config, clock, false).await
    }

    /// A database file on a clock of the caller's, with nothing happening by itself (as
    /// [`LiveEngine::open_in_memory_on`]): for tests of what survives a reopen.
    pub async fn open_on(
        path: impl AsRef<Path>,
        config: LiveConfig,
        clock: SharedClock,
    ) -> Result<LiveEngine, LiveError> {
        let location = Location::File(path.as_ref().to_owned());
        Self::open_at(location, config, clock, false).await
    }

    async fn open_at(
        location: Location,
        config: LiveConfig,
        time: SharedClock,
        timers: bool,
    ) -> Result<LiveEngine, LiveError> {
        config.storage.validate()?;
        config.leases.validate()?;
        let scheduler = SchedulerSettings::try_from(&config.scheduler)?;
        let monitor = MonitorSettings::try_from(&config.monitor)?;
        let sample_every = monitor.sample_every;
        let (journal, stored) = journal::open(
            &location,
            !config.no_group_commit,
            config.storage.archive_settings(),
        )?;
        let (events, _) = broadcast::channel(4096);
        let setup = FleetSetup {
            // Replaced below: the fleet's clock is the driver's.
            clock: Arc::new(VirtualClock::starting_at(Timestamp::EPOCH)),
            scheduler: scheduler.clone(),
            monitor,
            events_kept: 0,
            samples_kept: SAMPLES_KEPT,
            subscribers: Some(events.clone()),
            request_events: true,
            settlements: false,
        };
        let (system, arbiter) = start_system()?;
        let (driver, covers, entries) = Self::rebuild(stored, setup, &config, &arbiter).await?;
        let clock = driver.clock.clone();
        let opened_at = time.now();
        let inner = Arc::new(Inner {
            scheduler: driver.fleet.scheduler().clone(),
            monitor: driver.fleet.monitor().clone(),
            clock: clock.clone(),
            time,
            timers,
            snapshots: std::sync::Mutex::new(SnapshotPace {
                covers,
                // The interval runs from the open, not from the instant the state is of.
                at: opened_at,
                writing: false,
            }),
            driver: Mutex::new(driver),
            journal,
            storage: config.storage,
            events,
            arbiter,
            system,
            config: scheduler,
        });
        let engine = LiveEngine { inner };
        engine.replay(entries).await?;
        if timers {
            engine.start_ticking(sample_every);
        }
        Ok(engine)
    }

    /// The driver as the newest usable snapshot left it (or fresh), with the commands to
    /// replay after it and the last command it covers.
    async fn rebuild(
        stored: journal::Stored,
        mut setup: FleetSetup,
        config: &LiveConfig,
        arbiter: &ArbiterHandle,
    ) -> Result<(Driver, i64, Vec<journal::Entry>), LiveError> {
        let mut refused = None;
        for candidate in &stored.snapshots {
            match snapshot::decode(candidate) {
                Ok(image) => {
                    let covers = candidate.covers;
                    let entries: Vec<_> = stored
                        .entries
                        .into_iter()
                        .filter(|e| e.seq > covers)
                        .collect();
                    if let Some(first) = entries.first()
                        && first.seq != covers + 1
                    {
                        return Err(StoreError::BadEntry {
                            seq: first.seq,
                            detail: format!(
                                "the snapshot covers up to command {covers}, but the journal resumes at {}",
                                first.seq
                            ),
                        }
                        .into());
                    }
                    let EngineImage { at, driver, fleet } = image;
                    let clock = VirtualClock::starting_at(at);
                    setup.clock = Arc::new(clock.clone());
                    let fleet = Fleet::restore(setup, arbiter, fleet)?;
                    tracing::info!(covers, "state loaded from a snapshot");
                    let driver = Driver::restore(clock, fleet, config, driver);
                    return Ok((driver, covers, entries));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot skipped");
                    refused.get_or_insert(e);
                }
            }
        }
        // No usable snapshot: the journal must still hold every command from the first.
        if let Some(first) = stored.entries.first().map(|e| e.seq)
            && first != 1
        {
            return Err(refused.unwrap_or(StoreError::NoStart { first }).into());
        }
        if let Some(e) = refused
            && stored.entries.is_empty()
        {
            return Err(e.into());
        }
        // The actors are built at a fixed instant, fresh or replaying, so anything they
        // derive from their start (the queue's score origin) is the same both times and a
        // replay repeats every decision exactly.
        let clock = VirtualClock::starting_at(Timestamp::EPOCH);
        setup.clock = Arc::new(clock.clone());
        let fleet = Fleet::start(setup, arbiter)?;
        Ok((Driver::new(clock, fleet, config), 0, stored.entries))
    }

    async fn replay(&self, entries: Vec<journal::Entry>) -> Result<(), LiveError> {
        let mut driver = self.inner.driver.lock().await;
        let count = entries.len();
        for entry in entries {
            driver.clock.advance_to(entry.at);
            driver.applied_at = entry.at;
            // A command that was refused when it was first applied is never logged, so
            // every entry applies; one that does not is a corrupt or foreign journal.
            if let Err(e) = driver.apply(&entry.command).await {
                return Err(LiveError::Replay {
                    seq: entry.seq,
                    detail: e.to_string(),
                });
            }
        }
        // Nobody waits for the outcomes of replayed commands.
        drop(driver.notices.take());
        if count > 0 {
            tracing::info!(commands = count, "state rebuilt from the journal");
        }
        let wake = driver.next_wake();
        drop(driver);
        self.arm_wake(wake);
        Ok(())
    }

    /// Applies a change: stamped, applied, logged, and on disk before this returns.
    async fn execute(&self, command: Command) -> Result<Reply, LiveError> {
        self.sequence(|_| Ok(command)).await
    }

    /// The sequencer: `prepare` builds the command under the lock (a submit takes its id
    /// there), then it is applied, logged, and waited for until durable. Outcomes it
    /// decided for other waiting submitters are told only then.
    async fn sequence(
        &self,
        prepare: impl FnOnce(&mut Driver) -> Result<Command, LiveError>,
    ) -> Result<Reply, LiveError> {
        let (reply, durable, wake, notices, image) = {
            let mut driver = self.inner.driver.lock().await;
            driver.clock.advance_to(self.inner.time.now());
            let command = prepare(&mut driver)?;
            let at = driver.clock.now();
            let applied = driver.apply(&command).await;
            // Outcomes of a command that failed, or could not be logged, are never told.
            let notices = driver.notices.take();
            let reply = match applied {
                Ok(reply) => {
                    driver.applied_at = at;
                    reply
                }
                Err(e) => {
                    if let Command::Submit { request } = &command {
                        driver.waiting.remove(&request.id);
                    }
                    return Err(e);
                }
            };
            let (seq, durable) = self.inner.journal.append(at, &command)?;
            let image = if self.snapshot_due(seq, at) {
                Some(self.image(&driver).await?)
            } else {
                None
            };
            (
                reply,
                durable,
                driver.next_wake(),
                notices,
                image.map(|i| (seq, i)),
            )
        };
        self.arm_wake(wake);
        if let Some((covers, image)) = image {
            // Nobody waits for an automatic snapshot; a failure is logged.
            drop(self.write_in_background(covers, image, false));
        }
        durable.wait().await?;
        notices.send();
        Ok(reply)
    }

    fn pace(&self) -> std::sync::MutexGuard<'_, SnapshotPace> {
        self.inner
            .snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Whether command `seq`, applied at `at`, should be followed by a snapshot; if so,
    /// marks one as being written.
    fn snapshot_due(&self, seq: i64, at: Timestamp) -> bool {
        let mut pace = self.pace();
        pace.due(&self.inner.storage, seq, at) && pace.claim()
    }

    /// The whole engine's state, as of the last command applied.
    async fn image(&self, driver: &Driver) -> Result<EngineImage, LiveError> {
        Ok(EngineImage {
            at: driver.applied_at,
            driver: driver.image(),
            fleet: driver.fleet.save().await?,
        })
    }

    /// Encodes and writes a snapshot off the sequencer (only taking the image held it);
    /// the answer comes when it is written.
    fn write_in_background(
        &self,
        covers: i64,
        image: EngineImage,
        full: bool,
    ) -> oneshot::Receiver<Result<Compaction, LiveError>> {
        let (tell, answer) = oneshot::channel();
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("qm-snapshot".into())
            .spawn(move || {
                let result = write_snapshot(&inner, covers, &image, full);
                if let Err(e) = &result {
                    tracing::error!(error = %e, "snapshot failed");
                }
                inner
                    .snapshots
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .finish(covers, image.at, result.is_ok());
                // Let go of the engine first: a caller that closes it and reopens the file
                // at once must not find it still held.
                drop(inner);
                let _ = tell.send(result);
            });
        if let Err(e) = spawned {
            // The answer's sender is gone with the closure: a waiter hears it stopped.
            tracing::error!(error = %e, "snapshot thread did not start");
            self.pace().finish(covers, Timestamp::EPOCH, false);
        }
        answer
    }

    /// The whole engine's state as of the last command applied: what a snapshot holds.
    /// Two engines that went through the same commands have equal states, however they
    /// got there (uninterrupted, replayed, or loaded from a snapshot and replayed).
    pub async fn state(&self) -> Result<EngineImage, LiveError> {
        let driver = self.inner.driver.lock().await;
        self.image(&driver).await
    }

    /// Takes a snapshot now and compacts the journal behind it, keeping the commands since
    /// the previous snapshot to fall back on; answers what it did. A snapshot being
    /// written by the engine itself is waited for first.
    pub async fn snapshot(&self) -> Result<Compaction, LiveError> {
        self.take_snapshot(false).await
    }

    /// Takes a snapshot now and moves every command it covers out of the journal (into
    /// the archive, when there is one): the smallest database, with nothing older to fall
    /// back on should this snapshot be damaged (`qm db compact`).
    pub async fn compact(&self) -> Result<Compaction, LiveError> {
        self.take_snapshot(true).await
    }

    async fn take_snapshot(&self, full: bool) -> Result<Compaction, LiveError> {
        let (covers, image) = loop {
            let driver = self.inner.driver.lock().await;
            if self.pace().claim() {
                let covers = self.inner.journal.last_seq();
                break (covers, self.image(&driver).await);
            }
            drop(driver);
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let image = match image {
            Ok(image) => image,
            Err(e) => {
                self.pace().finish(covers, Timestamp::EPOCH, false);
                return Err(e);
            }
        };
        self.write_in_background(covers, image, full)
            .await
            .map_err(|_| LiveError::Stopped("the snapshot thread stopped".into()))?
    }

    /// Closes the engine cleanly: a snapshot (unless `storage.snapshot_on_close` is off),
    /// so the next open replays nothing. Other clones stay usable until dropped.
    pub async fn close(self) -> Result<(), LiveError> {
        if self.inner.storage.snapshot_on_close {
            let current = self.inner.journal.last_seq();
            let covered = self.pace().covers;
            if current > covered {
                self.snapshot().await?;
            }
        }
        Ok(())
    }

    /// Makes sure a `Wake` is applied when queued work may start by itself.
    fn arm_wake(&self, at: Option<Timestamp>) {
        let Some(at) = at.filter(|_| self.inner.timers) else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let wait = at.since(self.inner.time.now());
        self.inner.arbiter.spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(inner) = weak.upgrade() else { return };
            let engine = LiveEngine { inner };
            let now = engine.inner.time.now();
            let due = engine
                .inner
                .driver
                .lock()
                .await
                .next_wake()
                .is_some_and(|w| w <= now);
            if due && let Err(e) = engine.execute(Command::Wake).await {
                tracing::warn!(error = %e, "wake failed");
            }
        });
    }

    /// Ticks the monitor every `every` while the engine lives (once it has a pool).
    fn start_ticking(&self, every: Duration) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        self.inner.arbiter.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let engine = LiveEngine { inner };
                if engine.inner.driver.lock().await.fleet.pools().is_empty() {
                    continue;
                }
                if let Err(e) = engine.execute(Command::Tick).await {
                    tracing::warn!(error = %e, "monitor tick failed");
                }
            }
        });
    }

    /// Starts what may start now. The engine does this by itself on the wall clock; an
    /// engine on a caller's clock is woken by its caller.
    pub async fn wake(&self) -> Result<(), LiveError> {
        self.execute(Command::Wake).await.map(drop)
    }

    /// Samples the monitor now: utilisation, forecast, and the autoscalers' resizes. The
    /// engine ticks by itself every `monitor.sample_every_secs` on the wall clock.
    pub async fn tick(&self) -> Result<(), LiveError> {
        self.execute(Command::Tick).await.map(drop)
    }

    // ---- registration -------------------------------------------------------------------

    /// Registers a pool.
    pub async fn add_pool(&self, pool: Pool) -> Result<(), LiveError> {
        pool.validate()?;
        self.execute(Command::AddPool { pool }).await.map(drop)
    }

    /// Resizes a pool: slots of a slot pool, bucket capacity of a rate pool.
    pub async fn resize_pool(&self, pool: &PoolId, size: f64) -> Result<(), LiveError> {
        self.execute(Command::ResizePool {
            pool: pool.clone(),
            size,
        })
        .await
        .map(drop)
    }

    pub async fn set_pool_down(&self, pool: &PoolId, down: bool) -> Result<(), LiveError> {
        self.execute(Command::SetPoolDown {
            pool: pool.clone(),
            down,
        })
        .await
        .map(drop)
    }

    /// New price: per hour for a slot pool, per thousand units for a rate pool.
    pub async fn set_pool_price(&self, pool: &PoolId, price: Money) -> Result<(), LiveError> {
        self.execute(Command::SetPoolPrice {
            pool: pool.clone(),
            price,
        })
        .await
        .map(drop)
    }

    /// Registers a client with its opening credit and its monthly budget (its own, or its
    /// tier's default), which becomes the hard monthly cost quota `budget:<id>`.
    pub async fn add_client(&self, client: Client) -> Result<(), LiveError> {
        client.validate()?;
        self.execute(Command::AddClient { client }).await.map(drop)
    }

    /// A client joins (`active`) or leaves: leaving refuses its queued and held requests
    /// (reason `withdrawn`) and any new one until it joins again.
    pub async fn set_client_active(
        &self,
        client: &ClientId,
        active: bool,
    ) -> Result<(), LiveError> {
        self.execute(Command::SetClientActive {
            client: client.clone(),
            active,
        })
        .await
        .map(drop)
    }

    /// Every pool's current size and its scaling history (operator resizes and the
    /// autoscaler's), in registration order.
    pub async fn pool_history(&self) -> Result<Vec<PoolHistory>, LiveError> {
        let driver = self.inner.driver.lock().await;
        Ok(driver.fleet.pool_histories().await?)
    }

    /// Adds a quota, or changes the settings of an existing one (its usage is kept).
    pub async fn set_quota(&self, quota: Quota) -> Result<(), LiveError> {
        quota.validate()?;
        self.execute(Command::SetQuota { quota }).await.map(drop)
    }

    pub async fn set_quota_usage(&self, quota: &QuotaId, used: u64) -> Result<(), LiveError> {
        self.execute(Command::SetQuotaUsage {
            quota: quota.clone(),
            used,
        })
        .await
        .map(drop)
    }

    /// Zeroes a quota's usage for its current period.
    pub async fn reset_quota(&self, quota: &QuotaId) -> Result<(), LiveError> {
        self.execute(Command::ResetQuota {
            quota: quota.clone(),
        })
        .await
        .map(drop)
    }

    // ---- quotas -------------------------------------------------------------------------

    /// Whether `client` may use `amount` of `metric` now (counts nothing).
    pub async fn check_quota(
        &self,
        client: &ClientId,
        metric: Metric,
        amount: u64,
    ) -> Result<QuotaAnswer, LiveError> {
        let query = CheckQuota {
            client: client.clone(),
            metric,
            amount,
        };
        self.check_quotas(vec![query]).await?.remove(0)
    }

    /// Several quota checks in one trip to the scheduler, answered in order: the way to
    /// check at high rates.
    pub async fn check_quotas(
        &self,
        queries: Vec<CheckQuota>,
    ) -> Result<Vec<Result<QuotaAnswer, LiveError>>, LiveError> {
        // Reads take no lock: the clock only moves forward, and the scheduler answers in
        // its own order.
        self.inner.clock.advance_to(self.inner.time.now());
        let clients: Vec<ClientId> = queries.iter().map(|q| q.client.clone()).collect();
        let answers = self.inner.scheduler.send(CheckQuotas(queries)).await?;
        Ok(answers
            .into_iter()
            .zip(clients)
            .map(|(answer, client)| {
                answer.ok_or_else(|| LiveError::Unknown {
                    kind: "client",
                    id: client.to_string(),
                })
            })
            .collect())
    }

    /// The registered pools with their current prices (sizes as registered), by id.
    pub async fn pools(&self) -> Vec<Pool> {
        self.inner.driver.lock().await.fleet.pools().to_vec()
    }

    /// The registered clients, in registration order.
    pub async fn clients(&self) -> Vec<Client> {
        self.inner
            .driver
            .lock()
            .await
            .fleet
            .clients()
            .cloned()
            .collect()
    }

    /// Removes a quota (its usage is forgotten).
    pub async fn remove_quota(&self, quota: &QuotaId) -> Result<(), LiveError> {
        let quota = quota.clone();
        self.execute(Command::RemoveQuota { quota }).await.map(drop)
    }

    /// Removes a bookable resource; refused while it has confirmed bookings that have not
    /// ended (cancel or complete them first). Its past bookings stay listed.
    pub async fn remove_resource(&self, resource: &ResourceId) -> Result<(), LiveError> {
        let resource = resource.clone();
        self.execute(Command::RemoveResource { resource })
            .await
            .map(drop)
    }

    /// Removes a client. Refused while it has queued or running requests, active
    /// reservations or confirmed bookings to come, unless `drain`: then they are cancelled
    /// and released first, in the same step. Its own quotas go with it; its account is
    /// closed with its balances kept (credit is never destroyed), and its id is not reused.
    pub async fn remove_client(&self, client: &ClientId, drain: bool) -> Result<(), LiveError> {
        let client = client.clone();
        self.execute(Command::RemoveClient { client, drain })
            .await
            .map(drop)
    }

    /// Every quota with its usage in the current period, in id order.
    pub async fn quota_standings(&self) -> Result<Vec<QuotaStanding>, LiveError> {
        self.inner.clock.advance_to(self.inner.time.now());
        Ok(self.inner.scheduler.send(GetQuotaStandings).await?)
    }

    pub async fn quotas(&self) -> Vec<Quota> {
        self.inner
            .driver
            .lock()
            .await
            .fleet
            .quotas()
            .cloned()
            .collect()
    }

    // ---- requests -----------------------------------------------------------------------

    /// Submits a request; resolves when it starts or is refused. The request's id is
    /// assigned by the engine (the one in `request` is ignored).
    pub async fn submit(&self, request: Request) -> Result<SubmitOutcome, LiveError> {
        let (id, outcome) = self.enqueue(request).await?;
        outcome
            .await
            .map_err(|_| LiveError::Stopped(format!("request {id} was dropped")))
    }

    /// Submits a request and returns its id at once, with a receiver of its outcome.
    pub async fn enqueue(
        &self,
        mut request: Request,
    ) -> Result<(RequestId, oneshot::Receiver<SubmitOutcome>), LiveError> {
        let (tell, outcome) = oneshot::channel();
        let reply = self
            .sequence(|driver| {
                request.id = RequestId(driver.next_request);
                request.validate()?;
                driver.check_request(&request)?;
                driver.waiting.insert(request.id, tell);
                Ok(Command::Submit { request })
            })
            .await?;
        match reply {
            Reply::Submitted(id) => Ok((id, outcome)),
            _ => unreachable!("a submit answers with its id"),
        }
    }

    /// Reports a request finished with its actual cost (priced from its pools and the time
    /// it held them if `None`), settling its reservation.
    pub async fn complete(
        &self,
        request: RequestId,
        actual: Option<Money>,
    ) -> Result<(), LiveError> {
        self.complete_with_usage(request, actual, None).await
    }

    /// Reports a request finished with its actual cost and what it really used (seed 001's
    /// finalize): unused tokens of its rate pools go back to their buckets for the next
    /// request, token, per-pool and compute quotas count what was used, and the
    /// reservation settles at the actual cost.
    pub async fn complete_with_usage(
        &self,
        request: RequestId,
        actual: Option<Money>,
        used: Option<Usage>,
    ) -> Result<(), LiveError> {
        let used = used.filter(|u| !u.is_empty());
        self.execute(Command::Complete {
            request,
            actual,
            used,
        })
        .await
        .map(drop)
    }

    /// The one rate pool a request holds: where a bare count of tokens used belongs.
    pub async fn rate_pool_of(&self, request: RequestId) -> Result<PoolId, LiveError> {
        let driver = self.inner.driver.lock().await;
        let record = driver
            .records
            .get(&request)
            .ok_or_else(|| LiveError::Unknown {
                kind: "request",
                id: request.to_string(),
            })?;
        let pools = driver.fleet.pools();
        let rate: Vec<&PoolId> = record
            .held_needs()
            .iter()
            .map(|n| &n.pool)
            .filter(|id| {
                pools
                    .iter()
                    .any(|p| &p.id == *id && matches!(p.kind, crate::model::PoolKind::Rate { .. }))
            })
            .collect();
        match rate.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(ValidationError::new(
                "tokens_used",
                format!("a request holding {} rate pools", rate.len()),
                "a request holding exactly one rate pool (name the pools in `used` otherwise)",
            )
            .into()),
        }
    }

    /// Cancels a queued or running request.
    pub async fn cancel(&self, request: RequestId) -> Result<(), LiveError> {
        self.execute(Command::Cancel { request }).await.map(drop)
    }

    /// A heartbeat from the request's worker: its lease starts afresh, for `lease_secs`
    /// if given (else its current length). Only a running request with a lease (its own
    /// or the default) can be renewed.
    pub async fn renew(
        &self,
        request: RequestId,
        lease_secs: Option<f64>,
    ) -> Result<(), LiveError> {
        self.execute(Command::Renew {
            request,
            lease_secs,
        })
        .await
        .map(drop)
    }

    /// Where a request stands, if the engine knows it.
    pub async fn request_state(&self, request: RequestId) -> Option<RequestState> {
        self.inner.driver.lock().await.state(request)
    }

    /// The client that submitted `request`, if the engine knows it.
    pub async fn request_client(&self, request: RequestId) -> Option<ClientId> {
        let driver = self.inner.driver.lock().await;
        driver.records.get(&request).map(|r| r.client.clone())
    }

    /// Everything the engine knows of `request`: state, times, wait, refusal, cost.
    pub async fn request(&self, request: RequestId) -> Option<RequestRecord> {
        self.inner
            .driver
            .lock()
            .await
            .records
            .get(&request)
            .cloned()
    }

    /// Pools' use, queue depths, running work and what the alert policy sees, now (what
    /// the monitor samples on a tick, read without ticking).
    pub async fn observe(&self) -> Result<Snapshot, LiveError> {
        // A read: the clock only moves forward (as in `check_quotas`), so rate pools'
        // buckets show their refill up to now.
        self.inner.clock.advance_to(self.inner.time.now());
        Ok(self.inner.scheduler.send(TakeSnapshot).await?)
    }

    /// Queue depth per class, running count, and where `request` stands.
    pub async fn queue_status(
        &self,
        request: Option<RequestId>,
    ) -> Result<QueueStatusReply, LiveError> {
        let scheduler = self.inner.scheduler.clone();
        Ok(scheduler.send(QueueStatus(request)).await?)
    }

    // ---- budgets ------------------------------------------------------------------------

    /// Reserves credit for work the client runs itself.
    pub async fn reserve(
        &self,
        client: &ClientId,
        estimate: Option<Money>,
    ) -> Result<ReservationGrant, LiveError> {
        match self
            .budget(Command::Reserve {
                client: client.clone(),
                estimate,
            })
            .await?
        {
            CreditReply::Reserved(grant) => Ok(grant),
            _ => unreachable!("reserve answers with a grant"),
        }
    }

    pub async fn track(
        &self,
        reservation: ReservationId,
        used: Money,
    ) -> Result<Option<ReservationAlert>, LiveError> {
        match self.budget(Command::Track { reservation, used }).await? {
            CreditReply::Tracked(alert) => Ok(alert),
            _ => unreachable!("track answers with an alert"),
        }
    }

    pub async fn settle(
        &self,
        reservation: ReservationId,
        actual: Money,
    ) -> Result<Settlement, LiveError> {
        match self
            .budget(Command::Settle {
                reservation,
                actual,
            })
            .await?
        {
            CreditReply::Settled(settlement) => Ok(settlement),
            _ => unreachable!("settle answers with a settlement"),
        }
    }

    pub async fn release(&self, reservation: ReservationId) -> Result<(), LiveError> {
        self.budget(Command::Release { reservation })
            .await
            .map(drop)
    }

    async fn budget(&self, command: Command) -> Result<CreditReply, LiveError> {
        match self.execute(command).await? {
            Reply::Credit(reply) => Ok(reply),
            _ => unreachable!("budget commands answer with budget replies"),
        }
    }

    /// Pays `amount` (above zero) into a client's available credit; answers its balances.
    pub async fn top_up(
        &self,
        client: &ClientId,
        amount: Money,
    ) -> Result<AccountBalance, LiveError> {
        let command = Command::TopUp {
            client: client.clone(),
            amount,
        };
        match self.budget(command).await? {
            CreditReply::ToppedUp(balance) => Ok(balance),
            _ => unreachable!("a top-up answers with the balance"),
        }
    }

    /// Moves `amount` of available credit from one client to another, atomically (seed
    /// 003's sharing); answers both balances after it.
    pub async fn transfer(
        &self,
        from: &ClientId,
        to: &ClientId,
        amount: Money,
    ) -> Result<(AccountBalance, AccountBalance), LiveError> {
        let command = Command::Transfer {
            from: from.clone(),
            to: to.clone(),
            amount,
        };
        match self.budget(command).await? {
            CreditReply::Transferred { from, to } => Ok((from, to)),
            _ => unreachable!("a transfer answers with both balances"),
        }
    }

    /// Counts usage of work that did not go through the queue: `usage` by metric name
    /// (`tokens`, `api_calls`, a pool's name, …) against every applicable quota and `cost`
    /// against the client's credit, all or nothing. A hard quota or the credit refuses
    /// what would pass it, unless `force` (the work already ran: count it anyway).
    pub async fn consume(
        &self,
        client: &ClientId,
        usage: BTreeMap<String, u64>,
        cost: Option<Money>,
        force: bool,
    ) -> Result<Consumed, LiveError> {
        if usage.is_empty() && cost.is_none() {
            let expected = "at least one metric amount or a cost";
            return Err(ValidationError::new("usage", "{}", expected).into());
        }
        let command = Command::Consume {
            client: client.clone(),
            usage,
            cost,
            force,
        };
        match self.execute(command).await? {
            Reply::Consumed(consumed) => Ok(consumed),
            _ => unreachable!("consume answers with what it counted"),
        }
    }

    /// A reservation, active or closed, if the id names one.
    pub async fn reservation(&self, id: ReservationId) -> Option<crate::model::Reservation> {
        let scheduler = self.inner.scheduler.clone();
        scheduler
            .send(crate::actors::GetReservation(id))
            .await
            .ok()
            .flatten()
    }

    /// A client's credit: available, reserved, spent.
    pub async fn account(
        &self,
        client: &ClientId,
    ) -> Result<crate::policy::reservation::AccountBalance, LiveError> {
        let scheduler = self.inner.scheduler.clone();
        scheduler
            .send(crate::actors::GetAccount(client.clone()))
            .await?
            .ok_or_else(|| LiveError::Unknown {
                kind: "client",
                id: client.to_string(),
            })
    }

    // ---- resources and bookings ---------------------------------------------------------

    /// Adds a bookable resource to the registry.
    pub async fn add_resource(&self, resource: Resource) -> Result<(), LiveError> {
        resource.validate()?;
        self.execute(Command::RegisterResource { resource })
            .await
            .map(drop)
    }

    pub async fn resources(&self) -> Vec<Resource> {
        self.inner
            .driver
            .lock()
            .await
            .fleet
            .resources()
            .cloned()
            .collect()
    }

    /// Books `resource` for `[start, end)`; an overlap with a confirmed booking is refused
    /// with the conflicting booking named.
    pub async fn book(
        &self,
        resource: &ResourceId,
        client: &ClientId,
        start: Timestamp,
        end: Timestamp,
        purpose: &str,
    ) -> Result<Booking, LiveError> {
        let command = Command::Book {
            resource: resource.clone(),
            client: client.clone(),
            start,
            end,
            purpose: purpose.to_owned(),
        };
        match self.execute(command).await? {
            Reply::Booking(booking) => Ok(booking),
            _ => unreachable!("book answers with the booking"),
        }
    }

    pub async fn cancel_booking(&self, id: BookingId) -> Result<Booking, LiveError> {
        match self.execute(Command::CancelBooking { id }).await? {
            Reply::Booking(booking) => Ok(booking),
            _ => unreachable!("cancel answers with the booking"),
        }
    }

    pub async fn complete_booking(&self, id: BookingId) -> Result<Booking, LiveError> {
        match self.execute(Command::CompleteBooking { id }).await? {
            Reply::Booking(booking) => Ok(booking),
            _ => unreachable!("complete answers with the booking"),
        }
    }

    /// Bookings matching `filter`, in the order they were made.
    pub async fn bookings(&self, filter: BookingFilter) -> Result<Vec<Booking>, LiveError> {
        let bookings = self.inner.driver.lock().await.fleet.bookings().clone();
        Ok(bookings.send(ListBookings(filter)).await?)
    }

    // ---- costs --------------------------------------------------------------------------

    /// Records a cost entry.
    pub async fn record_cost(
        &self,
        client: &ClientId,
        cost_type: CostType,
        category: &str,
        amount: Money,
        metadata: Metadata,
    ) -> Result<CostEntry, LiveError> {
        self.record_cost_entry(NewCostEntry {
            client: client.clone(),
            cost_type,
            category: category.to_owned(),
            amount,
            metadata,
            currency: None,
            description: String::new(),
        })
        .await
    }

    /// Records a cost entry with every field the seed's body has (currency, description).
    pub async fn record_cost_entry(&self, entry: NewCostEntry) -> Result<CostEntry, LiveError> {
        let command = Command::RecordCost {
            client: entry.client,
            cost_type: entry.cost_type,
            category: entry.category,
            amount: entry.amount,
            metadata: entry.metadata,
            currency: entry.currency,
            description: entry.description,
        };
        match self.execute(command).await? {
            Reply::Cost(entry) => Ok(entry),
            _ => unreachable!("record_cost answers with the entry"),
        }
    }

    /// Costs matching `filter`: total, by type, category and client, and up to
    /// `item_limit` entries.
    pub async fn cost_summary(
        &self,
        filter: CostFilter,
        item_limit: usize,
    ) -> Result<CostSummary, LiveError> {
        let ledger = self.inner.driver.lock().await.fleet.ledger().clone();
        let view = ledger
            .send(GetLedger {
                event_limit: 0,
                filter,
                item_limit,
            })
            .await?;
        Ok(view.costs)
    }

    /// Totals of the costs matching `filter` per bucket of `bucket_nanos` from `from` to
    /// `to` (the filter's own bounds are ignored).
    pub async fn cost_series(
        &self,
        filter: CostFilter,
        from: Timestamp,
        to: Timestamp,
        bucket_nanos: i64,
    ) -> Result<Vec<Money>, LiveError> {
        let ledger = self.inner.driver.lock().await.fleet.ledger().clone();
        Ok(ledger
            .send(GetCostSeries {
                filter,
                from,
                to,
                bucket_nanos,
            })
            .await?)
    }

    /// Each pool's utilisation (0..1) and size now, as the admission gate sees them, in
    /// registration order.
    pub async fn pool_gauges(&self) -> Result<Vec<(f64, f64)>, LiveError> {
        let scheduler = self.inner.scheduler.clone();
        Ok(scheduler.send(TakeSnapshot).await?.pools)
    }

    /// The monitor's newest samples (utilisation, size and forecast per pool, queue, spend),
    /// at most `newest`, oldest first. A live engine keeps a day of them.
    pub async fn recent_samples(&self, newest: usize) -> Result<Vec<Sample>, LiveError> {
        let driver = self.inner.driver.lock().await;
        Ok(driver.fleet.recent_samples(newest).await?)
    }

    /// The time on the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.time.now()
    }

    /// Per-class tallies of a client's requests.
    pub async fn client_stats(&self, client: &ClientId) -> Result<ClientStats, LiveError> {
        let actor = {
            let driver = self.inner.driver.lock().await;
            let index = driver.fleet.client(client)?;
            driver.fleet.client_actor(index).clone()
        };
        Ok(actor.send(GetClientStats).await?)
    }

    // ---- health -------------------------------------------------------------------------

    /// Whether the engine can take changes: its journal writer answers and the database
    /// takes a write now (checked by the writer, after the commits queued before it).
    pub async fn health(&self) -> Health {
        let probe = match self.inner.journal.probe() {
            Ok(probe) => probe,
            Err(e) => {
                return Health {
                    journal_writer: Err(e.to_string()),
                    database: Err("not checked: the journal writer has stopped".to_owned()),
                    last_commit_error: self.commit_times().last_error,
                };
            }
        };
        let (journal_writer, database) = match tokio::time::timeout(HEALTH_WAIT, probe).await {
            Ok(Ok(answer)) => (Ok(()), answer),
            Ok(Err(_)) => (
                Err("the journal writer stopped while checking".to_owned()),
                Err("not checked".to_owned()),
            ),
            Err(_) => (
                Err(format!(
                    "the journal writer did not answer within {}s",
                    HEALTH_WAIT.as_secs()
                )),
                Err("not checked: the journal writer is stuck".to_owned()),
            ),
        };
        Health {
            journal_writer,
            database,
            last_commit_error: self.commit_times().last_error,
        }
    }

    /// How long the journal's commits have taken (a histogram), and the last failure.
    pub fn commit_times(&self) -> CommitTimes {
        self.inner.journal.commit_times()
    }

    // ---- alerts -------------------------------------------------------------------------

    /// Alerts as `filter` admits them: open ones first (oldest first), then the resolved
    /// ones kept (`monitor.alerts.history`), most recently resolved last. The monitor
    /// raises and resolves them on its ticks (every `monitor.sample_every_secs`).
    pub async fn alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>, LiveError> {
        Ok(self.inner.monitor.send(GetAlerts(filter)).await?)
    }

    /// Alerts raised since the engine opened, by kind and level, and the open ones by level.
    pub async fn alert_summary(&self) -> Result<AlertSummary, LiveError> {
        Ok(self.inner.monitor.send(GetAlertSummary).await?)
    }

    // ---- events -------------------------------------------------------------------------

    /// Every event from now on (a slow reader misses the oldest when it falls behind).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Tells subscribers about something that happened beside the engine (the vault's
    /// credentials live outside the journal but their events belong on the same stream).
    pub fn publish(&self, kind: EventKind) {
        // No subscriber is not an error: events are for whoever listens now.
        let _ = self.inner.events.send(Event {
            at: self.inner.time.now(),
            kind,
        });
    }

    /// The scheduler settings in force.
    pub fn scheduler_config(&self) -> &SchedulerSettings {
        &self.inner.config
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.system.stop();
    }
}

/// Encodes a snapshot, queues it behind the commands it covers and waits until it is
/// written. Blocks: run it on a thread of its own, never on the sequencer.
fn write_snapshot(
    inner: &Inner,
    covers: i64,
    image: &EngineImage,
    full: bool,
) -> Result<Compaction, LiveError> {
    let body =
        snapshot::encode(image).map_err(|detail| StoreError::BadSnapshot { covers, detail })?;
    let written = inner.journal.snapshot(SnapshotRow {
        covers,
        at: image.at,
        format: snapshot::FORMAT,
        body,
        full,
    })?;
    Ok(written.blocking_wait()?)
}

/// Starts the actix system on a thread of its own; answers it and its arbiter.
fn start_system() -> Result<(System, ArbiterHandle), LiveError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("qm-actors".into())
        .spawn(move || {
            let system = System::new();
            let _ = sender.send((System::current(), Arbiter::current()));
            system.run()
        })
        .map_err(|e| LiveError::Stopped(e.to_string()))?;
    receiver
        .recv()
        .map_err(|e| LiveError::Stopped(e.to_string()))
}
