//! The monitor: samples every pool on a fixed interval, predicts utilisation a horizon
//! ahead by least squares, asks pools to scale, and raises and resolves alerts.
//!
//! Ticks come from the driver (the simulator's agenda, or the live engine's journaled
//! `Tick` command), so what a tick raises a replay raises again at the same instant.

use actix::prelude::*;
use std::collections::VecDeque;

use crate::config::MonitorSettings;
use crate::model::{Alert, AlertLevel, Event, EventKind, Timestamp, ValidationError};
use crate::policy::alert::{AlertBook, AlertChange, AlertCounts, AlertFilter, LeaseObservation};
use crate::policy::autoscale::{Autoscaler, PoolWatch};

use super::ledger::{LedgerActor, Publish};

use super::pool::{PoolActor, PoolCommand};
use super::scheduler::{Dispatches, SchedulerActor, Snapshot, TakeSnapshot};

/// Take a sample now: utilisation, forecast, and resizes the autoscalers decide. Carries
/// the running requests' leases, soonest to end first, which only the live driver holds.
#[derive(Debug, Default, Message)]
#[rtype(result = "Dispatches")]
pub struct Tick {
    pub leases: Vec<LeaseObservation>,
}

/// Hands over the samples taken so far (and forgets them).
#[derive(Debug, Message)]
#[rtype(result = "Vec<Sample>")]
pub struct GetSeries;

/// A copy of the newest samples, at most this many, oldest first (nothing is forgotten).
#[derive(Debug, Message)]
#[rtype(result = "Vec<Sample>")]
pub struct ReadSeries(pub usize);

/// Watches a newly registered pool (in pool order), scaling it between `autoscale`'s
/// bounds if given.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), ValidationError>")]
pub struct Watch {
    pub actor: Addr<PoolActor>,
    pub autoscale: Option<(u32, u32)>,
}

/// Alerts, open and resolved, as `filter` admits them (open first, oldest first).
#[derive(Debug, Message)]
#[rtype(result = "Vec<Alert>")]
pub struct GetAlerts(pub AlertFilter);

/// Every alert raised so far by kind and level, and the open ones by level.
#[derive(Debug, Message)]
#[rtype(result = "AlertSummary")]
pub struct GetAlertSummary;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertSummary {
    pub raised: AlertCounts,
    pub open_by_level: std::collections::BTreeMap<AlertLevel, u64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub at: Timestamp,
    pub pools: Vec<PoolSeries>,
    pub queued: usize,
    pub running: usize,
    pub spent: crate::model::Money,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolSeries {
    pub utilisation: f64,
    pub size: f64,
    pub predicted: Option<f64>,
}

/// The monitor's state, as a snapshot keeps it: each watched pool's forecast and
/// autoscaler (in pool order), the recent samples, and the alerts (open, resolved kept,
/// tallies and the next id), so a reopened engine resolves what it had raised.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorImage {
    pub rules: Vec<PoolWatch>,
    pub samples: VecDeque<Sample>,
    /// A snapshot written before alerts existed restores with none.
    #[serde(default)]
    pub alerts: AlertBook,
}

/// Asks the monitor for its state.
#[derive(Debug, Message)]
#[rtype(result = "MonitorImage")]
pub struct SaveMonitor;

struct Watched {
    actor: Addr<PoolActor>,
    rule: PoolWatch,
}

pub struct MonitorActor {
    scheduler: Addr<SchedulerActor>,
    ledger: Addr<LedgerActor>,
    settings: MonitorSettings,
    alerts: AlertBook,
    pools: Vec<Watched>,
    samples: VecDeque<Sample>,
    /// Most samples kept (the oldest go first); a run keeps all, a live engine a window.
    keep: usize,
}

impl MonitorActor {
    pub fn new(
        scheduler: Addr<SchedulerActor>,
        ledger: Addr<LedgerActor>,
        settings: MonitorSettings,
        keep: usize,
    ) -> Self {
        MonitorActor {
            scheduler,
            ledger,
            alerts: AlertBook::new(settings.alerts.clone()),
            settings,
            pools: Vec::new(),
            samples: VecDeque::new(),
            keep,
        }
    }

    /// The monitor a snapshot saved, watching `pools` (in pool order, as saved). Its
    /// alerts keep their state under today's thresholds.
    pub fn restore(
        scheduler: Addr<SchedulerActor>,
        ledger: Addr<LedgerActor>,
        settings: MonitorSettings,
        keep: usize,
        image: MonitorImage,
        pools: Vec<Addr<PoolActor>>,
    ) -> Self {
        MonitorActor {
            scheduler,
            ledger,
            alerts: image.alerts.with_thresholds(settings.alerts.clone()),
            settings,
            pools: pools
                .into_iter()
                .zip(image.rules)
                .map(|(actor, rule)| Watched { actor, rule })
                .collect(),
            samples: image.samples,
            keep,
        }
    }

