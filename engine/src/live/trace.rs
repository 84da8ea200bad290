//! `qm trace export`: a live database's recorded traffic as a scenario. The commands come
//! from the trace archive and the journal (the whole history, from the first command);
//! they are replayed through the sequencer's driver on a virtual clock, exactly as an
//! open replays them, to learn what was decided about each request (started when,
//! refused why); then the window's requests become explicit arrivals, and the fleet as
//! the commands before the window left it becomes the scenario's pools, clients, quotas
//! and resources.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use actix::prelude::*;

use super::command::Command;
use super::driver::Driver;
use super::engine::{LiveConfig, LiveError, RequestRecord, RequestState};
use super::journal::{self, Entry, Location, StoreError};
use crate::actors::{Fleet, FleetSetup};
use crate::clock::VirtualClock;
use crate::config::{MonitorSettings, SchedulerSettings};
use crate::model::{
    Client, ClientId, Money, Pool, PoolKind, Quota, RequestId, Resource, Timestamp, ValidationError,
};
use crate::sim::Scenario;
use crate::sim::scenario::{Action, TimedEvent};
use crate::sim::trace::{Recorded, Trace, TraceArrival, TraceExtra, to_secs};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct TraceOptions {
    /// The window's start (default: the first command).
    pub from: Option<Timestamp>,
    /// The window's end (default: the last command).
    pub to: Option<Timestamp>,
    /// The settings the database was served with: the replay decides with them.
    pub config: LiveConfig,
}

/// An exported trace and what it left out.
#[derive(Debug, Clone)]
pub struct Exported {
    pub scenario: Scenario,
    /// Commands read (archive and journal).
    pub commands: u64,
    /// Commands of the window a scenario has no place for (reservations, bookings, cost
    /// records, usage outside the queue, transfers), by operation.
    pub skipped: BTreeMap<&'static str, u64>,
}

/// Every command of the database at `db`: the archive's, then the journal's after them.
pub fn read_history(db: &Path) -> Result<Vec<Entry>, LiveError> {
    let connection = journal::connect(&Location::File(db.to_owned()), false)?;
    let mut entries = super::archive::read(db)?;
    let after = entries.last().map_or(0, |e| e.seq);
    entries.extend(journal::read_entries(&connection, after)?);
    for (expected, entry) in (1..).zip(entries.iter()) {
        if entry.seq != expected {
            return Err(StoreError::BadEntry {
                seq: entry.seq,
                detail: format!(
                    "commands {expected} to {} are in neither the journal nor the trace archive \
                     (compacted without an archive, or dropped by its retention); a trace \
                     replays the whole history from command 1",
                    entry.seq - 1
                ),
            }
            .into());
        }
    }
    Ok(entries)
}

/// Replays `entries` through a fresh driver and answers what was decided about each
/// request.
pub fn decide(
    entries: &[Entry],
    config: &LiveConfig,
) -> Result<HashMap<RequestId, RequestRecord>, LiveError> {
    config.validate()?;
    let scheduler = SchedulerSettings::try_from(&config.scheduler)?;
    let monitor = MonitorSettings::try_from(&config.monitor)?;
    // Every request's fate is read from the records at the end: none may be forgotten.
    let mut config = config.clone();
    config.storage.keep_ended_requests = usize::MAX;
    let entries = entries.to_vec();
    let system = System::new();
    system.block_on(async move {
        actix::spawn(async move {
            // As an open does: the fleet is built at the epoch, so a replay repeats every
            // decision exactly.
            let clock = VirtualClock::starting_at(Timestamp::EPOCH);
            let setup = FleetSetup {
                clock: Arc::new(clock.clone()),
                scheduler,
                monitor,
                events_kept: 0,
                samples_kept: 1,
                subscribers: None,
                request_events: false,
                settlements: false,
            };
            let fleet = Fleet::start(setup, &Arbiter::current())?;
            let mut driver = Driver::new(clock, fleet, &config);
            for entry in &entries {
                driver.clock.advance_to(entry.at);
                if let Err(e) = driver.apply(&entry.command).await {
                    return Err(LiveError::Replay {
                        seq: entry.seq,
                        detail: e.to_string(),
                    });
                }
            }
            drop(driver.notices.take());
            let records = std::mem::take(&mut driver.records);
            System::current().stop();
            Ok(records)
        })
        .await
        .map_err(|e| LiveError::Replay {
            seq: 0,
            detail: e.to_string(),
        })?
    })
}

/// The recorded traffic of the database at `db` as a scenario.
pub fn export(db: &Path, options: &TraceOptions) -> Result<Exported, LiveError> {
    let entries = read_history(db)?;
    let records = decide(&entries, &options.config)?;
    let source = db.display().to_string();
    build(&entries, &records, options, &source)
}

