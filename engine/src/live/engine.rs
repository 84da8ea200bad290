//! `LiveEngine`: an embeddable, durable scheduler.
//!
//! The actors run on their own thread (an actix system). Every change goes through one
//! sequencer: it stamps the command with the time, applies it to the actors, appends it to
//! the journal, and lets the next caller in; the caller then waits until its command is on
//! disk (many callers share one commit). Reads skip the journal.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Weak};

use actix::prelude::*;
use tokio::sync::{Mutex, broadcast, oneshot};

use super::command::Command;
use super::journal::{self, Journal, Location, StoreError};
use crate::actors::{
    AddClient, AddPool, BudgetOp, BudgetReply, CancelRequest, CheckQuota, CheckQuotas, ClientActor,
    ClientSetup, ClientStats, Completion, Dispatches, Finish, GetClientStats, GetLedger, Job,
    JobVariant, LedgerActor, PoolActor, PoolCommand, QueueStatus, QueueStatusReply, QuotaAnswer,
    QuotaOp, SchedulerActor, SchedulerConfig, SetQuota, Submit, Wake,
};
use crate::actors::{
    Book, BookingActor, CancelBooking, CompleteBooking, ListBookings, RegisterResource,
};
use crate::clock::{Clock, SharedClock, VirtualClock, WallClock};
use crate::model::{Booking, BookingId, Resource, ResourceId};
use crate::model::{
    Client, ClientId, CostEntry, CostType, Event, EventKind, Metric, Money, Pool, PoolId, PoolKind,
    Quota, QuotaId, Request, RequestId, ReservationId, Timestamp, ValidationError,
};
use crate::policy::admission::Refusal;
use crate::policy::booking::{BookingError, BookingFilter};
use crate::policy::ledger::{CostFilter, CostSummary, LedgerError};
use crate::policy::reservation::{ReservationAlert, ReservationGrant, ReserveError, Settlement};
use crate::sim::scenario::{SchedulerConfig as SchedulerSettings, secs};

