//! Time-slot bookings of registered resources, refused when they overlap a confirmed one.
//!
//! Slots are half-open `[start, end)`, so back-to-back bookings do not conflict. Each
//! resource keeps its confirmed bookings ordered by start, which turns a conflict check into
//! one predecessor lookup.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::model::{
    Booking, BookingId, BookingStatus, ClientId, Resource, ResourceId, ResourceStatus, Timestamp,
    ValidationError, validate_slot,
};

const NANOS_PER_HOUR: i128 = 3_600 * 1_000_000_000;

/// Why a booking, or a change to one, was refused. Nothing stored changes on an error.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BookingError {
    #[error(transparent)]
    InvalidSlot(#[from] ValidationError),
    #[error(
        "invalid slot on resource {resource}: got {hours:.3} hours, expected at most max_booking_hours ({max})"
    )]
    TooLong {
        resource: ResourceId,
        hours: f64,
        max: u32,
    },
    #[error("resource {resource} cannot be booked: its status is {status:?}, expected Available")]
    Unavailable {
        resource: ResourceId,
        status: ResourceStatus,
    },
    #[error("invalid start: got {start}, expected an instant at or after now ({now})")]
    InThePast { start: Timestamp, now: Timestamp },
    #[error(
        "slot conflicts with confirmed booking {} of resource {} for [{}, {})",
        .existing.id, .existing.resource, .existing.start, .existing.end
    )]
    Conflict { existing: Box<Booking> },
    #[error("booking {id} is {status:?}, expected Confirmed")]
    NotConfirmed {
        id: BookingId,
        status: BookingStatus,
    },
    #[error("booking {id} cannot be completed at {now}: its slot starts at {start}")]
    NotStarted {
        id: BookingId,
        start: Timestamp,
        now: Timestamp,
    },
    #[error("unknown booking {0}")]
    UnknownBooking(BookingId),
    #[error(
        "resource {resource} still has confirmed bookings that have not ended ({}): cancel or complete them first",
        .bookings.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")
    )]
    ResourceInUse {
        resource: ResourceId,
        bookings: Vec<BookingId>,
    },
    #[error("unknown resource {0}: expected the id of a registered resource")]
    UnknownResource(ResourceId),
    #[error("booking {0} already exists")]
    DuplicateBooking(BookingId),
}

/// Which bookings [`BookingBook::list`] returns; `None` matches anything. `from`/`to` keep
/// the bookings whose slot intersects `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookingFilter {
    pub resource: Option<ResourceId>,
    pub client: Option<ClientId>,
    pub status: Option<BookingStatus>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl BookingFilter {
    fn matches(&self, booking: &Booking) -> bool {
        self.resource
            .as_ref()
            .is_none_or(|r| *r == booking.resource)
            && self.client.as_ref().is_none_or(|c| *c == booking.client)
            && self.status.is_none_or(|s| s == booking.status)
            && self.from.is_none_or(|from| booking.end > from)
            && self.to.is_none_or(|to| booking.start < to)
    }
}

/// Every booking ever made, plus each resource's confirmed bookings ordered by start.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BookingBook {
    bookings: BTreeMap<BookingId, Booking>,
    /// Confirmed bookings only. They never overlap and are never empty, so starts are unique.
    schedules: BTreeMap<ResourceId, BTreeMap<Timestamp, BookingId>>,
    /// Highest id issued or restored; the next booking gets the one after.
    last_id: u64,
}

