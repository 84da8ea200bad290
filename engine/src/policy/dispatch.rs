//! Dispatch: what may start now. A request as the scheduler queues it (a `Job`), the
//! decision of the admission gate on it with the downgrade to its cheaper alternative, the
//! scan of one class queue that starts what fits while skipping past pools that are full,
//! and the off-peak window in which deferred work runs.

use crate::model::{ClientId, Money, RequestClass, RequestId, Timestamp, ValidationError, ensure};

use super::admission::{Admitted, Blocker, Demand, Gate, Refusal, RefusalReason, Verdict};
use super::queue::{ClassQueues, Visit};

/// Candidates looked at per class in one pass: enough to fill free capacity past a few
/// blocked requests, bounded so a pass stays cheap with a million queued.
pub const SCAN_LIMIT: usize = 256;

/// One way to serve a request: what it draws and what it is expected to cost.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobVariant {
    /// (pool index, amount)
    pub needs: Vec<(usize, u64)>,
    pub estimate: Option<Money>,
}

/// A request as the scheduler queues it: pools and clients by index.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub id: RequestId,
    pub client: usize,
    pub class: RequestClass,
    pub urgency: f64,
    pub primary: JobVariant,
    pub alternative: Option<Box<JobVariant>>,
    pub batching: Batching,
}

/// How a job stands towards batching.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Batching {
    /// Served on its own.
    #[default]
    Alone,
    /// Held with like requests under the scheduler's batch rule of this index until the
    /// batch forms.
    Joins(usize),
    /// A formed batch: its members, oldest first.
    Of(Box<[BatchMember]>),
}

/// A request inside a formed batch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchMember {
    pub request: RequestId,
    pub arrived: Timestamp,
}

impl Job {
    /// Requests this job serves: its members if it is a batch, else one.
    pub fn requests(&self) -> u32 {
        match &self.batching {
            Batching::Of(members) => members.len() as u32,
            Batching::Alone | Batching::Joins(_) => 1,
        }
    }

    /// The requests it serves: its members if it is a batch, else itself.
    pub fn members(&self) -> impl Iterator<Item = RequestId> + '_ {
        let (members, alone) = match &self.batching {
            Batching::Of(members) => (&members[..], None),
            Batching::Alone | Batching::Joins(_) => (&[][..], Some(self.id)),
        };
        members.iter().map(|m| m.request).chain(alone)
    }
}

/// What the gate says of a job.
#[derive(Debug)]
pub enum Decision {
    /// Start it; `true` when on its cheaper alternative.
    Start(Admitted, bool),
    Refuse(Refusal),
    Wait(Blocker),
}

/// Asks the gate for `job`, trying its cheaper alternative when the primary is short of
/// credit, capacity or tokens and downgrades are allowed.
pub fn decide(
    gate: &mut Gate,
    client: &ClientId,
    job: &Job,
    downgrade: bool,
    now: Timestamp,
) -> Decision {
    let verdict = admit(gate, client, job.id, &job.primary, now);
    let short = matches!(
        verdict,
        Verdict::Wait(_)
            | Verdict::Refuse(Refusal {
                reason: RefusalReason::Credit | RefusalReason::Capacity | RefusalReason::Rate,
                ..
            })
    );
    if short
        && downgrade
        && let Some(alt) = &job.alternative
        && let Verdict::Admit(admitted) = admit(gate, client, job.id, alt, now)
    {
        return Decision::Start(admitted, true);
    }
    match verdict {
        Verdict::Admit(admitted) => Decision::Start(admitted, false),
        Verdict::Refuse(refusal) => Decision::Refuse(refusal),
        Verdict::Wait(blocker) => Decision::Wait(blocker),
    }
}

fn admit(
    gate: &mut Gate,
    client: &ClientId,
    request: RequestId,
    variant: &JobVariant,
    now: Timestamp,
) -> Verdict {
    gate.try_admit(
        Demand {
            client,
            request,
            needs: &variant.needs,
            estimate: variant.estimate,
        },
        now,
    )
}

/// The earlier of two optional instants.
pub fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Pools found full during one dispatch: later requests that need only them are skipped
/// without asking the gate, and the dispatch stops once every pool is full.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Blocked {
    pools: Vec<bool>,
    count: usize,
}

impl Blocked {
    /// Clears the marks for a new dispatch over `pools` pools.
    pub fn reset(&mut self, pools: usize) {
        self.pools.clear();
        self.pools.resize(pools, false);
        self.count = 0;
    }

    fn mark(&mut self, pool: usize) {
        if !self.pools[pool] {
            self.pools[pool] = true;
            self.count += 1;
        }
    }

    /// Every pool is full: nothing more can start.
    pub fn all(&self) -> bool {
        self.count == self.pools.len() && !self.pools.is_empty()
    }

    fn any_of(&self, needs: &[(usize, u64)]) -> bool {
        needs.iter().any(|(pool, _)| self.pools[*pool])
    }
}

/// A client as a scan sees it.
pub trait ClientView {
    fn id(&self, client: usize) -> &ClientId;
    /// Below its concurrency limit.
    fn may_start(&self, client: usize) -> bool;
}

/// What a scan decided of a job it took: start it (admitted, on its alternative or not)
/// or refuse it.
pub type Taken = Result<(Admitted, bool), Refusal>;

/// What one pass over a class took.
pub struct Pass {
    /// Jobs taken off the queue with their enqueue time and what to do with them.
    pub taken: Vec<(Job, Timestamp, Taken)>,
    /// Requests looked at; a pass that saw `SCAN_LIMIT` and took some may have left more
    /// that can go now.
    pub visited: usize,
}

