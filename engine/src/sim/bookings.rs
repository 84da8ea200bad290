//! The booking streams of a scenario: attempts drawn from the run's RNG in event order and
//! made through the booking actor, and what they came to.
//!
//! An attempt draws its lead and length, then tries the stream's resources in order; the
//! first that takes the slot wins. When none does, the attempt is refused and not retried
//! at a later slot, so the refusal counts measure contention for the slots clients asked
//! for. Slots lie on a whole-minute grid, as calendars book them: the start is rounded up
//! to the minute and the length to whole minutes (at least one).

use actix::prelude::*;
use rand::rngs::SmallRng;

use super::arrival::ArrivalClock;
use super::distribution::Sampler;
use super::error::RunError;
use super::report::{BookingRefusals, BookingReport};
use super::scenario::Scenario;
use crate::actors::{Book, BookingActor, CompleteBooking, GetBookingSummary, ListBookings};
use crate::config::secs;
use crate::model::{Booking, BookingId, ClientId, ResourceId, Timestamp};
use crate::policy::booking::{BookingError, BookingFilter};

const MINUTE_NANOS: i64 = 60_000_000_000;

/// One client's stream of booking attempts.
struct BookingStream {
    client: ClientId,
    client_index: usize,
    arrivals: ArrivalClock,
    resources: Vec<ResourceId>,
    lead_secs: Sampler,
    hours: Sampler,
    active: bool,
    purpose: String,
}

/// Why an attempt found no resource, in rising order of hope: the attempt counts under the
/// most hopeful reason among its resources (busy then, rather than too short or down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Refused {
    Unavailable,
    TooLong,
    Conflict,
}

impl Refused {
    /// The runner makes slots that start now or later and end after they start, on
    /// registered resources; any other refusal is a fault of the runner.
    fn of(error: BookingError) -> Result<Refused, BookingError> {
        match error {
            BookingError::Conflict { .. } => Ok(Refused::Conflict),
            BookingError::TooLong { .. } => Ok(Refused::TooLong),
            BookingError::Unavailable { .. } => Ok(Refused::Unavailable),
            other => Err(other),
        }
    }
}

/// The booking actor and the streams that feed it.
pub(super) struct BookingDesk {
    actor: Addr<BookingActor>,
    streams: Vec<BookingStream>,
    attempts: u64,
    booked: u64,
    refused: BookingRefusals,
}

impl BookingDesk {
    /// The scenario's booking streams through the fleet's booking actor (which holds the
    /// resources); none when the scenario has no booking streams. `active` tells whether a
    /// client takes part from the start.
    pub(super) fn open(
        scenario: &Scenario,
        actor: Addr<BookingActor>,
        start_of_day_secs: f64,
        active: impl Fn(&ClientId) -> bool,
    ) -> Result<Option<Self>, RunError> {
        if scenario.bookings.is_empty() {
            return Ok(None);
        }
        let mut streams = Vec::new();
        for (b, workload) in scenario.bookings.iter().enumerate() {
            let at = format!("bookings[{b}]");
            let client_index = scenario
                .clients
                .iter()
                .position(|c| c.id == workload.client)
                .expect("validated reference");
            streams.push(BookingStream {
                client: workload.client.clone(),
                client_index,
                arrivals: workload.arrivals.clock(start_of_day_secs),
                resources: workload.resources.clone(),
                lead_secs: workload.lead_secs.sampler(&format!("{at}.lead_secs"))?,
                hours: workload.hours.sampler(&format!("{at}.hours"))?,
                active: active(&workload.client),
                purpose: at,
            });
        }
        Ok(Some(BookingDesk {
            actor,
            streams,
            attempts: 0,
            booked: 0,
            refused: BookingRefusals::default(),
        }))
    }

    pub(super) fn streams(&self) -> usize {
        self.streams.len()
    }

    pub(super) fn is_active(&self, stream: usize) -> bool {
        self.streams[stream].active
    }

    /// Seconds from the run's start to the stream's next attempt.
    pub(super) fn next_arrival(&mut self, stream: usize, rng: &mut SmallRng) -> f64 {
        self.streams[stream].arrivals.next(rng)
    }

