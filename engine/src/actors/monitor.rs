//! The monitor: samples every pool on a fixed interval, predicts utilisation a horizon
//! ahead by least squares, and asks pools to scale.

use actix::prelude::*;
use std::time::Duration;

use crate::model::Timestamp;
use crate::policy::autoscale::Autoscaler;
use crate::policy::predictor::LinearPredictor;

use super::pool::{PoolActor, PoolCommand};
use super::scheduler::{Dispatches, SchedulerActor, Snapshot, TakeSnapshot};

/// Time to sample (sent by the driver on the sampling interval).
#[derive(Debug, Message)]
#[rtype(result = "Dispatches")]
pub struct Tick;

#[derive(Debug, Message)]
#[rtype(result = "Vec<Sample>")]
pub struct GetSeries;

/// One sampling instant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sample {
    pub at: Timestamp,
    pub pools: Vec<PoolSeries>,
    pub queued: usize,
    pub running: usize,
    pub spent: crate::model::Money,
}

/// One pool at one sampling instant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolSeries {
    pub utilisation: f64,
    pub size: f64,
    /// What the predictor expected for this instant, `horizon` ago.
    pub predicted: Option<f64>,
}

struct Watched {
    actor: Addr<PoolActor>,
    predictor: LinearPredictor,
    autoscaler: Option<Autoscaler>,
    /// Predictions not yet due: (due at, value).
    pending: std::collections::VecDeque<(Timestamp, f64)>,
}

pub struct MonitorActor {
    scheduler: Addr<SchedulerActor>,
    pools: Vec<Watched>,
    horizon: Duration,
    samples: Vec<Sample>,
}

impl MonitorActor {
    /// `pools`: each pool's actor and, if it autoscales, its autoscaler.
    pub fn new(
        scheduler: Addr<SchedulerActor>,
        pools: Vec<(Addr<PoolActor>, Option<Autoscaler>)>,
        window: usize,
        horizon: Duration,
    ) -> Result<Self, crate::model::ValidationError> {
        let pools = pools
            .into_iter()
            .map(|(actor, autoscaler)| {
                Ok(Watched {
                    actor,
                    predictor: LinearPredictor::new(window)?,
                    autoscaler,
                    pending: Default::default(),
                })
            })
            .collect::<Result<_, crate::model::ValidationError>>()?;
        Ok(MonitorActor {
            scheduler,
            pools,
            horizon,
            samples: Vec::new(),
        })
    }

    /// Records a snapshot; returns the resizes to ask for.
    fn observe(&mut self, snapshot: Snapshot) -> Vec<(Addr<PoolActor>, f64)> {
        let mut resizes = Vec::new();
        let mut series = Vec::with_capacity(self.pools.len());
        for (watched, &(utilisation, size)) in self.pools.iter_mut().zip(&snapshot.pools) {
            // The predictor follows the load (utilisation × size) rather than the
            // utilisation, so samples taken before a resize still say how much work there
            // was, and a forecast is turned into utilisation at the size the pool has now.
            let load = utilisation * size;
            let utilisation_of = |load: f64| load / size.max(f64::MIN_POSITIVE);
            let mut predicted = None;
            while let Some(&(due, value)) = watched.pending.front() {
                if due > snapshot.at {
                    break;
                }
                watched.pending.pop_front();
                predicted = Some(utilisation_of(value));
            }
            watched.predictor.push(snapshot.at, load);
            let forecast = watched.predictor.forecast(self.horizon).map(|f| f.max(0.0));
            if let Some(value) = forecast {
                watched
                    .pending
                    .push_back((snapshot.at + self.horizon, value));
            }
            if let Some(autoscaler) = &mut watched.autoscaler {
                // Scale on the worse of now and the forecast, so growth is met early.
                let looking_at =
                    forecast.map_or(utilisation, |f| utilisation_of(f).max(utilisation));
                if let Some(to) = autoscaler.decide(size.round() as u32, looking_at, snapshot.at) {
                    resizes.push((watched.actor.clone(), f64::from(to)));
                }
            }
            series.push(PoolSeries {
                utilisation,
                size,
                predicted,
            });
        }
        self.samples.push(Sample {
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

impl Handler<Tick> for MonitorActor {
    type Result = ResponseActFuture<Self, Dispatches>;

    fn handle(&mut self, _: Tick, _: &mut Context<Self>) -> Self::Result {
        let scheduler = self.scheduler.clone();
        Box::pin(
            async move { scheduler.send(TakeSnapshot).await.unwrap_or_default() }
                .into_actor(self)
                .then(|snapshot, monitor, _| {
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
                            all.started.extend(out.started);
                            all.refused.extend(out.refused);
                            all.wake_at = match (all.wake_at, out.wake_at) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            };
                        }
                        all
                    }
                    .into_actor(monitor)
                }),
        )
    }
}

impl Handler<GetSeries> for MonitorActor {
    type Result = MessageResult<GetSeries>;

    fn handle(&mut self, _: GetSeries, _: &mut Context<Self>) -> Self::Result {
        MessageResult(std::mem::take(&mut self.samples))
    }
}
