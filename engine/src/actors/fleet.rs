//! The fleet: every actor of one engine, assembled once and changed through one place.
//!
//! Both drivers hold a `Fleet`: the simulator's runner (on a virtual clock moved by its
//! agenda) and the live engine's sequencer (on a manual clock stepped to the wall clock).
//! Neither wires actors itself, so what one can do the other can, with the same
//! validation and the same decisions. The fleet keeps the registered pools, clients,
//! quotas and resources by id and turns ids into the indices the scheduler uses.

use std::collections::BTreeMap;

use actix::prelude::*;
use tokio::sync::broadcast;

use super::booking::{BookingActor, BookingImage, RegisterResource, RemoveResource, SaveBookings};
use super::client::{ClientActor, ClientImage, ClientStats, GetClientStats, SaveClient};
use super::ledger::{LedgerActor, LedgerImage, SaveLedger};
use super::monitor::{
    AlertSummary, GetAlertSummary, GetAlerts, GetSeries, MonitorActor, MonitorImage, ReadSeries,
    Sample, SaveMonitor, Tick, Watch,
};
use super::pool::{GetPoolHistory, PoolActor, PoolCommand, PoolHistory, PoolImage, SavePool};
use super::scheduler::{
    AddBatchRule, AddClient, AddPool, ClientSetup, CloseClient, Completion, Dispatches, Finish,
    Job, RemoveQuota, SaveScheduler, SchedulerActor, SchedulerImage, SetClientActive, SetQuota,
    Submit, Wake, Withdrawn, belongs_to,
};
use crate::clock::SharedClock;
use crate::config::{MonitorSettings, SchedulerSettings};
use crate::model::{
    Alert, Client, ClientId, Event, Metric, Money, Period, Pool, PoolId, Quota, QuotaId,
    QuotaScope, Resource, ResourceId, ValidationError,
};
use crate::policy::admission::Gate;
use crate::policy::alert::{AlertFilter, LeaseObservation};
use crate::policy::batch::BatchRule;
use crate::policy::booking::BookingError;
use crate::policy::reservation::ReserveError;