/// The scenario of a recorded history, given what was decided about its requests.
pub fn build(
    entries: &[Entry],
    records: &HashMap<RequestId, RequestRecord>,
    options: &TraceOptions,
    source: &str,
) -> Result<Exported, LiveError> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Err(
            ValidationError::new("journal", "empty", "at least one recorded command").into(),
        );
    };
    let start = options.from.unwrap_or(first.at);
    let end = options.to.unwrap_or(last.at);
    if end < start {
        return Err(ValidationError::new(
            "to",
            end.to_datetime().to_rfc3339(),
            format!(
                "an instant after --from ({})",
                start.to_datetime().to_rfc3339()
            ),
        )
        .into());
    }
    // What completions reported, and when queued requests were cancelled.
    let mut actual: HashMap<RequestId, Option<Money>> = HashMap::new();
    let mut cancelled_at: HashMap<RequestId, Timestamp> = HashMap::new();
    for entry in entries {
        match &entry.command {
            Command::Complete {
                request, actual: a, ..
            } => {
                actual.insert(*request, *a);
            }
            Command::Cancel { request } => {
                cancelled_at.entry(*request).or_insert(entry.at);
            }
            _ => {}
        }
    }
    let offset = |at: Timestamp| to_secs(at.since(start));
    let mut state = Fleet0::default();
    let mut events = Vec::new();
    let mut arrivals = Vec::new();
    let mut ticks = Vec::new();
    let mut skipped: BTreeMap<&'static str, u64> = BTreeMap::new();
    for entry in entries {
        if entry.at > end {
            break;
        }
        let command = &entry.command;
        // Before the window, and in it until the first request, commands only shape the
        // fleet the replay starts with.
        if entry.at < start || (arrivals.is_empty() && !matches!(command, Command::Submit { .. })) {
            state.apply_before(command);
            continue;
        }
        let at_secs = offset(entry.at);
        let mut event = |action: Action| {
            events.push(TimedEvent { at_secs, action });
        };
        match command {
            Command::AddPool { pool } => state.pools.push(pool.clone()),
            Command::ResizePool { pool, size } => event(Action::PoolCapacity {
                pool: pool.clone(),
                capacity: *size,
            }),
            Command::SetPoolDown { pool, down } => event(if *down {
                Action::PoolDown { pool: pool.clone() }
            } else {
                Action::PoolUp { pool: pool.clone() }
            }),
            Command::SetPoolPrice { pool, price } => event(Action::PoolPrice {
                pool: pool.clone(),
                price: *price,
            }),
            Command::AddClient { client } => {
                state.clients.push(client.clone());
                if entry.at > start {
                    event(Action::ClientJoins {
                        client: client.id.clone(),
                    });
                }
            }
            Command::SetClientActive { client, active } => event(if *active {
                Action::ClientJoins {
                    client: client.clone(),
                }
            } else {
                Action::ClientLeaves {
                    client: client.clone(),
                }
            }),
            Command::SetQuota { quota } => event(Action::Quota {
                quota: quota.clone(),
            }),
            Command::TopUp { client, amount } => event(Action::TopUp {
                client: client.clone(),
                amount: *amount,
            }),
            Command::RegisterResource { resource } => state.resources.push(resource.clone()),
            Command::Tick => ticks.push(at_secs),
            Command::Submit { request } => {
                let record = records.get(&request.id);
                let recorded = match record {
                    Some(r) => match r.state {
                        RequestState::Finished => match (r.started_at, r.ended_at) {
                            (Some(s), Some(e)) => Recorded::Done(
                                to_secs(e.since(s)),
                                actual.get(&request.id).copied().flatten(),
                            ),
                            _ => Recorded::Open,
                        },
                        RequestState::Refused => {
                            Recorded::Refused(r.reason.clone().unwrap_or_default())
                        }
                        RequestState::Cancelled | RequestState::Expired => {
                            let at = r
                                .ended_at
                                .or_else(|| cancelled_at.get(&request.id).copied())
                                .unwrap_or(entry.at)
                                .max(entry.at);
                            Recorded::Cancelled(offset(at))
                        }
                        RequestState::Queued | RequestState::Running => Recorded::Open,
                    },
                    None => Recorded::Open,
                };
                let needs = |needs: &[crate::model::Need]| {
                    needs.iter().map(|n| (n.pool.clone(), n.amount)).collect()
                };
                let extra = (request.alternative.is_some() || request.batch.is_some()).then(|| {
                    Box::new(TraceExtra {
                        alternative: request
                            .alternative
                            .as_ref()
                            .map(|a| (needs(&a.needs), a.estimated_cost)),
                        batch: request
                            .batch
                            .as_ref()
                            .map(|b| (b.name.clone(), b.max_size, b.max_wait_secs)),
                    })
                });
                arrivals.push(TraceArrival(
                    at_secs,
                    request.client.clone(),
                    request.class,
                    request.urgency,
                    needs(&request.needs),
                    request.estimated_cost,
                    recorded,
                    extra,
                ));
            }
            Command::Complete { .. }
            | Command::Cancel { .. }
            | Command::Renew { .. }
            | Command::Wake => {}
            other => {
                *skipped.entry(op_name(other)).or_default() += 1;
            }
        }
    }
    let name = Path::new(source)
        .file_name()
        .map_or_else(|| source.to_owned(), |n| n.to_string_lossy().into_owned());
    let scenario = Scenario {
        name: format!("trace of {name}"),
        description: format!(
            "Recorded by the live engine in {source}, from {} to {}.",
            start.to_datetime().to_rfc3339(),
            end.to_datetime().to_rfc3339()
        ),
        seed: 0,
        start,
        duration_secs: to_secs(end.since(start)).max(0.001),
        max_requests: None,
        scheduler: options.config.scheduler.clone(),
        monitor: options.config.monitor.clone(),
        pools: state.pools,
        clients: state.clients,
        quotas: state.quotas.into_values().collect(),
        resources: state.resources,
        workloads: Vec::new(),
        bookings: Vec::new(),
        events,
        trace: Some(Trace {
            source: source.to_owned(),
            // A fleet replayed from the first command measures waiting from the epoch.
            origin: Some(Timestamp::EPOCH),
            ticks: Some(ticks),
            arrivals,
        }),
    };
    Ok(Exported {
        scenario,
        commands: entries.len() as u64,
        skipped,
    })
}

