//! The five class queues, each ordered by priority score with aging.
//!
//! A request's score is `static + waiting(age)`, where waiting points grow linearly at
//! `slope` points per second until they saturate at `max_waiting` points after `full_after`.
//! While unsaturated, `static − slope × enqueued_at` orders requests the same way at every
//! instant, so each class keeps two ordered maps: *young* requests keyed by that invariant,
//! and *saturated* ones keyed by `static` (all of them have the full waiting points). Requests
//! move from young to saturated in arrival order. Every operation is O(log n), and the
//! order never needs recomputing as time passes.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::model::{RequestClass, Timestamp};

/// A total order on scores (NaN never enters: scores are built from validated weights).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Highest score first, then first come first served.
type Key = (Reverse<Score>, u64);

/// Identifies a queued item (its arrival sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

#[derive(Debug)]
struct Slot<T> {
    item: T,
    enqueued: Timestamp,
    static_points: f64,
    class: RequestClass,
    /// Where it sits: its key, and whether in the saturated map.
    key: Key,
    saturated: bool,
}

/// How waiting time turns into priority.
#[derive(Debug, Clone, Copy)]
pub struct Aging {
    /// Points at saturation (0 disables aging).
    pub max_waiting: f64,
    pub full_after: Duration,
}

#[derive(Debug)]
struct ClassQueue {
    young: BTreeMap<Key, Ticket>,
    saturated: BTreeMap<Key, Ticket>,
    /// Young tickets in arrival order, with their keys, to saturate them in turn.
    arrivals: VecDeque<(Timestamp, Key)>,
}

impl ClassQueue {
    fn new() -> Self {
        ClassQueue {
            young: BTreeMap::new(),
            saturated: BTreeMap::new(),
            arrivals: VecDeque::new(),
        }
    }
}

/// Queued items of five classes, most urgent class first, highest score first within one.
#[derive(Debug)]
pub struct ClassQueues<T> {
    aging: Aging,
    /// Origin of the invariant keys, so they stay small and precise.
    origin: Timestamp,
    classes: [ClassQueue; 5],
    slots: BTreeMap<Ticket, Slot<T>>,
    next_ticket: u64,
}

impl<T> ClassQueues<T> {
    pub fn new(aging: Aging, origin: Timestamp) -> Self {
        ClassQueues {
            aging,
            origin,
            classes: std::array::from_fn(|_| ClassQueue::new()),
            slots: BTreeMap::new(),
            next_ticket: 0,
        }
    }

    fn slope(&self) -> f64 {
        if self.aging.max_waiting > 0.0 && !self.aging.full_after.is_zero() {
            self.aging.max_waiting / self.aging.full_after.as_secs_f64()
        } else {
            0.0
        }
    }

