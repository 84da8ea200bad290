//! Records a bursty day of traffic with the live engine into a real SQLite file, on a
//! clock the program steps (a day in seconds), for `qm trace export` and `qm replay`.
//!
//! ```text
//! cargo run --release -p quartermaster --example record_day -- DB [REQUESTS] [SEED]
//! ```
//!
//! Three clients share a GPU pool: a quiet night, a morning and an afternoon burst that
//! the pool's four slots cannot keep up with. Every change is journaled as the live
//! engine journals it (the monitor ticks every ten seconds, as on the wall clock).
//! `REQUESTS` (about 2,500 by default) scales the traffic and the pool together.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use quartermaster::clock::{SharedClock, VirtualClock};
use quartermaster::live::{LiveConfig, LiveEngine, SubmitOutcome};
use quartermaster::model::{
    Client, ClientId, Metric, Money, Need, Period, Pool, PoolId, PoolKind, Quota, QuotaScope,
    Request, RequestClass, RequestId, Tier, Timestamp,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Arrivals per second by hour of the day (before scaling): night, two bursts.
fn rate(hour: f64) -> f64 {
    match hour {
        h if (9.0..11.0).contains(&h) => 0.07,
        h if (14.0..16.0).contains(&h) => 0.065,
        h if (7.0..19.0).contains(&h) => 0.035,
        _ => 0.012,
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Tick,
    Arrive,
    Complete(u64),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: record_day DB [REQUESTS] [SEED]");
        std::process::exit(2);
    };
    let requests: f64 = args.get(2).map_or(Ok(2_500.0), |n| n.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(7), |n| n.parse())?;
    let scale = requests / 2_500.0;
    let _ = std::fs::remove_file(path);
    let start = Timestamp::parse("2026-03-02T00:00:00Z")?;
    let end = start + Duration::from_secs(86_400);
    let clock = VirtualClock::starting_at(start);
    let shared: SharedClock = Arc::new(clock.clone());
    let mut config = LiveConfig::default();
    // Snapshots (each holds every request's record) by count only: by time they would
    // come every sixty seconds of this fast-forwarded day.
    config.storage.snapshot_every_commands = 250_000;
    config.storage.snapshot_every_secs = 0.0;
    let engine = LiveEngine::open_on(path, config, shared).await?;

    let price = Money::from_micros(2_400_000);
    engine
        .add_pool(Pool {
            id: PoolId::new("gpu"),
            kind: PoolKind::Slot {
                slots: (4.0 * scale).round().max(1.0) as u32,
                cost_per_hour: price,
            },
            autoscale: None,
        })
        .await?;
    let clients = [
        ("research", Tier::Premium, RequestClass::Fast, 0.45),
        ("support", Tier::Standard, RequestClass::Normal, 0.40),
        ("batch-jobs", Tier::Basic, RequestClass::Batch, 0.15),
    ];
    for (name, tier, _, _) in clients {
        let mut client = Client::new(name, tier);
        client.credits = Money::from_units(1_000_000);
        client.max_concurrent = Some(1_000_000);
        client.monthly_budget = quartermaster::model::MonthlyBudget::Unlimited;
        engine.add_client(client).await?;
    }
    engine
        .set_quota(Quota::new(
            "support-calls",
            QuotaScope::Client(ClientId::new("support")),
            Metric::ApiCalls,
            (2_000.0 * scale) as u64,
            Period::Daily,
        ))
        .await?;

    let mut rng = SmallRng::seed_from_u64(seed);
    let mut agenda: BinaryHeap<Reverse<(Timestamp, Step)>> = BinaryHeap::new();
    agenda.push(Reverse((start, Step::Arrive)));
    agenda.push(Reverse((start + Duration::from_secs(10), Step::Tick)));
    // Requests that wait for a slot: their outcome comes with a later completion.
    let mut waiting: Vec<(
        RequestId,
        f64,
        tokio::sync::oneshot::Receiver<SubmitOutcome>,
    )> = Vec::new();
    let (mut submitted, mut refused) = (0u64, 0u64);
    let mut service_of = std::collections::HashMap::new();
    while let Some(Reverse((at, step))) = agenda.pop() {
        if at > end && !matches!(step, Step::Complete(_)) {
            continue;
        }
        clock.advance_to(at);
        match step {
            Step::Tick => {
                engine.tick().await?;
                agenda.push(Reverse((at + Duration::from_secs(10), Step::Tick)));
            }
            Step::Arrive => {
                let hour = at.since(start).as_secs_f64() / 3_600.0;
                let gap = -(1.0 - rng.random::<f64>()).ln() / (rate(hour) * scale);
                agenda.push(Reverse((at + Duration::from_secs_f64(gap), Step::Arrive)));
                let pick = rng.random::<f64>();
                let (name, _, class, _) = if pick < 0.45 {
                    clients[0]
                } else if pick < 0.85 {
                    clients[1]
                } else {
                    clients[2]
                };
                let service = -(1.0 - rng.random::<f64>()).ln() * 60.0 + 1.0;
                let request = Request {
                    id: RequestId(0),
                    client: ClientId::new(name),
                    class,
                    urgency: (rng.random::<f64>() * 10.0).round() / 10.0,
                    needs: vec![Need {
                        pool: PoolId::new("gpu"),
                        amount: 1,
                    }],
                    // Priced at the mean service time.
                    estimated_cost: Some(price.mul_div(61, 3_600)),
                    alternative: None,
                    batch: None,
                    lease_secs: None,
                };
                submitted += 1;
                let (id, outcome) = engine.enqueue(request).await?;
                service_of.insert(id, service);
                waiting.push((id, service, outcome));
            }
            Step::Complete(id) => {
                let service: f64 = service_of.remove(&RequestId(id)).unwrap_or(0.0);
                // The work cost its slot-time, give or take what the estimate missed.
                let actual = price.mul_div((service * 1_000.0) as i128, 3_600_000);
                engine.complete(RequestId(id), Some(actual)).await?;
            }
        }
        // Outcomes decided by this step: started ones finish after their service.
        let mut still = Vec::with_capacity(waiting.len());
        for (id, service, mut outcome) in waiting.drain(..) {
            match outcome.try_recv() {
                Ok(SubmitOutcome::Started { .. }) => {
                    let done = at + Duration::from_secs_f64(service);
                    agenda.push(Reverse((done, Step::Complete(id.0))));
                }
                Ok(SubmitOutcome::Refused { .. }) => refused += 1,
                Err(_) => still.push((id, service, outcome)),
            }
        }
        waiting = still;
    }
    engine.close().await?;
    eprintln!("recorded {submitted} requests ({refused} refused) into {path}");
    Ok(())
}
