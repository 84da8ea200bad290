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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Ticket(u64);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Aging {
    /// Points at saturation (0 disables aging).
    pub max_waiting: f64,
    pub full_after: Duration,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
        // Saturating: instants more than ~292 years from the origin must not panic.
        at.nanos().saturating_sub(self.origin.nanos()) as f64 / 1e9
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
        let slope = self.slope();
        let key = (
            Reverse(Score(static_points - slope * self.secs(now))),
            ticket.0,
        );
        let queue = &mut self.classes[class.index()];
        queue.young.insert(key, ticket);
        // Without aging nothing ever saturates, so `saturate` would never drain this.
        if slope > 0.0 {
            queue.arrivals.push_back((now, key));
        }
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
        // A young key's score keeps growing past the cap, so the overdue must move first.
        self.saturate(now);
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

    /// The ticket of the first item (in arrival order) that `matches` (a linear scan, for
    /// rare operations such as cancelling by request id).
    pub fn find(&self, mut matches: impl FnMut(&T) -> bool) -> Option<Ticket> {
        self.slots
            .iter()
            .find(|(_, slot)| matches(&slot.item))
            .map(|(ticket, _)| *ticket)
    }

    /// Items ahead of `ticket` in dispatch order: every item of a more urgent class plus
    /// those of its own class with a higher score now.
    pub fn position(&self, ticket: Ticket, now: Timestamp) -> Option<usize> {
        let slot = self.slots.get(&ticket)?;
        let own = self.score(ticket, now)?;
        let more_urgent: usize = RequestClass::ALL
            .iter()
            .take_while(|c| **c != slot.class)
            .map(|c| self.class_len(*c))
            .sum();
        let ahead_in_class = self
            .slots
            .iter()
            .filter(|(t, s)| s.class == slot.class && **t != ticket)
            .filter(|(t, _)| {
                let score = self.score(**t, now).unwrap_or(f64::MIN);
                score > own || (score == own && **t < ticket)
            })
            .count();
        Some(more_urgent + ahead_in_class)
    }

    /// Every queued item with its enqueue time and class, in ticket (arrival) order: for
    /// looking at the longest-waiting without a sort.
    pub fn oldest_first(&self) -> impl Iterator<Item = (&T, Timestamp, RequestClass)> {
        self.slots.values().map(|s| (&s.item, s.enqueued, s.class))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NORMAL: RequestClass = RequestClass::Normal;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_nanos(secs * 1_000_000_000)
    }

    /// 16 points after 64 s: a slope of 0.25 points per second, exact in binary.
    fn aging() -> Aging {
        Aging {
            max_waiting: 16.0,
            full_after: Duration::from_secs(64),
        }
    }

    fn no_aging() -> Aging {
        Aging {
            max_waiting: 0.0,
            full_after: Duration::from_secs(64),
        }
    }

    fn queues<T>(aging: Aging) -> ClassQueues<T> {
        ClassQueues::new(aging, t(0))
    }

    /// The items of `class` in the order a walk at `now` visits them (nothing is taken).
    fn order<T: Clone>(q: &mut ClassQueues<T>, class: RequestClass, now: Timestamp) -> Vec<T> {
        let mut seen = Vec::new();
        let taken = q.walk(class, now, usize::MAX, |item: &T, _| {
            seen.push(item.clone());
            Visit::<()>::Skip
        });
        assert!(taken.is_empty());
        seen
    }

    /// Seconds after which an item behind by `gap` points catches up, from the aging slope.
    fn catch_up_secs(gap: f64) -> i64 {
        let a = aging();
        let slope = a.max_waiting / a.full_after.as_secs_f64();
        (gap / slope) as i64
    }

    #[test]
    fn highest_static_score_comes_out_first() {
        let mut q = queues(aging());
        for (name, points) in [("low", 5.0), ("high", 30.0), ("mid", 10.0)] {
            q.push(NORMAL, name, points, t(0));
        }
        assert_eq!(order(&mut q, NORMAL, t(0)), ["high", "mid", "low"]);
        // While all are young, time passing changes nothing.
        assert_eq!(order(&mut q, NORMAL, t(40)), ["high", "mid", "low"]);
    }

    #[test]
    fn equal_scores_are_first_come_first_served() {
        let mut q = queues(aging());
        for name in ["a", "b", "c"] {
            q.push(NORMAL, name, 7.0, t(0));
        }
        assert_eq!(order(&mut q, NORMAL, t(1)), ["a", "b", "c"]);

        // Equal totals reached through waiting: 10 + 8 s × 0.25 = 12 + 0.
        let mut q = queues(aging());
        let later_high = q.push(NORMAL, "b", 12.0, t(8));
        let early_low = q.push(NORMAL, "a", 10.0, t(0));
        assert_eq!(q.score(early_low, t(20)), q.score(later_high, t(20)));
        assert_eq!(
            order(&mut q, NORMAL, t(20)),
            ["b", "a"],
            "ticket order breaks the tie"
        );
    }

    #[test]
    fn aging_lets_an_old_low_item_overtake_a_fresh_high_one() {
        let gap = 5.0;
        let even = catch_up_secs(gap);
        assert_eq!(even, 20);
        for (fresh_at, expected) in [
            (even - 4, ["fresh", "old"]),
            (even, ["old", "fresh"]), // a tie: the older ticket first
            (even + 4, ["old", "fresh"]),
        ] {
            let mut q = queues(aging());
            let old = q.push(NORMAL, "old", 0.0, t(0));
            let fresh = q.push(NORMAL, "fresh", gap, t(fresh_at));
            assert_eq!(q.score(old, t(fresh_at)), Some(fresh_at as f64 * 0.25));
            assert_eq!(q.score(fresh, t(fresh_at)), Some(gap));
            q.saturate(t(fresh_at));
            assert_eq!(
                order(&mut q, NORMAL, t(fresh_at)),
                expected,
                "at {fresh_at}s"
            );
        }
    }

    #[test]
    fn waiting_points_saturate() {
        let mut q = queues(aging());
        let ticket = q.push(NORMAL, "x", 3.0, t(0));
        assert_eq!(q.score(ticket, t(0)), Some(3.0));
        assert_eq!(q.score(ticket, t(32)), Some(11.0));
        assert_eq!(q.score(ticket, t(64)), Some(19.0));
        assert_eq!(q.score(ticket, t(10_000)), Some(19.0));
        assert_eq!(q.score(Ticket(99), t(0)), None);
    }

    #[test]
    fn saturated_items_order_by_static_score_then_age() {
        let mut q = queues(aging());
        q.push(NORMAL, "sat-3", 3.0, t(0));
        q.push(NORMAL, "sat-7", 7.0, t(1));
        q.push(NORMAL, "sat-4", 4.0, t(2));
        // Long after saturation each holds static + 16.
        q.saturate(t(100));
        assert_eq!(order(&mut q, NORMAL, t(100)), ["sat-7", "sat-4", "sat-3"]);
        assert_eq!(order(&mut q, NORMAL, t(5_000)), ["sat-7", "sat-4", "sat-3"]);

        // Fresh items of 21, 20 and 19 points against 23, 20 and 19: the older wins ties.
        q.push(NORMAL, "fresh-20", 20.0, t(100));
        q.push(NORMAL, "fresh-21", 21.0, t(100));
        q.push(NORMAL, "fresh-19", 19.0, t(100));
        q.saturate(t(100));
        assert_eq!(
            order(&mut q, NORMAL, t(100)),
            [
                "sat-7", "fresh-21", "sat-4", "fresh-20", "sat-3", "fresh-19"
            ]
        );
    }

    #[test]
    fn a_young_item_caps_its_waiting_points_when_it_saturates() {
        let mut q = queues(aging());
        q.push(NORMAL, "old-low", 0.0, t(0));
        q.push(NORMAL, "mid", 14.0, t(40));
        // At 64 s: old-low 16 (capped from now on), mid 14 + 6 = 20.
        q.saturate(t(64));
        assert_eq!(order(&mut q, NORMAL, t(64)), ["mid", "old-low"]);
        // At 1,000 s both are saturated: 16 against 30.
        q.saturate(t(1_000));
        assert_eq!(order(&mut q, NORMAL, t(1_000)), ["mid", "old-low"]);
    }

    #[test]
    fn walk_saturates_what_it_needs_on_its_own() {
        let mut q = queues(aging());
        q.push(NORMAL, "high", 10.0, t(0));
        q.push(NORMAL, "low", 0.0, t(10));
        q.saturate(t(64)); // only "high" has waited 64 s: 10 + 16 = 26
        // At 1,000 s "low" holds 0 + 16 = 16, not 0.25 × 990; no saturate call in between.
        assert_eq!(order(&mut q, NORMAL, t(1_000)), ["high", "low"]);
    }

    #[test]
    fn walk_visits_skips_takes_and_stops() {
        let build = || {
            let mut q = queues(aging());
            for (i, name) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
                q.push(NORMAL, name, 50.0 - 10.0 * i as f64, t(i as i64));
            }
            q.push(RequestClass::Batch, "other-class", 99.0, t(0));
            q
        };
        let now = t(10);

        // Take some, skip the rest: taken come back in walk order with their decisions.
        let mut q = build();
        let mut visited = Vec::new();
        let taken = q.walk(NORMAL, now, usize::MAX, |item, _| {
            visited.push(*item);
            match *item {
                "b" => Visit::Take(2),
                "d" => Visit::Take(4),
                _ => Visit::Skip,
            }
        });
        assert_eq!(visited, ["a", "b", "c", "d", "e"]);
        assert_eq!(taken, [("b", t(1), 2), ("d", t(3), 4)]);
        assert_eq!((q.len(), q.class_len(NORMAL)), (4, 3));
        assert_eq!(order(&mut q, NORMAL, now), ["a", "c", "e"]);

        // TakeAndStop ends the walk after taking.
        let mut q = build();
        let mut visited = Vec::new();
        let taken = q.walk(NORMAL, now, usize::MAX, |item, _| {
            visited.push(*item);
            if *item == "c" {
                Visit::TakeAndStop('c')
            } else {
                Visit::Skip
            }
        });
        assert_eq!(visited, ["a", "b", "c"]);
        assert_eq!(taken, [("c", t(2), 'c')]);
        assert_eq!(order(&mut q, NORMAL, now), ["a", "b", "d", "e"]);

        // Stop ends the walk without taking what it stops at.
        let mut q = build();
        let mut visited = Vec::new();
        let taken = q.walk(NORMAL, now, usize::MAX, |item, _| {
            visited.push(*item);
            match *item {
                "a" => Visit::Take(()),
                "c" => Visit::Stop,
                _ => Visit::Skip,
            }
        });
        assert_eq!(visited, ["a", "b", "c"]);
        assert_eq!(taken, [("a", t(0), ())]);
        assert_eq!(q.class_len(NORMAL), 4);

        // The limit counts visits, taken or not; the enqueue time is passed to the visitor.
        let mut q = build();
        let mut seen = Vec::new();
        let taken = q.walk(NORMAL, now, 2, |item, at| {
            seen.push((*item, at));
            Visit::Take(())
        });
        assert_eq!(seen, [("a", t(0)), ("b", t(1))]);
        assert_eq!(taken.len(), 2);
        assert!(q.walk(NORMAL, now, 0, |_, _| Visit::Take(())).is_empty());
        assert_eq!(q.class_len(NORMAL), 3);

        // Other classes are neither visited nor touched.
        assert_eq!(order(&mut q, RequestClass::Batch, now), ["other-class"]);
        assert!(order(&mut q, RequestClass::Immediate, now).is_empty());
    }

    #[test]
    fn remove_finds_young_and_saturated_items() {
        let mut q = queues(aging());
        let a = q.push(NORMAL, "a", 1.0, t(0));
        let b = q.push(NORMAL, "b", 2.0, t(0));
        let c = q.push(NORMAL, "c", 3.0, t(100));
        q.saturate(t(100));
        assert_eq!(q.remove(b), Some("b")); // saturated
        assert_eq!(q.remove(c), Some("c")); // young
        assert_eq!(q.remove(b), None);
        assert_eq!(q.get(b), None);
        assert_eq!(q.get(a), Some((&"a", t(0), NORMAL)));
        assert_eq!((q.len(), q.class_len(NORMAL)), (1, 1));
        assert_eq!(order(&mut q, NORMAL, t(100)), ["a"]);

        // A young item removed before saturating leaves nothing behind to saturate.
        let mut q = queues(aging());
        let gone = q.push(NORMAL, "gone", 50.0, t(0));
        q.remove(gone);
        q.push(NORMAL, "kept", 1.0, t(10));
        q.saturate(t(80));
        assert_eq!((q.len(), q.class_len(NORMAL)), (1, 1));
        assert_eq!(order(&mut q, NORMAL, t(80)), ["kept"]);
        assert!(q.classes[NORMAL.index()].arrivals.is_empty());
    }

    #[test]
    fn drain_empties_every_class_oldest_first() {
        let mut q = queues(aging());
        q.push(RequestClass::Batch, "first", 1.0, t(0));
        q.push(RequestClass::Immediate, "second", 90.0, t(1));
        q.push(NORMAL, "third", 5.0, t(200));
        q.saturate(t(200));
        assert_eq!(q.oldest(), Some(t(0)));
        assert_eq!(
            q.drain(),
            [
                ("first", t(0), RequestClass::Batch),
                ("second", t(1), RequestClass::Immediate),
                ("third", t(200), NORMAL),
            ]
        );
        assert!(q.is_empty());
        assert_eq!(q.oldest(), None);
        for class in RequestClass::ALL {
            assert_eq!(q.class_len(class), 0);
            assert!(order(&mut q, class, t(300)).is_empty());
        }
        // Still usable afterwards, and nothing of the old items is saturated later.
        q.push(NORMAL, "after", 1.0, t(300));
        q.saturate(t(1_000));
        assert_eq!(order(&mut q, NORMAL, t(1_000)), ["after"]);
    }

    #[test]
    fn lengths_count_per_class_and_overall() {
        let mut q = queues(aging());
        assert!(q.is_empty());
        for (i, class) in RequestClass::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                q.push(class, i, 0.0, t(0));
            }
        }
        assert_eq!(q.len(), 15);
        assert!(!q.is_empty());
        q.saturate(t(64)); // moving items between maps keeps the counts
        for (i, class) in RequestClass::ALL.into_iter().enumerate() {
            assert_eq!(q.class_len(class), i + 1);
        }
    }

    #[test]
    fn without_aging_the_order_is_static() {
        for disabled in [
            no_aging(),
            Aging {
                max_waiting: 16.0,
                full_after: Duration::ZERO,
            },
        ] {
            let mut q = queues(disabled);
            let old = q.push(NORMAL, "old", 0.0, t(0));
            q.push(NORMAL, "fresh", 1.0, t(1_000_000));
            q.saturate(t(2_000_000));
            assert_eq!(q.score(old, t(2_000_000)), Some(0.0));
            assert_eq!(order(&mut q, NORMAL, t(2_000_000)), ["fresh", "old"]);
        }
    }

    #[test]
    fn without_aging_nothing_is_kept_for_saturation() {
        let mut q = queues(no_aging());
        for i in 0..1_000 {
            q.push(NORMAL, i, 0.0, t(i));
            q.walk(NORMAL, t(i), 1, |_, _| Visit::Take(()));
        }
        assert!(q.is_empty());
        assert!(q.classes[NORMAL.index()].arrivals.is_empty());
    }

    #[test]
    fn instants_far_from_the_origin_do_not_overflow() {
        let mut q = ClassQueues::new(aging(), Timestamp::from_nanos(i64::MIN));
        let ticket = q.push(NORMAL, "late", 1.0, Timestamp::MAX);
        assert_eq!(q.score(ticket, Timestamp::MAX), Some(1.0));
        assert_eq!(order(&mut q, NORMAL, Timestamp::MAX), ["late"]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Class index, static points, seconds after the previous operation.
        Push(usize, u8, u8),
        Saturate(u8),
        /// Removes the n-th pushed item (modulo the count), if still queued.
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..2usize, 0..24u8, 0..40u8).prop_map(|(c, p, dt)| Op::Push(c, p, dt)),
            1 => (0..80u8).prop_map(Op::Saturate),
            1 => any::<usize>().prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The invariant keys give, at any `now`, the order of the scores themselves:
        /// highest `score(ticket, now)` first, ties in arrival order.
        #[test]
        fn walk_order_is_score_order(
            ops in prop::collection::vec(op(), 1..60),
            extra in 0..200i64,
        ) {
            let mut q = queues(aging());
            let mut tickets = Vec::new();
            let mut clock = 0;
            for op in ops {
                match op {
                    Op::Push(class, points, dt) => {
                        clock += i64::from(dt);
                        let class = RequestClass::ALL[class];
                        tickets.push(q.push(class, tickets.len(), f64::from(points), t(clock)));
                    }
                    Op::Saturate(dt) => {
                        clock += i64::from(dt);
                        q.saturate(t(clock));
                    }
                    Op::Remove(n) if !tickets.is_empty() => {
                        q.remove(tickets[n % tickets.len()]);
                    }
                    Op::Remove(_) => {}
                }
            }
            let now = t(clock + extra);
            q.saturate(now);
            for class in RequestClass::ALL {
                let mut expected: Vec<usize> = (0..tickets.len())
                    .filter(|&i| q.get(tickets[i]).is_some_and(|(_, _, c)| c == class))
                    .collect();
                expected.sort_by(|&a, &b| {
                    let score = |i: usize| q.score(tickets[i], now).unwrap();
                    score(b).total_cmp(&score(a)).then(tickets[a].cmp(&tickets[b]))
                });
                prop_assert_eq!(order(&mut q, class, now), expected);
            }
        }
    }
}