    fn observe(&mut self, mut snapshot: Snapshot) -> Vec<(Addr<PoolActor>, f64)> {
        let observed = std::mem::take(&mut snapshot.observed);
        for change in self.alerts.evaluate(&observed) {
            let kind = match change {
                AlertChange::Raised(alert) => EventKind::AlertRaised { alert },
                AlertChange::Resolved(alert) => EventKind::AlertResolved { alert },
            };
            self.ledger.do_send(Publish(Event {
                at: observed.at,
                kind,
            }));
        }
        let mut resizes = Vec::new();
        let mut series = Vec::with_capacity(self.pools.len());
        for (i, (watched, &(utilisation, size))) in
            self.pools.iter_mut().zip(&snapshot.pools).enumerate()
        {
            let queued = snapshot.queued_demand.get(i).copied().unwrap_or(0.0);
            let seen = watched.rule.observe(snapshot.at, utilisation, size, queued);
            if let Some(to) = seen.resize {
                resizes.push((watched.actor.clone(), f64::from(to)));
            }
            series.push(PoolSeries {
                utilisation,
                size,
                predicted: seen.predicted,
            });
        }
        if self.samples.len() == self.keep {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            at: snapshot.at,
            pools: series,
            queued: snapshot.queued.iter().sum(),
            running: snapshot.running,
            spent: snapshot.spent,
        });
        resizes
    }
}

impl Actor for MonitorActor {
    type Context = Context<Self>;
}

impl Handler<Watch> for MonitorActor {
    type Result = Result<(), ValidationError>;

    fn handle(&mut self, watch: Watch, _: &mut Context<Self>) -> Self::Result {
        let autoscaler = match watch.autoscale {
            Some((min, max)) => Some(Autoscaler::new(self.settings.autoscale(min, max))?),
            None => None,
        };
        let rule = PoolWatch::new(self.settings.window, self.settings.horizon, autoscaler)?;
        self.pools.push(Watched {
            actor: watch.actor,
            rule,
        });
        Ok(())
    }
}
impl Handler<Tick> for MonitorActor {
    type Result = ResponseActFuture<Self, Dispatches>;

    fn handle(&mut self, Tick { leases }: Tick, _: &mut Context<Self>) -> Self::Result {
        let scheduler = self.scheduler.clone();
        Box::pin(
            async move { scheduler.send(TakeSnapshot).await.unwrap_or_default() }
                .into_actor(self)
                .then(|mut snapshot, monitor, _| {
                    snapshot.observed.leases = leases;
                    let resizes = monitor.observe(snapshot);
                    async move {
                        let mut all = Dispatches::default();
                        for (pool, size) in resizes {
                            let out = pool
                                .send(PoolCommand::Resize {
                                    size,
                                    reason: "autoscale",
                                })
                                .await
                                .unwrap_or_default();
                            all.merge(out);
                        }
                        all
                    }
                    .into_actor(monitor)
                }),
        )
    }
}

impl Handler<GetAlerts> for MonitorActor {
    type Result = MessageResult<GetAlerts>;

    fn handle(&mut self, GetAlerts(filter): GetAlerts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.alerts.list(&filter))
    }
}

impl Handler<GetAlertSummary> for MonitorActor {
    type Result = MessageResult<GetAlertSummary>;

    fn handle(&mut self, _: GetAlertSummary, _: &mut Context<Self>) -> Self::Result {
        MessageResult(AlertSummary {
            raised: self.alerts.counts().clone(),
            open_by_level: self.alerts.open_by_level(),
        })
    }
}

impl Handler<GetSeries> for MonitorActor {
    type Result = MessageResult<GetSeries>;

    fn handle(&mut self, _: GetSeries, _: &mut Context<Self>) -> Self::Result {
        MessageResult(std::mem::take(&mut self.samples).into())
    }
}

impl Handler<SaveMonitor> for MonitorActor {
    type Result = MessageResult<SaveMonitor>;

    fn handle(&mut self, _: SaveMonitor, _: &mut Context<Self>) -> Self::Result {
        MessageResult(MonitorImage {
            rules: self.pools.iter().map(|w| w.rule.clone()).collect(),
            samples: self.samples.clone(),
            alerts: self.alerts.clone(),
        })
    }
}

impl Handler<ReadSeries> for MonitorActor {
    type Result = MessageResult<ReadSeries>;

    fn handle(&mut self, ReadSeries(newest): ReadSeries, _: &mut Context<Self>) -> Self::Result {
        let skip = self.samples.len().saturating_sub(newest);
        MessageResult(self.samples.iter().skip(skip).cloned().collect())
    }
}