    /// One attempt at `now`; the booking made, if any, to complete at its end.
    pub(super) async fn attempt(
        &mut self,
        stream: usize,
        now: Timestamp,
        rng: &mut SmallRng,
    ) -> Result<Option<Booking>, RunError> {
        let wanted = &self.streams[stream];
        let lead_secs = wanted.lead_secs.sample(rng);
        let hours = wanted.hours.sample(rng);
        let (start, end) = slot(now, lead_secs, hours);
        self.attempts += 1;
        let mut best_refusal = None;
        for resource in &wanted.resources {
            let made = self
                .actor
                .send(Book {
                    resource: resource.clone(),
                    client: wanted.client.clone(),
                    start,
                    end,
                    purpose: wanted.purpose.clone(),
                })
                .await?;
            match made {
                Ok(booking) => {
                    self.booked += 1;
                    return Ok(Some(booking));
                }
                Err(error) => best_refusal = best_refusal.max(Some(Refused::of(error)?)),
            }
        }
        let counter = match best_refusal {
            Some(Refused::Conflict) => &mut self.refused.conflict,
            Some(Refused::TooLong) => &mut self.refused.too_long,
            Some(Refused::Unavailable) | None => &mut self.refused.unavailable,
        };
        *counter += 1;
        Ok(None)
    }

    pub(super) async fn complete(&self, booking: BookingId) -> Result<(), RunError> {
        self.actor.send(CompleteBooking(booking)).await??;
        Ok(())
    }

    /// Stops or resumes the streams of a client that left or joined; the resumed ones with
    /// their next attempt (seconds from the start) at or after `now_secs`.
    pub(super) fn set_active(
        &mut self,
        client_index: usize,
        active: bool,
        rng: &mut SmallRng,
        now_secs: f64,
    ) -> Vec<(usize, f64)> {
        let mut resumed = Vec::new();
        for (index, stream) in self.streams.iter_mut().enumerate() {
            if stream.client_index == client_index && stream.active != active {
                stream.active = active;
                if active {
                    resumed.push((index, stream.arrivals.resume(rng, now_secs)));
                }
            }
        }
        resumed
    }

    /// What the attempts came to, with each resource's use of `[from, to)`.
    pub(super) async fn report(
        self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<BookingReport, RunError> {
        let summary = self.actor.send(GetBookingSummary { from, to }).await?;
        let list = self
            .actor
            .send(ListBookings(BookingFilter::default()))
            .await?;
        Ok(BookingReport {
            attempts: self.attempts,
            booked: self.booked,
            refused: self.refused,
            spend: summary.spend,
            resources: summary.resources,
            list,
        })
    }
}

/// The slot asked for at `now`: starting `lead_secs` later, rounded up to the minute, and
/// `hours` long, rounded to whole minutes (at least one).
fn slot(now: Timestamp, lead_secs: f64, hours: f64) -> (Timestamp, Timestamp) {
    let earliest = (now + secs(lead_secs)).nanos();
    let past_minute = earliest.rem_euclid(MINUTE_NANOS);
    let start = if past_minute == 0 {
        earliest
    } else {
        earliest.saturating_add(MINUTE_NANOS - past_minute)
    };
    // Saturating casts: an absurdly long slot stays absurd and is refused as too long.
    let minutes = (hours * 60.0).round().max(1.0) as i64;
    let end = start.saturating_add(minutes.saturating_mul(MINUTE_NANOS));
    (Timestamp::from_nanos(start), Timestamp::from_nanos(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> Timestamp {
        Timestamp::from_secs_f64(secs)
    }

    #[test]
    fn slots_lie_on_the_minute_grid() {
        assert_eq!(slot(at(0.0), 0.0, 1.0), (at(0.0), at(3600.0)));
        assert_eq!(slot(at(10.0), 61.0, 0.5), (at(120.0), at(1920.0)));
        // At least one minute long, and a start already on the grid stays.
        assert_eq!(slot(at(60.0), 0.0, 0.0), (at(60.0), at(120.0)));
        assert_eq!(slot(at(0.0), 0.0, 0.009), (at(0.0), at(60.0)));
    }

    #[test]
    fn an_absurd_length_saturates_instead_of_wrapping() {
        let (start, end) = slot(at(0.0), 0.0, f64::MAX);
        assert_eq!(start, at(0.0));
        assert_eq!(end, Timestamp::MAX);
    }

    #[test]
    fn the_most_hopeful_refusal_names_the_attempt() {
        assert!(Refused::Conflict > Refused::TooLong);
        assert!(Refused::TooLong > Refused::Unavailable);
        let unknown = BookingError::UnknownResource(ResourceId::new("x"));
        assert_eq!(Refused::of(unknown.clone()), Err(unknown));
    }
}