/// How the live engine schedules and stores.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LiveConfig {
    /// Scheduler weights, aging, starvation bound, off-peak hours, downgrade, reservations
    /// (the same settings as a scenario's `scheduler`).
    pub scheduler: SchedulerSettings,
    /// Commit each change on its own instead of batching concurrent ones (slower; for
    /// measuring what group commit buys).
    pub no_group_commit: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Budget(#[from] ReserveError),
    #[error(transparent)]
    Cost(#[from] LedgerError),
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error("unknown {kind} {id:?}")]
    Unknown { kind: &'static str, id: String },
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

/// How a submitted request ended its wait.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitOutcome {
    Started {
        request: RequestId,
        downgraded: bool,
    },
    Refused {
        request: RequestId,
        refusal: Refusal,
    },
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Queued,
    Running,
    Finished,
    Refused,
    Cancelled,
}

/// What applying a command answered.
enum Reply {
    Done,
    Submitted(RequestId),
    Budget(BudgetReply),
    Cost(CostEntry),
    Booking(Booking),
}

struct Actors {
    scheduler: Addr<SchedulerActor>,
    bookings: Addr<BookingActor>,
    ledger: Addr<LedgerActor>,
    clients: Vec<Addr<ClientActor>>,
    pools: Vec<Addr<PoolActor>>,
}

/// The sequencer's state: everything that must change in command order.
struct Driver {
    clock: VirtualClock,
    /// The actors' thread, where new actors are started.
    arbiter: ArbiterHandle,
    actors: Actors,
    pool_index: BTreeMap<PoolId, usize>,
    /// Pools as registered, with their current price.
    pools: BTreeMap<PoolId, Pool>,
    client_index: BTreeMap<ClientId, usize>,
    clients: Vec<Client>,
    quotas: BTreeMap<QuotaId, Quota>,
    resources: BTreeMap<ResourceId, Resource>,
    next_request: u64,
    /// Requests whose submitter waits for the start or the refusal.
    waiting: HashMap<RequestId, oneshot::Sender<SubmitOutcome>>,
    /// Outcomes decided by the command being applied, held back until that command is
    /// durable: a start caused by a completion must not reach its submitter before the
    /// completion is on disk, or a crash could bring the request back queued.
    notices: Notices,
    /// Where every request submitted so far stands.
    requests: HashMap<RequestId, RequestState>,
    /// Who submitted each request, so a front end can tell owners from strangers.
    submitters: HashMap<RequestId, ClientId>,
    wake_at: Option<Timestamp>,
}

struct Inner {
    driver: Mutex<Driver>,
    /// For reads that need no sequencing.
    scheduler: Addr<SchedulerActor>,
    clock: VirtualClock,
    journal: Journal,
    events: broadcast::Sender<Event>,
    arbiter: ArbiterHandle,
    system: System,
    config: SchedulerConfig,
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
        Self::open_at(Location::File(path.as_ref().to_owned()), config).await
    }

    /// An engine whose state lives only in memory. For tests: nothing survives it.
    pub async fn open_in_memory(config: LiveConfig) -> Result<LiveEngine, LiveError> {
        Self::open_at(Location::Memory, config).await
    }

    async fn open_at(location: Location, config: LiveConfig) -> Result<LiveEngine, LiveError> {
        config.scheduler.weights.validate()?;
        let (journal, entries) = journal::open(&location, !config.no_group_commit)?;
        let (events, _) = broadcast::channel(4096);
        // The actors are built at a fixed instant, fresh or replaying, so anything they
        // derive from their start (the queue's score origin) is the same both times and a
        // replay repeats every decision exactly.
        let clock = VirtualClock::starting_at(Timestamp::EPOCH);
        let scheduler_config = SchedulerConfig {
            weights: config.scheduler.weights,
            aging: config.scheduler.aging,
            fair_share_half_life: secs(config.scheduler.fair_share_half_life_secs),
            starvation_bound: secs(config.scheduler.starvation_bound_secs),
            off_peak: config
                .scheduler
                .off_peak
                .map(|w| (w.start_hour, w.end_hour)),
            downgrade: config.scheduler.downgrade,
        };
        let (system, arbiter, actors) = start_actors(
            clock.clone(),
            scheduler_config.clone(),
            config.scheduler.reservation,
            events.clone(),
        )?;
        let inner = Arc::new(Inner {
            scheduler: actors.scheduler.clone(),
            clock: clock.clone(),
            driver: Mutex::new(Driver {
                clock,
                arbiter: arbiter.clone(),
                actors,
                pool_index: BTreeMap::new(),
                pools: BTreeMap::new(),
                client_index: BTreeMap::new(),
                clients: Vec::new(),
                quotas: BTreeMap::new(),
                resources: BTreeMap::new(),
                next_request: 0,
                waiting: HashMap::new(),
                notices: Notices::default(),
                requests: HashMap::new(),
                submitters: HashMap::new(),
                wake_at: None,
            }),
            journal,
            events,
            arbiter,
            system,
            config: scheduler_config,
        });
        let engine = LiveEngine { inner };
        engine.replay(entries).await?;
        Ok(engine)
    }

    async fn replay(&self, entries: Vec<journal::Entry>) -> Result<(), LiveError> {
        let mut driver = self.inner.driver.lock().await;
        let count = entries.len();
        for entry in entries {
            driver.clock.advance_to(entry.at);
            // A command that was refused when it was first applied is never logged, so
            // every entry applies; one that does not is a corrupt or foreign journal.
            if let Err(e) = driver.apply(&entry.command).await {
                return Err(LiveError::Replay {
                    seq: entry.seq,
                    detail: e.to_string(),
                });
            }
        }
        if count > 0 {
            tracing::info!(commands = count, "state rebuilt from the journal");
        }
        let wake = driver.wake_at;
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
        let (reply, durable, wake, notices) = {
            let mut driver = self.inner.driver.lock().await;
            driver.advance_to_wall_clock();
            let command = prepare(&mut driver)?;
            let at = driver.clock.now();
            let applied = driver.apply(&command).await;
            // Outcomes of a command that failed, or could not be logged, are never told.
            let notices = driver.notices.take();
            let reply = match applied {
                Ok(reply) => reply,
                Err(e) => {
                    if let Command::Submit { request } = &command {
                        driver.waiting.remove(&request.id);
                    }
                    return Err(e);
                }
            };
            let durable = self.inner.journal.append(at, &command)?;
            (reply, durable, driver.wake_at, notices)
        };
        self.arm_wake(wake);
        durable.wait().await?;
        notices.send();
        Ok(reply)
    }

    /// Makes sure a `Wake` is applied when queued work may start by itself.
    fn arm_wake(&self, at: Option<Timestamp>) {
        let Some(at) = at else { return };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        self.inner.arbiter.spawn(async move {
            let wait = at.since(WallClock.now());
            tokio::time::sleep(wait).await;
            let Some(inner) = weak.upgrade() else { return };
            let engine = LiveEngine { inner };
            let due = engine
                .inner
                .driver
                .lock()
                .await
                .wake_at
                .is_some_and(|w| w <= WallClock.now());
            if due && let Err(e) = engine.execute(Command::Wake).await {
                tracing::warn!(error = %e, "wake failed");
            }
        });
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

    /// Registers a client with its opening credit.
    pub async fn add_client(&self, client: Client) -> Result<(), LiveError> {
        client.validate()?;
        self.execute(Command::AddClient { client }).await.map(drop)
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
        self.inner.clock.advance_to(WallClock.now());
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
        self.inner
            .driver
            .lock()
            .await
            .pools
            .values()
            .cloned()
            .collect()
    }

    /// The registered clients, in registration order.
    pub async fn clients(&self) -> Vec<Client> {
        self.inner.driver.lock().await.clients.clone()
    }

    pub async fn quotas(&self) -> Vec<Quota> {
        self.inner
            .driver
            .lock()
            .await
            .quotas
            .values()
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
        self.execute(Command::Complete { request, actual })
            .await
            .map(drop)
    }

    /// Cancels a queued or running request.
    pub async fn cancel(&self, request: RequestId) -> Result<(), LiveError> {
        self.execute(Command::Cancel { request }).await.map(drop)
    }

    /// Where a request stands, if the engine knows it.
    pub async fn request_state(&self, request: RequestId) -> Option<RequestState> {
        self.inner
            .driver
            .lock()
            .await
            .requests
            .get(&request)
            .copied()
    }

    /// The client that submitted `request`, if the engine knows it.
    pub async fn request_client(&self, request: RequestId) -> Option<ClientId> {
        self.inner
            .driver
            .lock()
            .await
            .submitters
            .get(&request)
            .cloned()
    }

    /// Queue depth per class, running count, and where `request` stands.
    pub async fn queue_status(
        &self,
        request: Option<RequestId>,
    ) -> Result<QueueStatusReply, LiveError> {
        let scheduler = self.inner.driver.lock().await.actors.scheduler.clone();
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
            BudgetReply::Reserved(grant) => Ok(grant),
            _ => unreachable!("reserve answers with a grant"),
        }
    }

    pub async fn track(
        &self,
        reservation: ReservationId,
        used: Money,
    ) -> Result<Option<ReservationAlert>, LiveError> {
        match self.budget(Command::Track { reservation, used }).await? {
            BudgetReply::Tracked(alert) => Ok(alert),
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
            BudgetReply::Settled(settlement) => Ok(settlement),
            _ => unreachable!("settle answers with a settlement"),
        }
    }

    pub async fn release(&self, reservation: ReservationId) -> Result<(), LiveError> {
        self.budget(Command::Release { reservation })
            .await
            .map(drop)
    }

    async fn budget(&self, command: Command) -> Result<BudgetReply, LiveError> {
        match self.execute(command).await? {
            Reply::Budget(reply) => Ok(reply),
            _ => unreachable!("budget commands answer with budget replies"),
        }
    }

    /// A client's credit: available, reserved, spent.
    pub async fn account(
        &self,
        client: &ClientId,
    ) -> Result<crate::policy::reservation::AccountBalance, LiveError> {
        let scheduler = self.inner.driver.lock().await.actors.scheduler.clone();
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
            .resources
            .values()
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
        let bookings = self.inner.driver.lock().await.actors.bookings.clone();
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
        metadata: BTreeMap<String, String>,
    ) -> Result<CostEntry, LiveError> {
        let command = Command::RecordCost {
            client: client.clone(),
            cost_type,
            category: category.to_owned(),
            amount,
            metadata,
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
        let ledger = self.inner.driver.lock().await.actors.ledger.clone();
        let view = ledger
            .send(GetLedger {
                event_limit: 0,
                filter,
                item_limit,
            })
            .await?;
        Ok(view.costs)
    }

    /// Per-class tallies of a client's requests.
    pub async fn client_stats(&self, client: &ClientId) -> Result<ClientStats, LiveError> {
        let actor = {
            let driver = self.inner.driver.lock().await;
            let index = driver.known_client(client)?;
            driver.actors.clients[index].clone()
        };
        Ok(actor.send(GetClientStats).await?)
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
            at: WallClock.now(),
            kind,
        });
    }

    /// The scheduler settings in force.
    pub fn scheduler_config(&self) -> &SchedulerConfig {
        &self.inner.config
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.system.stop();
    }
}

