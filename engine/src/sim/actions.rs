//! A scenario's timed events, applied through the fleet.

use super::agenda::Happening;
use super::error::RunError;
use super::runner::Run;
use super::scenario::Action;
use crate::actors::{CreditOp, Dispatches};
use crate::config::secs;
use crate::model::Timestamp;

impl Run<'_> {
    /// Applies the scenario's timed event `index` at `now`.
    pub(super) async fn act(
        &mut self,
        index: usize,
        now: Timestamp,
    ) -> Result<Dispatches, RunError> {
        let action = &self.scenario.events[index].action;
        Ok(match action {
            Action::PoolCapacity { pool, capacity } => {
                self.fleet
                    .resize_pool(pool, *capacity, "scenario event")
                    .await?
            }
            Action::PoolDown { pool } => self.fleet.set_pool_down(pool, true).await?,
            Action::PoolUp { pool } => self.fleet.set_pool_down(pool, false).await?,
            Action::PoolPrice { pool, price } => self.fleet.set_pool_price(pool, *price).await?,
            Action::QuotaLimit { quota, limit } => {
                self.fleet.set_quota_limit(quota, *limit).await?;
                Dispatches::default()
            }
            Action::Quota { quota } => {
                self.fleet.set_quota(quota.clone()).await?;
                Dispatches::default()
            }
            Action::TopUp { client, amount } => {
                self.fleet.client(client)?;
                let op = CreditOp::TopUp {
                    client: client.clone(),
                    amount: *amount,
                };
                self.fleet
                    .scheduler()
                    .send(op)
                    .await?
                    .map_err(|e| RunError::Fleet(e.to_string()))?;
                Dispatches::default()
            }
            Action::ClientJoins { client } | Action::ClientLeaves { client } => {
                let active = matches!(action, Action::ClientJoins { .. });
                let c = self.fleet.client(client)?;
                let now_secs = now.since(self.start).as_secs_f64();
                for (w, generator) in self.generators.iter_mut().enumerate() {
                    if generator.client == c && generator.active != active {
                        generator.active = active;
                        if active {
                            let next = self.start
                                + secs(generator.arrivals.resume(&mut self.rng, now_secs));
                            if next < self.end {
                                self.agenda.push(next, Happening::Arrival { workload: w });
                            }
                        }
                    }
                }
                if let Some(desk) = self.desk.as_mut() {
                    for (stream, next) in desk.set_active(c, active, &mut self.rng, now_secs) {
                        let next = self.start + secs(next);
                        if next < self.end {
                            self.agenda.push(next, Happening::BookingArrival { stream });
                        }
                    }
                }
                let withdrawn = self.fleet.set_client_active(client, active).await?;
                for id in withdrawn.0 {
                    self.service_of.remove(&id);
                }
                Dispatches::default()
            }
        })
    }
}