impl BookingBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Books `resource` for `[start, end)` at `now`, pricing it at hours × `cost_per_hour`.
    pub fn book(
        &mut self,
        resource: &Resource,
        client: ClientId,
        start: Timestamp,
        end: Timestamp,
        purpose: String,
        now: Timestamp,
    ) -> Result<Booking, BookingError> {
        validate_slot(start, end)?;
        if resource.status != ResourceStatus::Available {
            return Err(BookingError::Unavailable {
                resource: resource.id.clone(),
                status: resource.status,
            });
        }
        if start < now {
            return Err(BookingError::InThePast { start, now });
        }
        let length_nanos = i128::from(end.nanos()) - i128::from(start.nanos());
        if length_nanos > i128::from(resource.max_booking_hours) * NANOS_PER_HOUR {
            return Err(BookingError::TooLong {
                resource: resource.id.clone(),
                hours: length_nanos as f64 / NANOS_PER_HOUR as f64,
                max: resource.max_booking_hours,
            });
        }
        self.ensure_free(&resource.id, start, end)?;
        self.last_id += 1;
        let booking = Booking {
            id: BookingId(self.last_id),
            resource: resource.id.clone(),
            client,
            start,
            end,
            status: BookingStatus::Confirmed,
            // Exact: |price| < 2^63 and the length < 2^64 ns, so the product fits in i128.
            estimated_cost: resource.cost_per_hour.mul_div(length_nanos, NANOS_PER_HOUR),
            purpose,
        };
        self.insert(booking.clone());
        Ok(booking)
    }

    /// Cancels a confirmed booking, freeing its slot.
    pub fn cancel(&mut self, id: BookingId) -> Result<Booking, BookingError> {
        self.finish(id, BookingStatus::Cancelled)
    }

    /// Marks a confirmed booking completed at `now`, freeing the rest of its slot. A booking
    /// whose slot has not started cannot have been used, so it must be cancelled instead.
    pub fn complete(&mut self, id: BookingId, now: Timestamp) -> Result<Booking, BookingError> {
        let booking = self.get(id).ok_or(BookingError::UnknownBooking(id))?;
        if booking.status == BookingStatus::Confirmed && now < booking.start {
            let start = booking.start;
            return Err(BookingError::NotStarted { id, start, now });
        }
        self.finish(id, BookingStatus::Completed)
    }

    /// Adds a booking loaded from storage, refusing a duplicate id or a confirmed booking
    /// that would overlap one already held. Later bookings get ids after the highest seen.
    pub fn restore(&mut self, booking: Booking) -> Result<(), BookingError> {
        validate_slot(booking.start, booking.end)?;
        if self.bookings.contains_key(&booking.id) {
            return Err(BookingError::DuplicateBooking(booking.id));
        }
        if booking.status == BookingStatus::Confirmed {
            self.ensure_free(&booking.resource, booking.start, booking.end)?;
        }
        self.last_id = self.last_id.max(booking.id.0);
        self.insert(booking);
        Ok(())
    }

    pub fn get(&self, id: BookingId) -> Option<&Booking> {
        self.bookings.get(&id)
    }

    /// Confirmed bookings that have not ended by `now` (under way or to come), of one
    /// resource or of one client: what removing the resource or the client would strand.
    pub fn pending(
        &self,
        resource: Option<&ResourceId>,
        client: Option<&ClientId>,
        now: Timestamp,
    ) -> Vec<BookingId> {
        self.bookings
            .values()
            .filter(|b| b.status == BookingStatus::Confirmed && b.end > now)
            .filter(|b| resource.is_none_or(|r| *r == b.resource))
            .filter(|b| client.is_none_or(|c| *c == b.client))
            .map(|b| b.id)
            .collect()
    }

    /// Bookings matching `filter`, in id order (the order they were made).
    pub fn list(&self, filter: &BookingFilter) -> Vec<&Booking> {
        self.bookings
            .values()
            .filter(|booking| filter.matches(booking))
            .collect()
    }

    /// Confirmed bookings of `resource` intersecting `[from, to)`, ordered by start.
    /// O(log n) to find the first, then one id lookup per booking yielded.
    pub fn overlapping<'a>(
        &'a self,
        resource: &ResourceId,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = &'a Booking> + use<'a> {
        let schedule = if from < to {
            self.schedules.get(resource)
        } else {
            None
        };
        // As in `first_conflict`: of the bookings starting before `from`, only the last can
        // reach into the window.
        let reaching_in = schedule.and_then(|s| s.range(..from).next_back());
        let starting_inside = schedule.into_iter().flat_map(move |s| s.range(from..to));
        reaching_in
            .into_iter()
            .chain(starting_inside)
            .filter_map(|(_, id)| self.bookings.get(id))
            .filter(move |booking| booking.end > from)
    }

    /// Whether no confirmed booking of `resource` intersects `[from, to)`; an empty or
    /// reversed window occupies nothing, so it is free.
    pub fn is_free(&self, resource: &ResourceId, from: Timestamp, to: Timestamp) -> bool {
        from >= to || self.first_conflict(resource, from, to).is_none()
    }

    /// The confirmed booking of `resource` overlapping `[start, end)`, if any, in O(log n).
    fn first_conflict(
        &self,
        resource: &ResourceId,
        start: Timestamp,
        end: Timestamp,
    ) -> Option<&Booking> {
        // Confirmed bookings of one resource never overlap, so ordered by start they are also
        // ordered by end. Bookings starting at or after `end` cannot overlap the slot; of
        // those starting before it, the one starting last also ends last, so if it ends by
        // `start` every other one does too. That single predecessor decides.
        let (_, id) = self.schedules.get(resource)?.range(..end).next_back()?;
        self.bookings.get(id).filter(|booking| booking.end > start)
    }

    fn ensure_free(
        &self,
        resource: &ResourceId,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<(), BookingError> {
        match self.first_conflict(resource, start, end) {
            Some(existing) => Err(BookingError::Conflict {
                existing: Box::new(existing.clone()),
            }),
            None => Ok(()),
        }
    }

    fn insert(&mut self, booking: Booking) {
        if booking.status == BookingStatus::Confirmed {
            self.schedules
                .entry(booking.resource.clone())
                .or_default()
                .insert(booking.start, booking.id);
        }
        self.bookings.insert(booking.id, booking);
    }

    fn finish(&mut self, id: BookingId, status: BookingStatus) -> Result<Booking, BookingError> {
        let booking = self
            .bookings
            .get_mut(&id)
            .ok_or(BookingError::UnknownBooking(id))?;
        if booking.status != BookingStatus::Confirmed {
            return Err(BookingError::NotConfirmed {
                id,
                status: booking.status,
            });
        }
        booking.status = status;
        if let Some(schedule) = self.schedules.get_mut(&booking.resource) {
            schedule.remove(&booking.start);
            if schedule.is_empty() {
                self.schedules.remove(&booking.resource);
            }
        }
        Ok(booking.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Money, ResourceKind};
    use proptest::prelude::*;
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);
    const MINUTE: Duration = Duration::from_secs(60);

    fn gpu(id: &str) -> Resource {
        Resource {
            id: ResourceId::new(id),
            name: id.to_owned(),
            kind: ResourceKind::Gpu,
            specs: BTreeMap::new(),
            description: String::new(),
            owner: None,
            status: ResourceStatus::Available,
            cost_per_hour: Money::from_micros(2_500_000),
            max_booking_hours: 8,
            tags: Vec::new(),
        }
    }

    /// `h` hours after the epoch, which serves as "now" in these tests.
    fn at(h: u64) -> Timestamp {
        Timestamp::EPOCH + HOUR * h as u32
    }

    fn book(
        book: &mut BookingBook,
        resource: &Resource,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Booking, BookingError> {
        book.book(
            resource,
            ClientId::new("agent"),
            from,
            to,
            String::new(),
            Timestamp::EPOCH,
        )
    }

    fn conflict_id(result: Result<Booking, BookingError>) -> BookingId {
        match result {
            Err(BookingError::Conflict { existing }) => existing.id,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn books_with_sequential_ids_and_exact_cost() {
        let mut bb = BookingBook::new();
        let r = gpu("a100");
        let first = bb
            .book(
                &r,
                ClientId::new("bot"),
                at(1),
                at(1) + MINUTE * 90,
                "train".into(),
                at(0),
            )
            .unwrap();
        assert_eq!(first.id, BookingId(1));
        assert_eq!(first.status, BookingStatus::Confirmed);
        assert_eq!(first.estimated_cost, Money::from_micros(3_750_000));
        assert_eq!(first.purpose, "train");
        assert_eq!(bb.get(BookingId(1)), Some(&first));
        let second = book(&mut bb, &r, at(3), at(4)).unwrap();
        assert_eq!(second.id, BookingId(2));
        assert_eq!(
            second.estimated_cost,
            Money::from_units(2) + Money::from_micros(500_000)
        );
    }

    #[test]
    fn cost_rounds_to_the_nearest_micro() {
        let mut bb = BookingBook::new();
        let mut r = gpu("a");
        r.cost_per_hour = Money::from_units(1);
        // One second of $1/h is 277.77… micros.
        let b = book(&mut bb, &r, at(1), at(1) + Duration::from_secs(1)).unwrap();
        assert_eq!(b.estimated_cost, Money::from_micros(278));
    }

    #[test]
    fn every_kind_of_overlap_is_refused_naming_the_existing_booking() {
        let mut bb = BookingBook::new();
        let r = gpu("a");
        let held = book(&mut bb, &r, at(2), at(4)).unwrap().id;
        let inside = (at(2) + MINUTE, at(4) - MINUTE);
        let spanning = (at(1), at(5));
        let over_start = (at(1), at(3));
        let over_end = (at(3), at(5));
        let identical = (at(2), at(4));
        for (from, to) in [inside, spanning, over_start, over_end, identical] {
            assert_eq!(
                conflict_id(book(&mut bb, &r, from, to)),
                held,
                "{from}..{to}"
            );
        }
        assert_eq!(bb.list(&BookingFilter::default()).len(), 1);
    }

    #[test]
    fn touching_slots_and_other_resources_do_not_conflict() {
        let mut bb = BookingBook::new();
        let (a, b) = (gpu("a"), gpu("b"));
        book(&mut bb, &a, at(2), at(4)).unwrap();
        book(&mut bb, &a, at(4), at(5)).unwrap();
        book(&mut bb, &a, at(1), at(2)).unwrap();
        book(&mut bb, &b, at(2), at(4)).unwrap();
        // The conflict found is the latest-starting booking before the new end.
        let spanning_all = book(&mut bb, &a, at(0), at(6));
        assert_eq!(conflict_id(spanning_all), BookingId(2));
    }

    #[test]
    fn cancelled_and_completed_bookings_free_their_slot() {
        let mut bb = BookingBook::new();
        let r = gpu("a");
        let first = book(&mut bb, &r, at(2), at(4)).unwrap().id;
        assert_eq!(bb.cancel(first).unwrap().status, BookingStatus::Cancelled);
        let second = book(&mut bb, &r, at(2), at(4)).unwrap().id;
        let done = bb.complete(second, at(3)).unwrap();
        assert_eq!(done.status, BookingStatus::Completed);
        assert!(bb.is_free(&r.id, at(0), at(10)));
        book(&mut bb, &r, at(3), at(4)).unwrap();
    }

    #[test]
    fn only_confirmed_bookings_change_state() {
        let mut bb = BookingBook::new();
        let r = gpu("a");
        let id = book(&mut bb, &r, at(2), at(4)).unwrap().id;
        assert_eq!(
            bb.complete(id, at(1)),
            Err(BookingError::NotStarted {
                id,
                start: at(2),
                now: at(1)
            })
        );
        bb.complete(id, at(2)).unwrap();
        let not_confirmed = Err(BookingError::NotConfirmed {
            id,
            status: BookingStatus::Completed,
        });
        assert_eq!(bb.cancel(id), not_confirmed);
        assert_eq!(bb.complete(id, at(5)), not_confirmed);
        let future = book(&mut bb, &r, at(6), at(7)).unwrap().id;
        bb.cancel(future).unwrap();
        assert!(matches!(
            bb.complete(future, at(0)),
            Err(BookingError::NotConfirmed { .. })
        ));
        assert_eq!(bb.get(id).unwrap().status, BookingStatus::Completed);
        let unknown = BookingId(99);
        assert_eq!(
            bb.cancel(unknown),
            Err(BookingError::UnknownBooking(unknown))
        );
        assert_eq!(
            bb.complete(unknown, at(5)),
            Err(BookingError::UnknownBooking(unknown))
        );
    }

    #[test]
    fn slot_length_is_capped_by_max_booking_hours() {
        let mut bb = BookingBook::new();
        let r = gpu("a");
        let b = book(&mut bb, &r, at(1), at(9)).unwrap();
        assert_eq!(b.estimated_cost, Money::from_units(20));
        let err = book(&mut bb, &r, at(10), at(18) + Duration::from_nanos(1)).unwrap_err();
        assert!(
            matches!(err, BookingError::TooLong { max: 8, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("8.000 hours"), "{err}");
    }

    #[test]
    fn bad_slots_unavailable_resources_and_past_starts_are_refused() {
        let mut bb = BookingBook::new();
        let mut r = gpu("a");
        for (from, to) in [(at(2), at(2)), (at(3), at(2))] {
            match book(&mut bb, &r, from, to) {
                Err(BookingError::InvalidSlot(e)) => assert_eq!(e.field, "end"),
                other => panic!("expected an invalid slot, got {other:?}"),
            }
        }
        let now = at(5);
        let past = bb.book(&r, ClientId::new("x"), at(4), at(6), String::new(), now);
        assert_eq!(past, Err(BookingError::InThePast { start: at(4), now }));
        bb.book(&r, ClientId::new("x"), now, at(6), String::new(), now)
            .unwrap();
        for status in [ResourceStatus::Maintenance, ResourceStatus::Offline] {
            r.status = status;
            let err = book(&mut bb, &r, at(7), at(8)).unwrap_err();
            assert_eq!(
                err,
                BookingError::Unavailable {
                    resource: r.id.clone(),
                    status
                }
            );
        }
        assert_eq!(bb.list(&BookingFilter::default()).len(), 1);
    }

    #[test]
    fn overlapping_finds_confirmed_bookings_in_a_window() {
        let mut bb = BookingBook::new();
        let r = gpu("a");
        for (from, to) in [(1, 3), (3, 4), (5, 7), (8, 9)] {
            book(&mut bb, &r, at(from), at(to)).unwrap();
        }
        bb.cancel(BookingId(4)).unwrap();
        let ids = |from, to| -> Vec<u64> {
            bb.overlapping(&r.id, at(from), at(to))
                .map(|b| b.id.0)
                .collect()
        };
        assert_eq!(ids(2, 6), [1, 2, 3]);
        assert_eq!(ids(3, 5), [2]);
        assert_eq!(ids(4, 5), Vec::<u64>::new());
        assert_eq!(ids(0, 100), [1, 2, 3]);
        assert_eq!(ids(6, 6), Vec::<u64>::new());
        assert_eq!(ids(6, 2), Vec::<u64>::new());
        assert_eq!(
            bb.overlapping(&ResourceId::new("none"), at(0), at(9))
                .count(),
            0
        );
        assert!(bb.is_free(&r.id, at(4), at(5)));
        assert!(bb.is_free(&r.id, at(8), at(9)));
        assert!(!bb.is_free(&r.id, at(4), at(6)));
        assert!(bb.is_free(&r.id, at(2), at(2)));
    }

    #[test]
    fn list_filters_by_resource_client_status_and_window() {
        let mut bb = BookingBook::new();
        let (a, b) = (gpu("a"), gpu("b"));
        let mk = |bb: &mut BookingBook, r: &Resource, client: &str, from, to| {
            bb.book(
                r,
                ClientId::new(client),
                at(from),
                at(to),
                String::new(),
                at(0),
            )
            .unwrap()
            .id
            .0
        };
        mk(&mut bb, &a, "x", 1, 2);
        mk(&mut bb, &a, "y", 2, 3);
        mk(&mut bb, &b, "x", 1, 5);
        bb.cancel(BookingId(2)).unwrap();
        let ids = |filter: BookingFilter| -> Vec<u64> {
            bb.list(&filter).iter().map(|b| b.id.0).collect()
        };
        assert_eq!(ids(BookingFilter::default()), [1, 2, 3]);
        let on_a = BookingFilter {
            resource: Some(a.id.clone()),
            ..Default::default()
        };
        assert_eq!(ids(on_a), [1, 2]);
        let by_x = BookingFilter {
            client: Some(ClientId::new("x")),
            ..Default::default()
        };
        assert_eq!(ids(by_x), [1, 3]);
        let cancelled = BookingFilter {
            status: Some(BookingStatus::Cancelled),
            ..Default::default()
        };
        assert_eq!(ids(cancelled), [2]);
        let window = BookingFilter {
            from: Some(at(2)),
            to: Some(at(3)),
            ..Default::default()
        };
        assert_eq!(ids(window), [2, 3]);
        let after = BookingFilter {
            from: Some(at(3)),
            ..Default::default()
        };
        assert_eq!(ids(after), [3]);
    }

    #[test]
    fn restore_rebuilds_and_refuses_overlaps_and_duplicates() {
        let mut source = BookingBook::new();
        let r = gpu("a");
        book(&mut source, &r, at(1), at(3)).unwrap();
        book(&mut source, &r, at(3), at(4)).unwrap();
        source.cancel(BookingId(1)).unwrap();
        let mut clash = book(&mut source, &r, at(1), at(2)).unwrap();

        let mut bb = BookingBook::new();
        for b in source.list(&BookingFilter::default()) {
            bb.restore(b.clone()).unwrap();
        }
        assert_eq!(
            bb.restore(clash.clone()),
            Err(BookingError::DuplicateBooking(BookingId(3)))
        );
        clash.id = BookingId(7);
        clash.end = at(4);
        match bb.restore(clash) {
            Err(BookingError::Conflict { existing }) => assert_eq!(existing.id, BookingId(2)),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(!bb.is_free(&r.id, at(1), at(2)));
        assert_eq!(book(&mut bb, &r, at(5), at(6)).unwrap().id, BookingId(4));
        let reversed = Booking {
            id: BookingId(9),
            end: at(0),
            ..bb.get(BookingId(1)).unwrap().clone()
        };
        assert!(matches!(
            bb.restore(reversed),
            Err(BookingError::InvalidSlot(_))
        ));
    }

    #[test]
    fn conflict_message_names_the_booking_and_slot() {
        let mut bb = BookingBook::new();
        let r = gpu("a");
        book(&mut bb, &r, at(1), at(2)).unwrap();
        let err = book(&mut bb, &r, at(1), at(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "slot conflicts with confirmed booking 1 of resource a for \
             [1970-01-01T01:00:00Z, 1970-01-01T02:00:00Z)"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Book {
            resource: usize,
            offset: u32,
            minutes: u32,
        },
        Cancel(u64),
        Complete(u64),
        Wait(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3usize, 0..600u32, 1..600u32)
                .prop_map(|(resource, offset, minutes)| Op::Book { resource, offset, minutes }),
            1 => (1..40u64).prop_map(Op::Cancel),
            1 => (1..40u64).prop_map(Op::Complete),
            1 => (0..120u32).prop_map(Op::Wait),
        ]
    }

    proptest! {
        #[test]
        fn confirmed_bookings_never_overlap(ops in prop::collection::vec(op(), 1..80)) {
            let resources = [gpu("r0"), gpu("r1"), gpu("r2")];
            let mut bb = BookingBook::new();
            let mut now = Timestamp::EPOCH;
            for op in ops {
                match op {
                    Op::Book { resource, offset, minutes } => {
                        let r = &resources[resource];
                        let start = now + MINUTE * offset;
                        let end = start + MINUTE * minutes;
                        let result =
                            bb.book(r, ClientId::new("c"), start, end, String::new(), now);
                        if let Err(BookingError::Conflict { existing }) = &result {
                            prop_assert_eq!(&existing.resource, &r.id);
                            prop_assert_eq!(existing.status, BookingStatus::Confirmed);
                            prop_assert!(existing.overlaps(start, end));
                            prop_assert_eq!(bb.get(existing.id), Some(existing.as_ref()));
                        }
                        let from = start - MINUTE * 30;
                        let mut expected = bb.list(&BookingFilter {
                            resource: Some(r.id.clone()),
                            status: Some(BookingStatus::Confirmed),
                            ..Default::default()
                        });
                        expected.retain(|b| b.overlaps(from, end));
                        expected.sort_by_key(|b| b.start);
                        let found: Vec<_> = bb.overlapping(&r.id, from, end).collect();
                        prop_assert_eq!(found, expected);
                    }
                    Op::Cancel(id) => { let _ = bb.cancel(BookingId(id)); }
                    Op::Complete(id) => { let _ = bb.complete(BookingId(id), now); }
                    Op::Wait(minutes) => now = now + MINUTE * minutes,
                }
                let confirmed = bb.list(&BookingFilter {
                    status: Some(BookingStatus::Confirmed),
                    ..Default::default()
                });
                for (i, a) in confirmed.iter().enumerate() {
                    for b in &confirmed[i + 1..] {
                        prop_assert!(
                            a.resource != b.resource || !a.overlaps(b.start, b.end),
                            "{:?} overlaps {:?}", a, b
                        );
                    }
                }
            }
        }
    }
}