fn start_actors(
    clock: VirtualClock,
    config: SchedulerConfig,
    reservation: crate::policy::reservation::ReservationPolicy,
    events: broadcast::Sender<Event>,
) -> Result<(System, ArbiterHandle, Actors), LiveError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("qm-actors".into())
        .spawn(move || {
            let system = System::new();
            let started = system.block_on(async move {
                let shared: SharedClock = Arc::new(clock);
                let ledger = LedgerActor::new(0).with_subscribers(events).start();
                let gate = crate::policy::admission::Gate::new(reservation)?;
                let bookings = BookingActor::new(shared.clone(), ledger.clone()).start();
                let scheduler =
                    SchedulerActor::new(shared, config, gate, Vec::new(), ledger.clone())?.start();
                Ok::<_, ValidationError>(Actors {
                    bookings,
                    scheduler,
                    ledger,
                    clients: Vec::new(),
                    pools: Vec::new(),
                })
            });
            let _ =
                sender.send(started.map(|actors| (System::current(), Arbiter::current(), actors)));
            system.run()
        })
        .map_err(|e| LiveError::Stopped(e.to_string()))?;
    let (system, arbiter, actors) = receiver
        .recv()
        .map_err(|e| LiveError::Stopped(e.to_string()))??;
    Ok((system, arbiter, actors))
}

