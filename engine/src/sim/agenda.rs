//! The agenda: timed events of a run, earliest first, ties broken first-scheduled first,
//! so a run is repeatable event for event.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::model::{BookingId, RequestId, Timestamp};

/// What happens at an instant of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    Arrival {
        workload: usize,
    },
    Finish {
        request: RequestId,
    },
    BookingArrival {
        stream: usize,
    },
    BookingEnd {
        booking: BookingId,
    },
    /// Queued work may start without any other event (tokens refill, off-peak opens, a
    /// held batch falls due).
    Wake,
    /// The monitor samples.
    Tick,
    /// The scenario's timed event of this index.
    Scenario {
        index: usize,
    },
    /// The next recorded arrival of the trace.
    Traced,
    /// A recorded cancellation of a traced request.
    Cancel {
        request: RequestId,
    },
    /// The monitor samples at an instant the recording sampled at.
    RecordedTick,
}

#[derive(Debug)]
struct Timed {
    at: Timestamp,
    seq: u64,
    what: Happening,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    /// Earliest first, then first scheduled first (a min-heap through reversal).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The run's timed events.
#[derive(Debug, Default)]
pub struct Agenda {
    heap: BinaryHeap<Timed>,
    seq: u64,
    /// The one wake that counts: a wake asked for later than a pending earlier one is
    /// not scheduled, and a stale one is skipped.
    wake_at: Option<Timestamp>,
}

impl Agenda {
    pub fn push(&mut self, at: Timestamp, what: Happening) {
        self.seq += 1;
        self.heap.push(Timed {
            at,
            seq: self.seq,
            what,
        });
    }

    /// The next event, removed.
    pub fn pop(&mut self) -> Option<(Timestamp, Happening)> {
        self.heap.pop().map(|timed| (timed.at, timed.what))
    }

    /// Schedules a wake at `at` unless one is due sooner.
    pub fn wake_at(&mut self, at: Timestamp) {
        if self.wake_at.is_none_or(|w| at < w) {
            self.wake_at = Some(at);
            self.push(at, Happening::Wake);
        }
    }

    /// Whether a wake popped at `now` is the one that counts (and consumes it).
    pub fn take_wake(&mut self, now: Timestamp) -> bool {
        if self.wake_at == Some(now) {
            self.wake_at = None;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: i64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    #[test]
    fn earliest_first_and_ties_in_scheduling_order() {
        let mut agenda = Agenda::default();
        agenda.push(at(5), Happening::Tick);
        agenda.push(at(1), Happening::Arrival { workload: 0 });
        agenda.push(at(5), Happening::Arrival { workload: 1 });
        agenda.push(at(1), Happening::Arrival { workload: 2 });
        let order: Vec<_> = std::iter::from_fn(|| agenda.pop()).collect();
        assert_eq!(
            order,
            [
                (at(1), Happening::Arrival { workload: 0 }),
                (at(1), Happening::Arrival { workload: 2 }),
                (at(5), Happening::Tick),
                (at(5), Happening::Arrival { workload: 1 }),
            ]
        );
    }

    #[test]
    fn only_the_earliest_wake_counts() {
        let mut agenda = Agenda::default();
        agenda.wake_at(at(10));
        agenda.wake_at(at(20)); // later than the pending one: not scheduled
        agenda.wake_at(at(5));
        assert_eq!(agenda.pop(), Some((at(5), Happening::Wake)));
        assert!(agenda.take_wake(at(5)));
        assert_eq!(agenda.pop(), Some((at(10), Happening::Wake)));
        assert!(!agenda.take_wake(at(10)), "superseded by the wake at 5");
        assert_eq!(agenda.pop(), None);
    }
}
