//! The M/M/c queue as a bare binary-heap event loop: the physical limit for the
//! simulator's replay rate.
//!
//! Same RNG (`SmallRng`) and distribution (`rand_distr::Exp`) as the simulator, no actors,
//! no scheduler, no accounting: one heap of (time, sequence) events and a FIFO queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Exp};

/// The queue to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mmc {
    /// λ, customers per second.
    pub arrival_rate: f64,
    /// μ, customers per second per server.
    pub service_rate: f64,
    pub servers: u32,
    pub customers: u64,
    pub seed: u64,
}

/// What one replay measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeapRun {
    pub customers: u64,
    /// Mean time from arrival to start of service, seconds of simulated time.
    pub mean_wait: f64,
    pub wall: Duration,
}

impl HeapRun {
    pub fn customers_per_sec(&self) -> f64 {
        self.customers as f64 / self.wall.as_secs_f64()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    Departure,
}

/// An event's place in the heap: simulated time, then the order of scheduling, so ties
/// leave first-in-first-out.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key {
    at: f64,
    sequence: u64,
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at
            .total_cmp(&other.at)
            .then(self.sequence.cmp(&other.sequence))
    }
}

/// A rate the loop cannot draw from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} must be a positive, finite number of customers per second, not {value}")]
pub struct RateError {
    pub field: &'static str,
    pub value: f64,
}

fn exponential(field: &'static str, value: f64) -> Result<Exp<f64>, RateError> {
    let error = RateError { field, value };
    if !(value.is_finite() && value > 0.0) {
        return Err(error);
    }
    Exp::new(value).map_err(|_| error)
}

/// Replays `mmc.customers` arrivals to the end of their service.
pub fn run(mmc: &Mmc) -> Result<HeapRun, RateError> {
    let interarrival = exponential("arrival_rate", mmc.arrival_rate)?;
    let service = exponential("service_rate", mmc.service_rate)?;
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(mmc.seed);
    let mut events = BinaryHeap::new();
    let mut sequence = 0;
    let mut schedule = |events: &mut BinaryHeap<Reverse<(Key, Event)>>, at, event| {
        events.push(Reverse((Key { at, sequence }, event)));
        sequence += 1;
    };
    let mut waiting: VecDeque<f64> = VecDeque::new();
    let mut busy = 0;
    let mut arrived = 0;
    let mut total_wait = 0.0;
    if mmc.customers > 0 {
        schedule(&mut events, interarrival.sample(&mut rng), Event::Arrival);
    }
    while let Some(Reverse((Key { at: now, .. }, event))) = events.pop() {
        match event {
            Event::Arrival => {
                arrived += 1;
                if arrived < mmc.customers {
                    let next = now + interarrival.sample(&mut rng);
                    schedule(&mut events, next, Event::Arrival);
                }
                if busy < mmc.servers {
                    busy += 1;
                    let done = now + service.sample(&mut rng);
                    schedule(&mut events, done, Event::Departure);
                } else {
                    waiting.push_back(now);
                }
            }
            Event::Departure => match waiting.pop_front() {
                Some(arrived_at) => {
                    total_wait += now - arrived_at;
                    let done = now + service.sample(&mut rng);
                    schedule(&mut events, done, Event::Departure);
                }
                None => busy -= 1,
            },
        }
    }
    Ok(HeapRun {
        customers: arrived,
        mean_wait: if arrived == 0 {
            0.0
        } else {
            total_wait / arrived as f64
        },
        wall: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quartermaster::sim::report::erlang_c_mean_wait;

    #[test]
    fn the_mean_wait_matches_erlang_c() {
        let mmc = Mmc {
            arrival_rate: 6.4,
            service_rate: 1.0,
            servers: 8,
            customers: 400_000,
            seed: 42,
        };
        let run = run(&mmc).unwrap();
        let expected = erlang_c_mean_wait(8, 6.4, 1.0).unwrap();
        assert_eq!(run.customers, 400_000);
        let error = (run.mean_wait - expected).abs() / expected;
        assert!(
            error < 0.05,
            "measured {} vs Erlang C {expected}",
            run.mean_wait
        );
    }

    #[test]
    fn an_idle_queue_never_waits() {
        let mmc = Mmc {
            arrival_rate: 0.001,
            service_rate: 1000.0,
            servers: 4,
            customers: 1_000,
            seed: 1,
        };
        assert!(run(&mmc).unwrap().mean_wait < 1e-3);
    }

    #[test]
    fn a_zero_rate_is_refused() {
        let mmc = Mmc {
            arrival_rate: 0.0,
            service_rate: 1.0,
            servers: 1,
            customers: 10,
            seed: 1,
        };
        let error = run(&mmc).unwrap_err();
        assert_eq!(error.field, "arrival_rate");
    }
}