/// Outcomes waiting for the command that decided them to be durable.
#[derive(Default)]
struct Notices(Vec<(oneshot::Sender<SubmitOutcome>, SubmitOutcome)>);

impl Notices {
    fn hold(&mut self, tell: oneshot::Sender<SubmitOutcome>, outcome: SubmitOutcome) {
        self.0.push((tell, outcome));
    }

    fn take(&mut self) -> Notices {
        std::mem::take(self)
    }

    /// Tells each waiting submitter; call only once the deciding command is durable.
    fn send(self) {
        for (tell, outcome) in self.0 {
            // A submitter that stopped waiting is not an error.
            let _ = tell.send(outcome);
        }
    }
}

impl Driver {
    /// Moves the engine's clock to the wall clock (never backwards).
    fn advance_to_wall_clock(&mut self) {
        self.clock.advance_to(WallClock.now());
    }

    fn known_client(&self, client: &ClientId) -> Result<usize, LiveError> {
        self.client_index
            .get(client)
            .copied()
            .ok_or_else(|| LiveError::Unknown {
                kind: "client",
                id: client.to_string(),
            })
    }

    fn known_pool(&self, pool: &PoolId) -> Result<usize, LiveError> {
        self.pool_index
            .get(pool)
            .copied()
            .ok_or_else(|| LiveError::Unknown {
                kind: "pool",
                id: pool.to_string(),
            })
    }

