//! Batching in the scheduler: like requests held until their batch forms, then queued
//! as one job.

use actix::prelude::*;

use super::messages::AddBatchRule;
use super::{BatchMember, Dispatches, FormedBatch, SchedulerActor};
use crate::actors::client::ClientOutcome;
use crate::model::{PoolKind, Timestamp};
use crate::policy::batch::{self, Combine, Gathered, Member};
use crate::policy::dispatch::{Batching, Job, JobVariant, earliest};

impl SchedulerActor {
    /// Holds a request with like ones until its batch forms; one of an unknown group is
    /// served alone.
    pub(super) fn gather(&mut self, job: Job, group: usize, now: Timestamp, out: &mut Dispatches) {
        let (id, client, class) = (job.id, job.client, job.class);
        match self.batcher.add(group, job, now) {
            Ok(gathered) => {
                self.queued(id, client, class, now);
                self.clients[client]
                    .setup
                    .actor
                    .do_send(ClientOutcome::Submitted { class });
                if let Gathered::Formed(members) = gathered {
                    self.form_batch(members, now, out);
                }
            }
            Err(unknown) => {
                tracing::warn!(error = %unknown, "served alone");
                let mut job = unknown.item;
                job.batching = Batching::Alone;
                self.admit_or_queue(job, now, true, now, out);
            }
        }
    }

    /// Turns gathered members into one job and queues it as waiting since its oldest
    /// member arrived. The batch draws the sum of its members' tokens (each member's work
    /// consumes them) but shares slots (it runs as one job, holding the largest member's
    /// slots), and reserves what its members would have reserved together.
    fn form_batch(&mut self, members: Vec<Member<Job>>, now: Timestamp, out: &mut Dispatches) {
        let gauges = self.gate.gauges();
        let combine = |pool: usize| match gauges.get(pool).map(|g| &g.pool().kind) {
            Some(PoolKind::Slot { .. }) => Combine::Max,
            Some(PoolKind::Rate { .. }) | None => Combine::Sum,
        };
        let primary = merge_variants(members.iter().map(|m| &m.item.primary), combine);
        let alternative = members
            .iter()
            .all(|m| m.item.alternative.is_some())
            .then(|| {
                Box::new(merge_variants(
                    members.iter().filter_map(|m| m.item.alternative.as_deref()),
                    combine,
                ))
            });
        let first = &members[0];
        let enqueued = first.arrived;
        let batch = Job {
            id: first.item.id,
            client: first.item.client,
            class: first.item.class,
            urgency: first.item.urgency,
            primary,
            alternative,
            batching: Batching::Of(
                members
                    .iter()
                    .map(|m| BatchMember {
                        request: m.item.id,
                        arrived: m.arrived,
                    })
                    .collect(),
            ),
        };
        self.clients[batch.client]
            .setup
            .actor
            .do_send(ClientOutcome::Batched {
                members: members.len() as u32,
            });
        out.batched.push(FormedBatch {
            id: batch.id,
            members: members.iter().map(|m| m.item.id).collect(),
        });
        self.admit_or_queue(batch, enqueued, false, now, out);
    }

    /// Forms the batches whose oldest member has waited long enough.
    pub(super) fn release_due(&mut self, now: Timestamp, out: &mut Dispatches) {
        if self.batcher.is_empty() {
            return;
        }
        for (_, members) in self.batcher.release_due(now) {
            self.form_batch(members, now, out);
        }
    }

    /// Asks to be woken when the next held batch falls due.
    pub(super) fn wake_for_batches(&self, out: &mut Dispatches) {
        if !self.batcher.is_empty() {
            out.wake_at = earliest(out.wake_at, self.batcher.next_deadline());
        }
    }
}

/// One variant of a batch from its members' variants of the same kind.
fn merge_variants<'a>(
    variants: impl Iterator<Item = &'a JobVariant> + Clone,
    combine: impl Fn(usize) -> Combine,
) -> JobVariant {
    JobVariant {
        needs: batch::combine_needs(variants.clone().map(|v| v.needs.as_slice()), combine),
        estimate: variants.map(|v| v.estimate).sum(),
    }
}

impl Handler<AddBatchRule> for SchedulerActor {
    type Result = usize;

    fn handle(&mut self, AddBatchRule(rule): AddBatchRule, _: &mut Context<Self>) -> usize {
        self.batcher.add_rule(rule)
    }
}