/// The fleet's definitions as the commands before the window left them.
#[derive(Default)]
struct Fleet0 {
    pools: Vec<Pool>,
    clients: Vec<Client>,
    quotas: BTreeMap<crate::model::QuotaId, Quota>,
    resources: Vec<Resource>,
}

impl Fleet0 {
    fn client(&mut self, id: &ClientId) -> Option<&mut Client> {
        self.clients.iter_mut().find(|c| &c.id == id)
    }

    fn apply_before(&mut self, command: &Command) {
        match command {
            Command::AddPool { pool } => self.pools.push(pool.clone()),
            Command::ResizePool { pool, size } => {
                if let Some(p) = self.pools.iter_mut().find(|p| &p.id == pool) {
                    match &mut p.kind {
                        PoolKind::Slot { slots, .. } => *slots = size.round() as u32,
                        PoolKind::Rate { capacity, .. } => *capacity = *size,
                    }
                }
            }
            Command::SetPoolPrice { pool, price } => {
                if let Some(p) = self.pools.iter_mut().find(|p| &p.id == pool) {
                    p.set_price(*price);
                }
            }
            Command::AddClient { client } => self.clients.push(client.clone()),
            Command::RemoveClient { client, .. } => self.clients.retain(|c| &c.id != client),
            Command::SetQuota { quota } => {
                self.quotas.insert(quota.id.clone(), quota.clone());
            }
            Command::RemoveQuota { quota } => {
                self.quotas.remove(quota);
            }
            Command::RegisterResource { resource } => self.resources.push(resource.clone()),
            Command::RemoveResource { resource } => self.resources.retain(|r| &r.id != resource),
            Command::TopUp { client, amount } => {
                if let Some(c) = self.client(client) {
                    c.credits += *amount;
                }
            }
            Command::Transfer { from, to, amount } => {
                if let Some(c) = self.client(from) {
                    c.credits -= *amount;
                }
                if let Some(c) = self.client(to) {
                    c.credits += *amount;
                }
            }
            _ => {}
        }
    }
}

fn op_name(command: &Command) -> &'static str {
    match command {
        Command::SetQuotaUsage { .. } => "set_quota_usage",
        Command::ResetQuota { .. } => "reset_quota",
        Command::Reserve { .. } => "reserve",
        Command::Track { .. } => "track",
        Command::Settle { .. } => "settle",
        Command::Release { .. } => "release",
        Command::RecordCost { .. } => "record_cost",
        Command::Book { .. } => "book",
        Command::CancelBooking { .. } => "cancel_booking",
        Command::CompleteBooking { .. } => "complete_booking",
        Command::Transfer { .. } => "transfer",
        Command::Consume { .. } => "consume",
        Command::RemoveQuota { .. } => "remove_quota",
        Command::RemoveResource { .. } => "remove_resource",
        Command::RemoveClient { .. } => "remove_client",
        _ => "other",
    }
}