    /// Checks a request's references before anything is applied.
    fn check_request(&self, request: &Request) -> Result<(), LiveError> {
        self.known_client(&request.client)?;
        for need in request
            .needs
            .iter()
            .chain(request.alternative.iter().flat_map(|a| a.needs.iter()))
        {
            self.known_pool(&need.pool)?;
        }
        if request.needs.is_empty() {
            return Err(ValidationError::new("needs", "[]", "at least one pool need").into());
        }
        Ok(())
    }

    fn variant(
        &self,
        needs: &[crate::model::Need],
        estimate: Option<Money>,
    ) -> Result<JobVariant, LiveError> {
        Ok(JobVariant {
            needs: needs
                .iter()
                .map(|n| Ok((self.known_pool(&n.pool)?, n.amount)))
                .collect::<Result<_, LiveError>>()?,
            estimate,
        })
    }

    /// Tells waiting submitters what happened and remembers when to wake.
    fn settle_dispatches(&mut self, out: Dispatches) {
        for started in out.started {
            self.requests.insert(started.request, RequestState::Running);
            if let Some(tell) = self.waiting.remove(&started.request) {
                self.notices.hold(
                    tell,
                    SubmitOutcome::Started {
                        request: started.request,
                        downgraded: started.downgraded,
                    },
                );
            }
        }
        for (request, refusal) in out.refused {
            self.requests.entry(request).and_modify(|state| {
                if *state == RequestState::Queued {
                    *state = RequestState::Refused;
                }
            });
            if let Some(tell) = self.waiting.remove(&request) {
                self.notices
                    .hold(tell, SubmitOutcome::Refused { request, refusal });
            }
        }
        let now = self.clock.now();
        self.wake_at = match (self.wake_at.filter(|w| *w > now), out.wake_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Applies one command to the actors. An error means nothing changed.
    async fn apply(&mut self, command: &Command) -> Result<Reply, LiveError> {
        match command {
            Command::AddPool { pool } => {
                if self.pool_index.contains_key(&pool.id) {
                    return Err(ValidationError::new(
                        "pool.id",
                        &pool.id,
                        "an id not registered yet",
                    )
                    .into());
                }
                let index = self.actors.scheduler.send(AddPool(pool.clone())).await??;
                let size = match &pool.kind {
                    PoolKind::Rate { capacity, .. } => *capacity,
                    PoolKind::Slot { slots, .. } => f64::from(*slots),
                };
                let clock: SharedClock = Arc::new(self.clock.clone());
                let actor = PoolActor::new(
                    pool.id.clone(),
                    index,
                    size,
                    clock,
                    self.actors.scheduler.clone(),
                    self.actors.ledger.clone(),
                );
                self.actors
                    .pools
                    .push(PoolActor::start_in_arbiter(&self.arbiter, |_| actor));
                self.pool_index.insert(pool.id.clone(), index);
                self.pools.insert(pool.id.clone(), pool.clone());
                Ok(Reply::Done)
            }
            Command::ResizePool { pool, size } => {
                let index = self.known_pool(pool)?;
                if !(size.is_finite() && *size >= 1.0) {
                    return Err(ValidationError::new("size", size, "a size of at least 1").into());
                }
                let out = self.actors.pools[index]
                    .send(PoolCommand::Resize {
                        size: *size,
                        reason: "operator",
                    })
                    .await?;
                self.settle_dispatches(out);
                Ok(Reply::Done)
            }
            Command::SetPoolDown { pool, down } => {
                let index = self.known_pool(pool)?;
                let command = if *down {
                    PoolCommand::Down
                } else {
                    PoolCommand::Up
                };
                let out = self.actors.pools[index].send(command).await?;
                self.settle_dispatches(out);
                Ok(Reply::Done)
            }
            Command::SetPoolPrice { pool, price } => {
                let index = self.known_pool(pool)?;
                if price.is_negative() {
                    return Err(ValidationError::new("price", price, "zero or more").into());
                }
                let out = self.actors.pools[index]
                    .send(PoolCommand::Price(*price))
                    .await?;
                self.settle_dispatches(out);
                if let Some(registered) = self.pools.get_mut(pool) {
                    match &mut registered.kind {
                        PoolKind::Rate {
                            cost_per_1k_units, ..
                        } => *cost_per_1k_units = *price,
                        PoolKind::Slot { cost_per_hour, .. } => *cost_per_hour = *price,
                    }
                }
                Ok(Reply::Done)
            }
            Command::AddClient { client } => {
                if self.client_index.contains_key(&client.id) {
                    return Err(ValidationError::new(
                        "client.id",
                        &client.id,
                        "an id not registered yet",
                    )
                    .into());
                }
                let id = client.id.clone();
                let actor =
                    ClientActor::start_in_arbiter(&self.arbiter, move |_| ClientActor::new(id));
                let setup = ClientSetup {
                    id: client.id.clone(),
                    tier: client.tier,
                    max_concurrent: client.effective_max_concurrent(),
                    active: true,
                    actor: actor.clone(),
                };
                let index = self
                    .actors
                    .scheduler
                    .send(AddClient {
                        setup,
                        credits: client.credits,
                    })
                    .await??;
                if let Some(budget) = client.monthly_budget {
                    let mut quota = Quota::new(
                        format!("budget:{}", client.id),
                        crate::model::QuotaScope::Client(client.id.clone()),
                        Metric::Cost,
                        budget.micros().max(1) as u64,
                        crate::model::Period::Monthly,
                    );
                    quota.hard_stop = true;
                    self.actors
                        .scheduler
                        .send(SetQuota(quota.clone()))
                        .await??;
                    self.quotas.insert(quota.id.clone(), quota);
                }
                self.actors.clients.push(actor);
                self.clients.push(client.clone());
                self.client_index.insert(client.id.clone(), index);
                Ok(Reply::Done)
            }
            Command::SetQuota { quota } => {
                if let crate::model::QuotaScope::Client(client) = &quota.scope {
                    self.known_client(client)?;
                }
                self.actors
                    .scheduler
                    .send(SetQuota(quota.clone()))
                    .await??;
                self.quotas.insert(quota.id.clone(), quota.clone());
                Ok(Reply::Done)
            }
            Command::SetQuotaUsage { quota, used } => {
                self.actors
                    .scheduler
                    .send(QuotaOp::SetUsage {
                        quota: quota.clone(),
                        used: *used,
                    })
                    .await??;
                Ok(Reply::Done)
            }
            Command::ResetQuota { quota } => {
                self.actors
                    .scheduler
                    .send(QuotaOp::Reset {
                        quota: quota.clone(),
                    })
                    .await??;
                Ok(Reply::Done)
            }
            Command::Submit { request } => {
                self.check_request(request)?;
                let client = self.known_client(&request.client)?;
                let primary = self.variant(&request.needs, request.estimated_cost)?;
                let alternative = match &request.alternative {
                    Some(alt) => Some(Box::new(self.variant(&alt.needs, alt.estimated_cost)?)),
                    None => None,
                };
                let job = Job {
                    id: request.id,
                    client,
                    class: request.class,
                    urgency: request.urgency,
                    primary,
                    alternative,
                    batching: crate::actors::Batching::Alone,
                };
                self.next_request = self.next_request.max(request.id.0 + 1);
                self.requests.insert(request.id, RequestState::Queued);
                self.submitters.insert(request.id, request.client.clone());
                let out = self.actors.scheduler.send(Submit(vec![job])).await?;
                self.settle_dispatches(out);
                Ok(Reply::Submitted(request.id))
            }
            Command::Complete { request, actual } => {
                if self.requests.get(request) != Some(&RequestState::Running) {
                    return Err(LiveError::Unknown {
                        kind: "running request",
                        id: request.to_string(),
                    });
                }
                if actual.is_some_and(Money::is_negative) {
                    return Err(ValidationError::new(
                        "actual",
                        actual.unwrap_or_default(),
                        "zero or more",
                    )
                    .into());
                }
                self.requests.insert(*request, RequestState::Finished);
                let out = self
                    .actors
                    .scheduler
                    .send(Finish(vec![Completion {
                        request: *request,
                        actual: *actual,
                    }]))
                    .await?;
                self.settle_dispatches(out);
                Ok(Reply::Done)
            }
            Command::Cancel { request } => {
                let (found, out) = self.actors.scheduler.send(CancelRequest(*request)).await?;
                if !found {
                    return Err(LiveError::Unknown {
                        kind: "request",
                        id: request.to_string(),
                    });
                }
                self.settle_dispatches(out);
                self.requests.insert(*request, RequestState::Cancelled);
                Ok(Reply::Done)
            }
            Command::Reserve { client, estimate } => {
                self.known_client(client)?;
                let reply = self
                    .actors
                    .scheduler
                    .send(BudgetOp::Reserve {
                        client: client.clone(),
                        estimate: *estimate,
                    })
                    .await??;
                Ok(Reply::Budget(reply))
            }
            Command::Track { reservation, used } => Ok(Reply::Budget(
                self.actors
                    .scheduler
                    .send(BudgetOp::Track {
                        reservation: *reservation,
                        used: *used,
                    })
                    .await??,
            )),
            Command::Settle {
                reservation,
                actual,
            } => Ok(Reply::Budget(
                self.actors
                    .scheduler
                    .send(BudgetOp::Settle {
                        reservation: *reservation,
                        actual: *actual,
                    })
                    .await??,
            )),
            Command::Release { reservation } => Ok(Reply::Budget(
                self.actors
                    .scheduler
                    .send(BudgetOp::Release {
                        reservation: *reservation,
                    })
                    .await??,
            )),
            Command::RecordCost {
                client,
                cost_type,
                category,
                amount,
                metadata,
            } => {
                self.known_client(client)?;
                let entry = self
                    .actors
                    .ledger
                    .send(crate::actors::Charge {
                        client: client.clone(),
                        cost_type: *cost_type,
                        category: category.clone(),
                        amount: *amount,
                        at: self.clock.now(),
                        metadata: metadata.clone(),
                    })
                    .await??;
                Ok(Reply::Cost(entry))
            }
            Command::RegisterResource { resource } => {
                if self.resources.contains_key(&resource.id) {
                    return Err(ValidationError::new(
                        "resource.id",
                        &resource.id,
                        "an id not registered yet",
                    )
                    .into());
                }
                self.actors
                    .bookings
                    .send(RegisterResource(resource.clone()))
                    .await??;
                self.resources.insert(resource.id.clone(), resource.clone());
                Ok(Reply::Done)
            }
            Command::Book {
                resource,
                client,
                start,
                end,
                purpose,
            } => {
                self.known_client(client)?;
                let booking = self
                    .actors
                    .bookings
                    .send(Book {
                        resource: resource.clone(),
                        client: client.clone(),
                        start: *start,
                        end: *end,
                        purpose: purpose.clone(),
                    })
                    .await??;
                Ok(Reply::Booking(booking))
            }
            Command::CancelBooking { id } => Ok(Reply::Booking(
                self.actors.bookings.send(CancelBooking(*id)).await??,
            )),
            Command::CompleteBooking { id } => Ok(Reply::Booking(
                self.actors.bookings.send(CompleteBooking(*id)).await??,
            )),
            Command::Wake => {
                let out = self.actors.scheduler.send(Wake).await?;
                self.settle_dispatches(out);
                Ok(Reply::Done)
            }
        }
    }
}
