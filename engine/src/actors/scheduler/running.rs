//! A request's run: started (its client told, its reservation noted) and finished (its
//! reservation settled at the actual cost, the charge recorded, alerts raised).

use std::time::Duration;

use super::{Completion, Dispatched, Dispatches, Running, SchedulerActor, Settled};
use crate::actors::client::ClientOutcome;
use crate::actors::ledger::Charge;
use crate::model::Usage;
use crate::model::{CostType, EventKind, Money, Timestamp};
use crate::policy::admission::{Admitted, Used};
use crate::policy::alert;
use crate::policy::dispatch::{Batching, Job};

impl SchedulerActor {
    /// Records a request that starts now and tells its client.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        &mut self,
        mut job: Job,
        enqueued: Timestamp,
        admitted: Admitted,
        downgraded: bool,
        on_arrival: bool,
        now: Timestamp,
        out: &mut Dispatches,
    ) {
        let waited = now.since(enqueued);
        // Deferred work waits for off-peak on purpose: it starves only if it still waits
        // once the window has opened (the same rule as the `request.starving` alert).
        let overdue = alert::overdue(job.class, enqueued, now, self.config.off_peak);
        if overdue.is_some_and(|overdue| overdue > self.config.starvation_bound) {
            self.starving += 1;
            self.publish(
                now,
                EventKind::RequestStarving {
                    request: job.id,
                    client: self.clients[job.client].setup.id.clone(),
                    waited_secs: waited.as_secs_f64(),
                },
            );
        }
        let requests = job.requests();
        let slot = &mut self.clients[job.client];
        slot.running += 1;
        match &job.batching {
            // Each member waited from its own arrival until the batch started.
            Batching::Of(members) => {
                for member in members.iter() {
                    slot.setup.actor.do_send(ClientOutcome::Admitted {
                        class: job.class,
                        waited_micros: micros(now.since(member.arrived)),
                        downgraded,
                        on_arrival,
                    });
                }
            }
            Batching::Alone | Batching::Joins(_) => {
                slot.setup.actor.do_send(ClientOutcome::Admitted {
                    class: job.class,
                    waited_micros: micros(waited),
                    downgraded,
                    on_arrival,
                });
            }
        }
        let _ = self.fair_share.record(job.client, 1.0, now);
        if self.request_events {
            let batch = matches!(job.batching, Batching::Of(_)).then_some(job.id);
            let arrivals: Vec<(crate::model::RequestId, Timestamp)> = match &job.batching {
                Batching::Of(members) => members.iter().map(|m| (m.request, m.arrived)).collect(),
                Batching::Alone | Batching::Joins(_) => vec![(job.id, enqueued)],
            };
            for (request, arrived) in arrivals {
                let kind = EventKind::RequestStarted {
                    request,
                    client: self.clients[job.client].setup.id.clone(),
                    class: job.class,
                    downgraded,
                    batch,
                    waited_secs: now.since(arrived).as_secs_f64(),
                };
                self.publish(now, kind);
            }
        }
        for notice in &admitted.notices {
            let event = notice.to_event(&self.clients[job.client].setup.id);
            self.publish(now, event);
        }
        let variant = match (downgraded, job.alternative.take()) {
            (true, Some(alt)) => *alt,
            _ => job.primary,
        };
        self.running.insert(
            job.id,
            Running {
                client: job.client,
                class: job.class,
                variant,
                admitted,
                started: now,
                requests,
            },
        );
        out.started.push(Dispatched {
            request: job.id,
            downgraded,
        });
    }

    /// Settles a running request at its actual cost; what it was charged, if it ran.
    pub(super) fn finish(&mut self, completion: Completion, now: Timestamp) -> Option<Settled> {
        let Some(run) = self.running.remove(&completion.request) else {
            tracing::warn!(request = %completion.request, "finish of a request that is not running");
            return None;
        };
        let held = now.since(run.started);
        let actual = completion
            .actual
            .unwrap_or_else(|| self.gate.price(&run.variant.needs, held.as_secs_f64()));
        let slot = &mut self.clients[run.client];
        slot.running = slot.running.saturating_sub(1);
        let client = slot.setup.id.clone();
        let used = self.used(&run.variant.needs, completion.used.as_ref());
        match self.gate.finish(
            &client,
            &run.variant.needs,
            &run.admitted,
            actual,
            held,
            &used,
            now,
        ) {
            Ok(finished) => {
                let charged = finished.settlement.charged;
                self.spent += charged;
                self.clients[run.client]
                    .setup
                    .actor
                    .do_send(ClientOutcome::Completed {
                        class: run.class,
                        cost: charged,
                        requests: run.requests,
                    });
                if charged > Money::ZERO {
                    self.ledger.do_send(Charge {
                        client: client.clone(),
                        cost_type: CostType::ApiUsage,
                        category: self.gate.gauges()[run.variant.needs[0].0]
                            .pool()
                            .id
                            .0
                            .clone(),
                        amount: charged,
                        at: now,
                        metadata: Default::default(),
                        currency: None,
                        description: String::new(),
                    });
                }
                // At the finish, reaching 80% or 95% of the reservation is what a good
                // estimate does; only an actual cost past the reservation is worth an alert.
                // (While a reservation runs, `track` raises both levels as usage grows.)
                if let Some(alert) = finished.alert
                    && actual > run.admitted.reserved
                {
                    let event = alert.event(
                        run.admitted.reservation,
                        &client,
                        actual,
                        run.admitted.reserved,
                    );
                    self.publish(now, event);
                }
                if self.request_events {
                    let (request, client, held_secs) =
                        (completion.request, client.clone(), held.as_secs_f64());
                    let kind = match completion.expired_lease {
                        Some(lease_secs) => EventKind::RequestExpired {
                            request,
                            client,
                            lease_secs,
                            held_secs,
                            settled: true,
                            charged,
                        },
                        None => EventKind::RequestFinished {
                            request,
                            client,
                            charged,
                            efficiency: finished.settlement.efficiency,
                            held_secs,
                        },
                    };
                    self.publish(now, kind);
                }
                for notice in &finished.notices {
                    self.publish(now, notice.to_event(&client));
                }
                Some(Settled {
                    request: completion.request,
                    charged,
                    efficiency: finished.settlement.efficiency,
                })
            }
            Err(e) => {
                tracing::error!(request = %completion.request, error = %e, "settlement failed");
                None
            }
        }
    }
}

impl SchedulerActor {
    /// A usage report by pool id as the gate reads it: by position in the needs.
    fn used(&self, needs: &[(usize, u64)], usage: Option<&Usage>) -> Used {
        let Some(usage) = usage else {
            return Used::default();
        };
        let pools = (!usage.pools.is_empty()).then(|| {
            needs
                .iter()
                .map(|&(pool, asked)| {
                    let id = &self.gate.gauges()[pool].pool().id;
                    usage.pools.get(id).copied().unwrap_or(asked)
                })
                .collect()
        });
        Used {
            pools,
            compute_ms: usage.compute_ms,
        }
    }
}

fn micros(wait: Duration) -> u64 {
    wait.as_micros().min(u128::from(u64::MAX)) as u64
}
