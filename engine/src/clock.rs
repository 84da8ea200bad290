//! The only source of "now". Simulation runs on a [`VirtualClock`] that the runner moves;
//! the live engine runs on the [`WallClock`]. Actors hold an `Arc<dyn Clock>` and never
//! know which one it is.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock UTC time.
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(chrono::Utc::now())
    }
}

/// Time that moves only when told to. Clones share one time, so the runner advances the
/// clock that the actors read.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    nanos: Arc<AtomicI64>,
}

impl VirtualClock {
    pub fn starting_at(start: Timestamp) -> Self {
        VirtualClock {
            nanos: Arc::new(AtomicI64::new(start.nanos())),
        }
    }

    /// Moves time forward to `at`; never backwards, so causality holds.
    pub fn advance_to(&self, at: Timestamp) {
        self.nanos.fetch_max(at.nanos(), Ordering::Relaxed);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_clones_share_time_and_never_go_back() {
        let clock = VirtualClock::starting_at(Timestamp::from_nanos(10));
        let view: SharedClock = Arc::new(clock.clone());
        clock.advance_to(Timestamp::from_nanos(50));
        assert_eq!(view.now(), Timestamp::from_nanos(50));
        clock.advance_to(Timestamp::from_nanos(20));
        assert_eq!(view.now(), Timestamp::from_nanos(50));
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(WallClock.now() > Timestamp::parse("2020-01-01T00:00:00Z").unwrap());
    }
}