/// A change the fleet refused, or an actor that stopped.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("unknown {kind} {id:?}")]
    Unknown { kind: &'static str, id: String },
    #[error("an actor stopped: {0}")]
    Stopped(#[from] MailboxError),
}

/// Why a removal was refused: the thing is still in use, or the fleet refused.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error(transparent)]
    Credit(#[from] ReserveError),
    #[error(transparent)]
    Booking(#[from] BookingError),
}

/// What a fleet is built with.
pub struct FleetSetup {
    pub clock: SharedClock,
    pub scheduler: SchedulerSettings,
    pub monitor: MonitorSettings,
    /// Events the ledger keeps for reports (0 keeps none).
    pub events_kept: usize,
    /// Monitor samples kept, oldest dropped first.
    pub samples_kept: usize,
    /// Where events are published as they happen, if anywhere.
    pub subscribers: Option<broadcast::Sender<Event>>,
    /// Publish every request's lifecycle (`request.queued` … `request.finished`) and hand
    /// back each settlement: what a live operator watches; a replay's report tallies the
    /// same without them.
    pub request_events: bool,
    /// Hand back each request's settlement even without lifecycle events (a trace
    /// replay follows charges request by request).
    pub settlements: bool,
}

/// Everything a fleet holds, as a snapshot keeps it: the registry and every actor's state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetImage {
    pub pools: Vec<Pool>,
    pub clients: Vec<Client>,
    pub quotas: Vec<Quota>,
    pub resources: Vec<Resource>,
    pub scheduler: SchedulerImage,
    pub monitor: MonitorImage,
    pub pool_actors: Vec<PoolImage>,
    pub client_actors: Vec<ClientImage>,
    pub bookings: BookingImage,
    pub ledger: LedgerImage,
    /// Clients removed: still in `clients` (indices never move), but named by nothing.
    #[serde(default)]
    pub removed_clients: Vec<ClientId>,
}

/// The assembled actors and the registry of what they serve.
pub struct Fleet {
    clock: SharedClock,
    /// Where new actors start: the thread of the actix system that runs the fleet.
    arbiter: ArbiterHandle,
    scheduler: Addr<SchedulerActor>,
    monitor: Addr<MonitorActor>,
    bookings: Addr<BookingActor>,
    ledger: Addr<LedgerActor>,
    pools: Vec<Pool>,
    pool_actors: Vec<Addr<PoolActor>>,
    pool_index: BTreeMap<PoolId, usize>,
    /// Every client ever registered, by index; a removed one stays (indices never move)
    /// but leaves `client_index`, so nothing can name it any more.
    clients: Vec<Client>,
    client_actors: Vec<Addr<ClientActor>>,
    client_index: BTreeMap<ClientId, usize>,
    quotas: BTreeMap<QuotaId, Quota>,
    resources: BTreeMap<ResourceId, Resource>,
}

impl Fleet {
    /// Starts the scheduler, monitor, booking and ledger actors on `arbiter`, with no
    /// pool, client or quota yet.
    pub fn start(setup: FleetSetup, arbiter: &ArbiterHandle) -> Result<Fleet, ValidationError> {
        let mut ledger = LedgerActor::new(setup.events_kept);
        if let Some(subscribers) = setup.subscribers {
            ledger = ledger.with_subscribers(subscribers);
        }
        let ledger = LedgerActor::start_in_arbiter(arbiter, |_| ledger);
        let gate = Gate::new(setup.scheduler.reservation)?;
        let scheduler = SchedulerActor::new(
            setup.clock.clone(),
            setup.scheduler,
            gate,
            Vec::new(),
            ledger.clone(),
        )?
        .with_request_events(setup.request_events)
        .with_settlements(setup.settlements);
        let scheduler = SchedulerActor::start_in_arbiter(arbiter, |_| scheduler);
        let monitor = MonitorActor::new(
            scheduler.clone(),
            ledger.clone(),
            setup.monitor,
            setup.samples_kept,
        );
        let monitor = MonitorActor::start_in_arbiter(arbiter, |_| monitor);
        let bookings = BookingActor::new(setup.clock.clone(), ledger.clone());
        let bookings = BookingActor::start_in_arbiter(arbiter, |_| bookings);
        Ok(Fleet {
            clock: setup.clock,
            arbiter: arbiter.clone(),
            scheduler,
            monitor,
            bookings,
            ledger,
            pools: Vec::new(),
            pool_actors: Vec::new(),
            pool_index: BTreeMap::new(),
            clients: Vec::new(),
            client_actors: Vec::new(),
            client_index: BTreeMap::new(),
            quotas: BTreeMap::new(),
            resources: BTreeMap::new(),
        })
    }

    /// Starts the actors of a saved fleet on `arbiter`, each with the state it was saved
    /// with. The settings are `setup`'s, as they are for a replay of the journal.
    pub fn restore(
        setup: FleetSetup,
        arbiter: &ArbiterHandle,
        image: FleetImage,
    ) -> Result<Fleet, FleetError> {
        let FleetImage {
            pools,
            clients,
            quotas,
            resources,
            scheduler,
            monitor,
            pool_actors,
            client_actors,
            bookings,
            ledger,
            removed_clients,
        } = image;
        if pool_actors.len() != pools.len()
            || client_actors.len() != clients.len()
            || scheduler.clients.len() != clients.len()
            || monitor.rules.len() != pools.len()
        {
            return Err(ValidationError::new(
                "snapshot",
                format!(
                    "{} pools, {} pool actors, {} monitor rules, {} clients, {} client actors",
                    pools.len(),
                    pool_actors.len(),
                    monitor.rules.len(),
                    clients.len(),
                    client_actors.len()
                ),
                "one actor and one rule per registered pool and client",
            )
            .into());
        }
        let mut ledger = LedgerActor::restore(setup.events_kept, ledger);
        if let Some(subscribers) = setup.subscribers {
            ledger = ledger.with_subscribers(subscribers);
        }
        let ledger = LedgerActor::start_in_arbiter(arbiter, |_| ledger);
        let client_actors: Vec<_> = client_actors
            .iter()
            .map(|image| {
                let actor = ClientActor::restore(image);
                ClientActor::start_in_arbiter(arbiter, |_| actor)
            })
            .collect();
        let scheduler = SchedulerActor::restore(
            setup.clock.clone(),
            setup.scheduler,
            ledger.clone(),
            scheduler,
            client_actors.clone(),
        )
        .with_request_events(setup.request_events)
        .with_settlements(setup.settlements);
        let scheduler = SchedulerActor::start_in_arbiter(arbiter, |_| scheduler);
        let pool_actors: Vec<_> = pool_actors
            .into_iter()
            .map(|image| {
                let actor = PoolActor::restore(
                    image,
                    setup.clock.clone(),
                    scheduler.clone(),
                    ledger.clone(),
                );
                PoolActor::start_in_arbiter(arbiter, |_| actor)
            })
            .collect();
        let monitor = MonitorActor::restore(
            scheduler.clone(),
            ledger.clone(),
            setup.monitor,
            setup.samples_kept,
            monitor,
            pool_actors.clone(),
        );
        let monitor = MonitorActor::start_in_arbiter(arbiter, |_| monitor);
        let bookings = BookingActor::restore(setup.clock.clone(), ledger.clone(), bookings);
        let bookings = BookingActor::start_in_arbiter(arbiter, |_| bookings);
        Ok(Fleet {
            clock: setup.clock,
            arbiter: arbiter.clone(),
            scheduler,
            monitor,
            bookings,
            ledger,
            pool_index: pools
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.clone(), i))
                .collect(),
            pools,
            pool_actors,
            client_index: clients
                .iter()
                .enumerate()
                .filter(|(_, c)| !removed_clients.contains(&c.id))
                .map(|(i, c)| (c.id.clone(), i))
                .collect(),
            clients,
            client_actors,
            quotas: quotas.into_iter().map(|q| (q.id.clone(), q)).collect(),
            resources: resources.into_iter().map(|r| (r.id.clone(), r)).collect(),
        })
    }

    /// Every actor's state and the registry, consistent as of the last change applied.
    /// Actors are asked in the order messages flow between them (the monitor and pools
    /// before the scheduler, the scheduler before clients, everyone before the ledger), so
    /// what one sent another before it answered is in the other's answer.
    pub async fn save(&self) -> Result<FleetImage, FleetError> {
        let monitor = self.monitor.send(SaveMonitor).await?;
        let mut pool_actors = Vec::with_capacity(self.pool_actors.len());
        for actor in &self.pool_actors {
            pool_actors.push(actor.send(SavePool).await?);
        }
        let scheduler = self.scheduler.send(SaveScheduler).await?;
        let mut client_actors = Vec::with_capacity(self.client_actors.len());
        for actor in &self.client_actors {
            client_actors.push(actor.send(SaveClient).await?);
        }
        let bookings = self.bookings.send(SaveBookings).await?;
        let ledger = self.ledger.send(SaveLedger).await?;
        Ok(FleetImage {
            pools: self.pools.clone(),
            clients: self.clients.clone(),
            quotas: self.quotas.values().cloned().collect(),
            resources: self.resources.values().cloned().collect(),
            scheduler,
            monitor,
            pool_actors,
            client_actors,
            bookings,
            ledger,
            removed_clients: self
                .clients
                .iter()
                .filter(|c| !self.client_index.contains_key(&c.id))
                .map(|c| c.id.clone())
                .collect(),
        })
    }

    // ---- registration -------------------------------------------------------------------

    /// Registers a pool, watched by the monitor and scaled if it has autoscale bounds.
    pub async fn add_pool(&mut self, pool: Pool) -> Result<usize, FleetError> {
        pool.validate()?;
        if self.pool_index.contains_key(&pool.id) {
            return Err(
                ValidationError::new("pool.id", &pool.id, "an id not registered yet").into(),
            );
        }
        let index = self.scheduler.send(AddPool(pool.clone())).await??;
        let actor = PoolActor::new(
            pool.id.clone(),
            index,
            pool.size(),
            self.clock.clone(),
            self.scheduler.clone(),
            self.ledger.clone(),
        );
        let actor = PoolActor::start_in_arbiter(&self.arbiter, |_| actor);
        self.monitor
            .send(Watch {
                actor: actor.clone(),
                autoscale: pool.autoscale.map(|b| (b.min, b.max)),
            })
            .await??;
        self.pool_actors.push(actor);
        self.pool_index.insert(pool.id.clone(), index);
        self.pools.push(pool);
        Ok(index)
    }

    /// Registers a client with its opening credit, and its monthly budget (its own, or
    /// its tier's default) as a hard monthly cost quota. An inactive client's requests are
    /// refused until it joins.
    pub async fn add_client(&mut self, client: Client, active: bool) -> Result<usize, FleetError> {
        client.validate()?;
        if self.client_index.contains_key(&client.id) {
            return Err(
                ValidationError::new("client.id", &client.id, "an id not registered yet").into(),
            );
        }
        if self.clients.iter().any(|c| c.id == client.id) {
            // Its closed account keeps its history (and the credit totals) under that id.
            return Err(ValidationError::new(
                "client.id",
                &client.id,
                "an id not used before (a removed client's id is not reused)",
            )
            .into());
        }
        let id = client.id.clone();
        let actor = ClientActor::start_in_arbiter(&self.arbiter, move |_| ClientActor::new(id));
        let setup = ClientSetup {
            id: client.id.clone(),
            tier: client.tier,
            max_concurrent: client.effective_max_concurrent(),
            active,
            actor: actor.clone(),
        };
        let index = self
            .scheduler
            .send(AddClient {
                setup,
                credits: client.credits,
            })
            .await??;
        self.client_actors.push(actor);
        self.client_index.insert(client.id.clone(), index);
        if let Some(quota) = budget_quota(&client) {
            self.set_quota(quota).await?;
        }
        self.clients.push(client);
        Ok(index)
    }

    /// Adds a quota, or changes the settings of the one with its id (usage kept).
    pub async fn set_quota(&mut self, quota: Quota) -> Result<(), FleetError> {
        quota.validate()?;
        if let QuotaScope::Client(client) = &quota.scope {
            self.client(client)?;
        }
        self.scheduler.send(SetQuota(quota.clone())).await??;
        self.quotas.insert(quota.id.clone(), quota);
        Ok(())
    }

    /// A new limit for a registered quota.
    pub async fn set_quota_limit(&mut self, quota: &QuotaId, limit: u64) -> Result<(), FleetError> {
        let mut changed = self
            .quotas
            .get(quota)
            .cloned()
            .ok_or_else(|| unknown("quota", quota))?;
        changed.limit = limit;
        self.set_quota(changed).await
    }

    /// Adds a bookable resource.
    pub async fn add_resource(&mut self, resource: Resource) -> Result<(), FleetError> {
        resource.validate()?;
        if self.resources.contains_key(&resource.id) {
            return Err(ValidationError::new(
                "resource.id",
                &resource.id,
                "an id not registered yet",
            )
            .into());
        }
        self.bookings
            .send(RegisterResource(resource.clone()))
            .await??;
        self.resources.insert(resource.id.clone(), resource);
        Ok(())
    }

    /// Removes a quota; its usage is forgotten.
    pub async fn remove_quota(&mut self, quota: &QuotaId) -> Result<Quota, FleetError> {
        if !self.quotas.contains_key(quota) {
            return Err(unknown("quota", quota));
        }
        self.scheduler.send(RemoveQuota(quota.clone())).await?;
        Ok(self.quotas.remove(quota).expect("checked above"))
    }

    /// Removes a resource from the registry; refused while it has confirmed bookings
    /// that have not ended.
    pub async fn remove_resource(&mut self, resource: &ResourceId) -> Result<(), RemoveError> {
        if !self.resources.contains_key(resource) {
            return Err(unknown("resource", resource).into());
        }
        self.bookings
            .send(RemoveResource(resource.clone()))
            .await
            .map_err(FleetError::from)??;
        self.resources.remove(resource);
        Ok(())
    }

    /// Removes a client whose work is over: it must have nothing queued or running and
    /// no active reservation (the live engine drains it first when asked to). Its own
    /// quotas go with it; its account is closed with its balances kept on the books.
    pub async fn remove_client(&mut self, client: &ClientId) -> Result<(), RemoveError> {
        let index = self.client(client)?;
        self.scheduler
            .send(SetClientActive {
                client: index,
                active: false,
            })
            .await
            .map_err(FleetError::from)?;
        self.scheduler
            .send(CloseClient { client: index })
            .await
            .map_err(FleetError::from)??;
        let own: Vec<QuotaId> = self
            .quotas
            .values()
            .filter(|q| belongs_to(q, client))
            .map(|q| q.id.clone())
            .collect();
        for quota in own {
            self.remove_quota(&quota).await?;
        }
        self.client_index.remove(client);
        Ok(())
    }

    /// Registers a batch rule; answers the group index requests join.
    pub async fn add_batch_rule(&self, rule: BatchRule) -> Result<usize, FleetError> {
        Ok(self.scheduler.send(AddBatchRule(rule)).await?)
    }

    // ---- changes ------------------------------------------------------------------------

    /// New size: slots of a slot pool, bucket capacity of a rate pool.
    pub async fn resize_pool(
        &mut self,
        pool: &PoolId,
        size: f64,
        reason: &'static str,
    ) -> Result<Dispatches, FleetError> {
        let index = self.pool(pool)?;
        if !(size.is_finite() && size >= 1.0) {
            return Err(ValidationError::new("size", size, "a size of at least 1").into());
        }
        Ok(self.pool_actors[index]
            .send(PoolCommand::Resize { size, reason })
            .await?)
    }

    /// Takes a pool out of service (`down`) or back.
    pub async fn set_pool_down(
        &mut self,
        pool: &PoolId,
        down: bool,
    ) -> Result<Dispatches, FleetError> {
        let index = self.pool(pool)?;
        let command = if down {
            PoolCommand::Down
        } else {
            PoolCommand::Up
        };
        Ok(self.pool_actors[index].send(command).await?)
    }

    /// New price: per hour for a slot pool, per thousand units for a rate pool.
    pub async fn set_pool_price(
        &mut self,
        pool: &PoolId,
        price: Money,
    ) -> Result<Dispatches, FleetError> {
        let index = self.pool(pool)?;
        if price.is_negative() {
            return Err(ValidationError::new("price", price, "zero or more").into());
        }
        let out = self.pool_actors[index]
            .send(PoolCommand::Price(price))
            .await?;
        self.pools[index].set_price(price);
        Ok(out)
    }

    /// A client joins or leaves; leaving withdraws its queued and held requests.
    pub async fn set_client_active(
        &mut self,
        client: &ClientId,
        active: bool,
    ) -> Result<Withdrawn, FleetError> {
        let index = self.client(client)?;
        Ok(self
            .scheduler
            .send(SetClientActive {
                client: index,
                active,
            })
            .await?)
    }

    // ---- work ---------------------------------------------------------------------------

    pub async fn submit(&self, jobs: Vec<Job>) -> Result<Dispatches, FleetError> {
        Ok(self.scheduler.send(Submit(jobs)).await?)
    }

    pub async fn finish(&self, done: Vec<Completion>) -> Result<Dispatches, FleetError> {
        Ok(self.scheduler.send(Finish(done)).await?)
    }

    /// Time passed: starts what may start now.
    pub async fn wake(&self) -> Result<Dispatches, FleetError> {
        Ok(self.scheduler.send(Wake).await?)
    }

    /// The monitor samples, predicts and autoscales.
    pub async fn tick(&self, leases: Vec<LeaseObservation>) -> Result<Dispatches, FleetError> {
        Ok(self.monitor.send(Tick { leases }).await?)
    }

    // ---- lookups ------------------------------------------------------------------------

    /// The index of a registered pool.
    pub fn pool(&self, id: &PoolId) -> Result<usize, FleetError> {
        self.pool_index
            .get(id)
            .copied()
            .ok_or_else(|| unknown("pool", id))
    }

    /// The index of a registered client.
    pub fn client(&self, id: &ClientId) -> Result<usize, FleetError> {
        self.client_index
            .get(id)
            .copied()
            .ok_or_else(|| unknown("client", id))
    }

    /// Pools as registered, in pool order, with their current prices.
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// Clients in registration order (removed ones left out).
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients
            .iter()
            .filter(|c| self.client_index.contains_key(&c.id))
    }

    pub fn quotas(&self) -> impl Iterator<Item = &Quota> {
        self.quotas.values()
    }

    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.resources.values()
    }

    pub fn scheduler(&self) -> &Addr<SchedulerActor> {
        &self.scheduler
    }

    pub fn bookings(&self) -> &Addr<BookingActor> {
        &self.bookings
    }

    pub fn ledger(&self) -> &Addr<LedgerActor> {
        &self.ledger
    }

    pub fn monitor(&self) -> &Addr<MonitorActor> {
        &self.monitor
    }

    pub fn client_actor(&self, index: usize) -> &Addr<ClientActor> {
        &self.client_actors[index]
    }

    // ---- reports ------------------------------------------------------------------------

    /// Per-class tallies of every client, in client order.
    pub async fn client_stats(&self) -> Result<Vec<ClientStats>, FleetError> {
        let mut stats = Vec::with_capacity(self.client_actors.len());
        for actor in &self.client_actors {
            stats.push(actor.send(GetClientStats).await?);
        }
        Ok(stats)
    }

    /// Size and scaling history of every pool, in pool order.
    pub async fn pool_histories(&self) -> Result<Vec<PoolHistory>, FleetError> {
        let mut histories = Vec::with_capacity(self.pool_actors.len());
        for actor in &self.pool_actors {
            histories.push(actor.send(GetPoolHistory).await?);
        }
        Ok(histories)
    }

    /// A copy of the monitor's newest samples, at most `newest` of them, oldest first.
    pub async fn recent_samples(&self, newest: usize) -> Result<Vec<Sample>, FleetError> {
        Ok(self.monitor.send(ReadSeries(newest)).await?)
    }

    /// Alerts as `filter` admits them: open first (oldest first), then resolved ones.
    pub async fn alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>, FleetError> {
        Ok(self.monitor.send(GetAlerts(filter)).await?)
    }

    /// Alerts raised so far by kind and level, and the open ones by level.
    pub async fn alert_summary(&self) -> Result<AlertSummary, FleetError> {
        Ok(self.monitor.send(GetAlertSummary).await?)
    }

    /// The monitor's samples so far (taken: a second call starts afresh).
    pub async fn take_samples(&self) -> Result<Vec<Sample>, FleetError> {
        Ok(self.monitor.send(GetSeries).await?)
    }
}

/// A client's monthly budget as a hard monthly cost quota of its own, if it has one.
pub fn budget_quota(client: &Client) -> Option<Quota> {
    let budget = client.effective_monthly_budget()?;
    let mut quota = Quota::new(
        format!("budget:{}", client.id),
        QuotaScope::Client(client.id.clone()),
        Metric::Cost,
        budget.micros().max(1) as u64,
        Period::Monthly,
    );
    quota.hard_stop = true;
    Some(quota)
}

fn unknown(kind: &'static str, id: impl std::fmt::Display) -> FleetError {
    FleetError::Unknown {
        kind,
        id: id.to_string(),
    }
}