/// One pass over `class` in priority order: takes what the gate admits (taking its
/// capacity, quota and credit at once) or refuses for good, skips what must wait, and
/// lowers `wake_at` to when waiting tokens will have refilled.
#[allow(clippy::too_many_arguments)]
pub fn scan_class(
    queues: &mut ClassQueues<Job>,
    class: RequestClass,
    gate: &mut Gate,
    clients: &impl ClientView,
    blocked: &mut Blocked,
    downgrade: bool,
    wake_at: &mut Option<Timestamp>,
    now: Timestamp,
) -> Pass {
    let mut visited = 0usize;
    let taken = queues.walk(class, now, SCAN_LIMIT, |job, _enqueued| {
        visited += 1;
        if blocked.all() {
            return Visit::Stop;
        }
        if !clients.may_start(job.client) {
            return Visit::Skip;
        }
        if job.alternative.is_none() && blocked.any_of(&job.primary.needs) {
            return Visit::Skip;
        }
        match decide(gate, clients.id(job.client), job, downgrade, now) {
            Decision::Start(admitted, downgraded) => Visit::Take(Ok((admitted, downgraded))),
            Decision::Refuse(refusal) => Visit::Take(Err(refusal)),
            Decision::Wait(blocker) => {
                match blocker {
                    Blocker::Capacity { pool } => blocked.mark(pool),
                    Blocker::Tokens { pool, retry_after } => {
                        blocked.mark(pool);
                        if let Some(wait) = retry_after {
                            *wake_at = earliest(*wake_at, Some(now + wait));
                        }
                    }
                    Blocker::Credit => {}
                }
                Visit::Skip
            }
        }
    });
    Pass { taken, visited }
}

const HOUR_NANOS: i64 = 3_600_000_000_000;
const DAY_NANOS: i64 = 24 * HOUR_NANOS;

/// Hours of the day `[start, end)` in UTC in which deferred work runs; it may wrap
/// midnight (22 → 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffPeakWindow {
    start: u8,
    end: u8,
}

impl OffPeakWindow {
    /// Hours 0 to 23, start and end different.
    pub fn new(start_hour: u32, end_hour: u32) -> Result<Self, ValidationError> {
        for (field, hour) in [("start_hour", start_hour), ("end_hour", end_hour)] {
            ensure(hour < 24, field, hour, "an hour of the day, 0 to 23")?;
        }
        ensure(
            start_hour != end_hour,
            "end_hour",
            end_hour,
            "an hour other than start_hour",
        )?;
        Ok(OffPeakWindow {
            start: start_hour as u8,
            end: end_hour as u8,
        })
    }

    pub fn start_hour(self) -> u32 {
        u32::from(self.start)
    }

    pub fn end_hour(self) -> u32 {
        u32::from(self.end)
    }

    /// Whether `now` falls in the window.
    pub fn contains(self, now: Timestamp) -> bool {
        let hour = (now.nanos().rem_euclid(DAY_NANOS) / HOUR_NANOS) as u8;
        if self.start < self.end {
            (self.start..self.end).contains(&hour)
        } else {
            hour >= self.start || hour < self.end
        }
    }

    /// The latest instant at or before `now` at which the window opened: a day before the
    /// next opening strictly after `now`.
    pub fn last_start(self, now: Timestamp) -> Timestamp {
        Timestamp::from_nanos(self.next_start(now).nanos() - DAY_NANOS)
    }

    /// The next instant after `now` at which the window opens.
    pub fn next_start(self, now: Timestamp) -> Timestamp {
        let midnight = now.nanos() - now.nanos().rem_euclid(DAY_NANOS);
        let mut at = midnight + i64::from(self.start) * HOUR_NANOS;
        if at <= now.nanos() {
            at += DAY_NANOS;
        }
        Timestamp::from_nanos(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_hour(day: i64, hour: i64) -> Timestamp {
        Timestamp::from_nanos(day * DAY_NANOS + hour * HOUR_NANOS)
    }

    #[test]
    fn a_window_may_wrap_midnight() {
        let night = OffPeakWindow::new(22, 6).unwrap();
        assert!(night.contains(at_hour(3, 23)));
        assert!(night.contains(at_hour(3, 0)));
        assert!(night.contains(at_hour(3, 5)));
        assert!(!night.contains(at_hour(3, 6)));
        assert!(!night.contains(at_hour(3, 12)));
        let day = OffPeakWindow::new(9, 17).unwrap();
        assert!(day.contains(at_hour(1, 9)));
        assert!(!day.contains(at_hour(1, 17)));
    }

    #[test]
    fn the_next_start_is_strictly_later() {
        let night = OffPeakWindow::new(22, 6).unwrap();
        assert_eq!(night.next_start(at_hour(3, 12)), at_hour(3, 22));
        assert_eq!(night.next_start(at_hour(3, 22)), at_hour(4, 22));
        assert_eq!(night.next_start(at_hour(3, 23)), at_hour(4, 22));
    }

    #[test]
    fn the_last_start_is_at_or_before_now() {
        let night = OffPeakWindow::new(22, 6).unwrap();
        assert_eq!(night.last_start(at_hour(3, 23)), at_hour(3, 22));
        assert_eq!(night.last_start(at_hour(4, 2)), at_hour(3, 22));
        assert_eq!(night.last_start(at_hour(3, 22)), at_hour(3, 22));
    }

    #[test]
    fn hours_outside_the_day_are_refused() {
        let e = OffPeakWindow::new(30, 6).unwrap_err();
        assert_eq!((e.field.as_str(), e.value.as_str()), ("start_hour", "30"));
        let e = OffPeakWindow::new(4, 4).unwrap_err();
        assert_eq!(e.field, "end_hour");
    }
}