    fn secs(&self, at: Timestamp) -> f64 {
        (at.nanos() - self.origin.nanos()) as f64 / 1e9
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn class_len(&self, class: RequestClass) -> usize {
        let q = &self.classes[class.index()];
        q.young.len() + q.saturated.len()
    }

    /// Queues an item whose score without waiting is `static_points`.
    pub fn push(
        &mut self,
        class: RequestClass,
        item: T,
        static_points: f64,
        now: Timestamp,
    ) -> Ticket {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        let key = (
            Reverse(Score(static_points - self.slope() * self.secs(now))),
            ticket.0,
        );
        let queue = &mut self.classes[class.index()];
        queue.young.insert(key, ticket);
        queue.arrivals.push_back((now, key));
        self.slots.insert(
            ticket,
            Slot {
                item,
                enqueued: now,
                static_points,
                class,
                key,
                saturated: false,
            },
        );
        ticket
    }

    /// Moves items that have waited long enough into the saturated order.
    pub fn saturate(&mut self, now: Timestamp) {
        if self.slope() == 0.0 {
            return;
        }
        let full_after = self.aging.full_after;
        for queue in &mut self.classes {
            while let Some(&(enqueued, key)) = queue.arrivals.front() {
                if now.since(enqueued) < full_after {
                    break;
                }
                queue.arrivals.pop_front();
                // Items removed meanwhile are simply gone from `young`.
                if let Some(ticket) = queue.young.remove(&key)
                    && let Some(slot) = self.slots.get_mut(&ticket)
                {
                    slot.key = (Reverse(Score(slot.static_points)), key.1);
                    slot.saturated = true;
                    queue.saturated.insert(slot.key, ticket);
                }
            }
        }
    }

    /// The score of a queued item at `now`.
    pub fn score(&self, ticket: Ticket, now: Timestamp) -> Option<f64> {
        let slot = self.slots.get(&ticket)?;
        let waited = now.since(slot.enqueued).min(self.aging.full_after);
        Some(slot.static_points + self.slope() * waited.as_secs_f64())
    }

    pub fn get(&self, ticket: Ticket) -> Option<(&T, Timestamp, RequestClass)> {
        self.slots
            .get(&ticket)
            .map(|s| (&s.item, s.enqueued, s.class))
    }

    /// Removes an item, wherever it is.
    pub fn remove(&mut self, ticket: Ticket) -> Option<T> {
        let slot = self.slots.remove(&ticket)?;
        let queue = &mut self.classes[slot.class.index()];
        if slot.saturated {
            queue.saturated.remove(&slot.key);
        } else {
            queue.young.remove(&slot.key);
        }
        Some(slot.item)
    }

    /// Walks one class in priority order at `now`. `visit` sees each item and its enqueue
    /// time and answers what to do with it; the walk ends at a stop or after `limit` items.
    /// Taken items are removed and returned in walk order with the visitor's decision.
    pub fn walk<D>(
        &mut self,
        class: RequestClass,
        now: Timestamp,
        limit: usize,
        mut visit: impl FnMut(&T, Timestamp) -> Visit<D>,
    ) -> Vec<(T, Timestamp, D)> {
        let slope = self.slope();
        let now_secs = self.secs(now);
        let saturated_bonus = self.aging.max_waiting;
        let mut taken: Vec<(Ticket, D)> = Vec::new();
        let queue = &self.classes[class.index()];
        let mut young = queue.young.iter().peekable();
        let mut saturated = queue.saturated.iter().peekable();
        for _ in 0..limit {
            // Current scores: young = key + slope × now; saturated = static + the maximum.
            let y = young
                .peek()
                .map(|((Reverse(s), seq), _)| (s.0 + slope * now_secs, *seq));
            let s = saturated
                .peek()
                .map(|((Reverse(st), seq), _)| (st.0 + saturated_bonus, *seq));
            let next = match (y, s) {
                (None, None) => break,
                (Some(_), None) => young.next(),
                (None, Some(_)) => saturated.next(),
                (Some((ys, yseq)), Some((ss, sseq))) => {
                    if ss > ys || (ss == ys && sseq < yseq) {
                        saturated.next()
                    } else {
                        young.next()
                    }
                }
            };
            let Some((_, ticket)) = next else { break };
            let slot = &self.slots[ticket];
            match visit(&slot.item, slot.enqueued) {
                Visit::Skip => {}
                Visit::Stop => break,
                Visit::Take(decision) => taken.push((*ticket, decision)),
                Visit::TakeAndStop(decision) => {
                    taken.push((*ticket, decision));
                    break;
                }
            }
        }
        taken
            .into_iter()
            .filter_map(|(ticket, decision)| {
                let enqueued = self.slots.get(&ticket)?.enqueued;
                self.remove(ticket).map(|item| (item, enqueued, decision))
            })
            .collect()
    }

    /// Every queued item, oldest first (for reports and shutdown).
    pub fn drain(&mut self) -> Vec<(T, Timestamp, RequestClass)> {
        for q in &mut self.classes {
            *q = ClassQueue::new();
        }
        std::mem::take(&mut self.slots)
            .into_values()
            .map(|s| (s.item, s.enqueued, s.class))
            .collect()
    }

    /// The enqueue time of the oldest queued item (tickets are issued in arrival order).
    pub fn oldest(&self) -> Option<Timestamp> {
        self.slots.values().next().map(|s| s.enqueued)
    }
}

/// What a walk does with the item it visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit<D> {
    Skip,
    Take(D),
    TakeAndStop(D),
    Stop,
}
