//! The scheduler actor with real actors on a virtual clock.

use super::*;
use crate::actors::ClientActor;
use crate::clock::VirtualClock;
use crate::model::{Pool, PoolId, PoolKind};
use crate::policy::reservation::ReservationPolicy;
use std::sync::Arc;

fn bucket(id: &str, capacity: f64) -> Pool {
    Pool {
        id: PoolId::new(id),
        kind: PoolKind::Rate {
            capacity,
            refill_per_sec: 1.0,
            cost_per_1k_units: Money::ZERO,
        },
        autoscale: None,
    }
}

fn job(id: u64, pool: usize, amount: u64) -> Job {
    Job {
        id: RequestId(id),
        client: 0,
        class: RequestClass::Normal,
        urgency: 0.5,
        primary: JobVariant {
            needs: vec![(pool, amount)],
            estimate: Some(Money::ZERO),
        },
        alternative: None,
        batching: Batching::Alone,
    }
}

#[test]
fn a_request_no_pool_could_ever_hold_is_refused_on_arrival_even_behind_a_queue() {
    actix::System::new().block_on(async {
        let start = Timestamp::EPOCH;
        let clock: SharedClock = Arc::new(VirtualClock::starting_at(start));
        let mut gate = Gate::new(ReservationPolicy::default()).unwrap();
        gate.add_pool(bucket("small", 10_000.0), start).unwrap();
        gate.add_pool(bucket("large", 20_000.0), start).unwrap();
        let client = ClientId::new("c");
        gate.credits_mut()
            .open_account(client.clone(), Money::from_units(100))
            .unwrap();
        let setup = ClientSetup {
            id: client.clone(),
            tier: Tier::Standard,
            max_concurrent: 10,
            active: true,
            actor: ClientActor::new(client).start(),
        };
        let config = SchedulerSettings::default();
        let ledger = LedgerActor::new(10).start();
        let scheduler = SchedulerActor::new(clock, config, gate, vec![setup], ledger)
            .unwrap()
            .start();

        let mut downgradable = job(3, 0, 12_000);
        downgradable.alternative = Some(Box::new(JobVariant {
            needs: vec![(1, 12_000)],
            estimate: Some(Money::ZERO),
        }));
        let out = scheduler
            .send(Submit(vec![
                job(0, 0, 9_000),
                // Waits for the refill, so a queue stands ahead of the next two.
                job(1, 0, 9_000),
                job(2, 0, 12_000),
                downgradable,
            ]))
            .await
            .unwrap();
        let refused: Vec<_> = out.refused.iter().map(|(id, r)| (*id, r.reason)).collect();
        assert_eq!(refused, [(RequestId(2), RefusalReason::Rate)]);
        let started: Vec<_> = out
            .started
            .iter()
            .map(|d| (d.request, d.downgraded))
            .collect();
        assert_eq!(started, [(RequestId(0), false), (RequestId(3), true)]);
    });
}
