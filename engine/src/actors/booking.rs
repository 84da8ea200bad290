//! The booking actor: the registry of bookable resources and their time-slot bookings.
//! Conflicts are the policy's ([`BookingBook`]); this actor holds the state, reads the time
//! from its clock, publishes what happened and charges each confirmed booking.
//!
//! A booking is charged its estimated cost (hours × the resource's price) when it is
//! confirmed, since from then on the slot is the client's and others are refused it. A
//! cancellation frees the slot but refunds nothing: the ledger records costs, not refunds.

use actix::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::clock::SharedClock;
use crate::model::{
    Booking, BookingId, BookingStatus, ClientId, CostType, Event, EventKind, Money, Resource,
    ResourceId, Timestamp, ValidationError,
};
use crate::policy::booking::{BookingBook, BookingError, BookingFilter};

use super::ledger::{Charge, LedgerActor, Publish};

/// Adds a resource to the registry.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), ValidationError>")]
pub struct RegisterResource(pub Resource);

/// Books `resource` for the half-open slot `[start, end)`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Booking, BookingError>")]
pub struct Book {
    pub resource: ResourceId,
    pub client: ClientId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub purpose: String,
}

/// Cancels a confirmed booking, freeing its slot.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Booking, BookingError>")]
pub struct CancelBooking(pub BookingId);

/// Marks a confirmed booking whose slot has started as completed now.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Booking, BookingError>")]
pub struct CompleteBooking(pub BookingId);

/// The bookings matching a filter, in the order they were made.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Booking>")]
pub struct ListBookings(pub BookingFilter);

/// Asks how each resource was used over `[from, to)`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "BookingSummary")]
pub struct GetBookingSummary {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// One resource's bookings. Slots count as booked, whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceUse {
    pub resource: ResourceId,
    pub cost_per_hour: Money,
    /// Bookings not cancelled.
    pub bookings: u64,
    pub cancelled: u64,
    /// Hours of the bookings not cancelled.
    pub booked_hours: f64,
    /// Share of the summary's window covered by bookings not cancelled.
    pub utilisation: f64,
    /// What its bookings were charged, cancelled ones included.
    pub spend: Money,
}

/// Every registered resource's use, in registration order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookingSummary {
    pub resources: Vec<ResourceUse>,
    pub spend: Money,
}

/// The booking actor's state, as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BookingImage {
    pub resources: Vec<Resource>,
    pub book: BookingBook,
}

/// Asks the booking actor for its state.
#[derive(Debug, Message)]
#[rtype(result = "BookingImage")]
pub struct SaveBookings;

pub struct BookingActor {
    clock: SharedClock,
    ledger: Addr<LedgerActor>,
    /// In registration order, for the summary.
    resources: Vec<Resource>,
    index: BTreeMap<ResourceId, usize>,
    book: BookingBook,
}

impl BookingActor {
    pub fn new(clock: SharedClock, ledger: Addr<LedgerActor>) -> Self {
        BookingActor {
            clock,
            ledger,
            resources: Vec::new(),
            index: BTreeMap::new(),
            book: BookingBook::new(),
        }
    }

    /// The actor a snapshot saved.
    pub fn restore(clock: SharedClock, ledger: Addr<LedgerActor>, image: BookingImage) -> Self {
        BookingActor {
            clock,
            ledger,
            index: image
                .resources
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), i))
                .collect(),
            resources: image.resources,
            book: image.book,
        }
    }

    fn publish(&self, at: Timestamp, kind: EventKind) {
        self.ledger.do_send(Publish(Event { at, kind }));
    }

    fn resource_use(&self, resource: &Resource, from: Timestamp, to: Timestamp) -> ResourceUse {
        let filter = BookingFilter {
            resource: Some(resource.id.clone()),
            ..Default::default()
        };
        let window_nanos = span_nanos(from, to);
        let mut used = ResourceUse {
            resource: resource.id.clone(),
            cost_per_hour: resource.cost_per_hour,
            bookings: 0,
            cancelled: 0,
            booked_hours: 0.0,
            utilisation: 0.0,
            spend: Money::ZERO,
        };
        // Sums in integer nanoseconds, so the hours come out without drift.
        let (mut booked_nanos, mut covered_nanos) = (0i64, 0i64);
        for booking in self.book.list(&filter) {
            used.spend += booking.estimated_cost;
            if booking.status == BookingStatus::Cancelled {
                used.cancelled += 1;
                continue;
            }
            used.bookings += 1;
            booked_nanos = booked_nanos.saturating_add(span_nanos(booking.start, booking.end));
            covered_nanos = covered_nanos
                .saturating_add(span_nanos(booking.start.max(from), booking.end.min(to)));
        }
        used.booked_hours = booked_nanos as f64 / NANOS_PER_HOUR;
        if window_nanos > 0 {
            used.utilisation = covered_nanos as f64 / window_nanos as f64;
        }
        used
    }
}

const NANOS_PER_HOUR: f64 = 3.6e12;

/// Length of `[from, to)`, none if reversed.
fn span_nanos(from: Timestamp, to: Timestamp) -> i64 {
    to.nanos().saturating_sub(from.nanos()).max(0)
}

impl Actor for BookingActor {
    type Context = Context<Self>;
}

impl Handler<RegisterResource> for BookingActor {
    type Result = Result<(), ValidationError>;

    /// Refuses an invalid resource or an id already registered.
    fn handle(
        &mut self,
        RegisterResource(resource): RegisterResource,
        _: &mut Context<Self>,
    ) -> Self::Result {
        resource.validate()?;
        if self.index.contains_key(&resource.id) {
            return Err(ValidationError::new(
                "id",
                &resource.id,
                "an id not registered before",
            ));
        }
        let id = resource.id.clone();
        self.index.insert(id.clone(), self.resources.len());
        self.resources.push(resource);
        self.publish(self.clock.now(), EventKind::ResourceCreated { id });
        Ok(())
    }
}

impl Handler<Book> for BookingActor {
    type Result = Result<Booking, BookingError>;

    /// Confirms the booking, publishes `booking.created` and charges its estimated cost.
    fn handle(&mut self, msg: Book, _: &mut Context<Self>) -> Self::Result {
        let Some(&at) = self.index.get(&msg.resource) else {
            return Err(BookingError::UnknownResource(msg.resource));
        };
        let now = self.clock.now();
        let resource = &self.resources[at];
        let booking = self
            .book
            .book(resource, msg.client, msg.start, msg.end, msg.purpose, now)?;
        self.publish(
            now,
            EventKind::BookingCreated {
                id: booking.id,
                resource: booking.resource.clone(),
                client: booking.client.clone(),
            },
        );
        if booking.estimated_cost > Money::ZERO {
            self.ledger.do_send(Charge {
                client: booking.client.clone(),
                cost_type: CostType::Booking,
                category: booking.resource.to_string(),
                amount: booking.estimated_cost,
                at: now,
                metadata: Default::default(),
                currency: None,
                description: format!("booking {}", booking.id),
            });
        }
        Ok(booking)
    }
}

impl Handler<CancelBooking> for BookingActor {
    type Result = Result<Booking, BookingError>;

    /// Frees the slot and publishes `booking.cancelled`.
    fn handle(&mut self, CancelBooking(id): CancelBooking, _: &mut Context<Self>) -> Self::Result {
        let booking = self.book.cancel(id)?;
        self.publish(
            self.clock.now(),
            EventKind::BookingCancelled {
                id,
                resource: booking.resource.clone(),
                client: booking.client.clone(),
            },
        );
        Ok(booking)
    }
}

impl Handler<CompleteBooking> for BookingActor {
    type Result = Result<Booking, BookingError>;

    fn handle(
        &mut self,
        CompleteBooking(id): CompleteBooking,
        _: &mut Context<Self>,
    ) -> Self::Result {
        self.book.complete(id, self.clock.now())
    }
}

impl Handler<ListBookings> for BookingActor {
    type Result = MessageResult<ListBookings>;

    fn handle(
        &mut self,
        ListBookings(filter): ListBookings,
        _: &mut Context<Self>,
    ) -> Self::Result {
        MessageResult(self.book.list(&filter).into_iter().cloned().collect())
    }
}

impl Handler<GetBookingSummary> for BookingActor {
    type Result = MessageResult<GetBookingSummary>;

    fn handle(&mut self, window: GetBookingSummary, _: &mut Context<Self>) -> Self::Result {
        let resources: Vec<ResourceUse> = self
            .resources
            .iter()
            .map(|r| self.resource_use(r, window.from, window.to))
            .collect();
        let spend = resources.iter().map(|r| r.spend).sum();
        MessageResult(BookingSummary { resources, spend })
    }
}

impl Handler<SaveBookings> for BookingActor {
    type Result = MessageResult<SaveBookings>;

    fn handle(&mut self, _: SaveBookings, _: &mut Context<Self>) -> Self::Result {
        MessageResult(BookingImage {
            resources: self.resources.clone(),
            book: self.book.clone(),
        })
    }
}

/// Removes a resource from the registry; refused while it has confirmed bookings that
/// have not ended. Its past bookings stay on record.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), BookingError>")]
pub struct RemoveResource(pub ResourceId);

impl Handler<RemoveResource> for BookingActor {
    type Result = Result<(), BookingError>;

    fn handle(
        &mut self,
        RemoveResource(id): RemoveResource,
        _: &mut Context<Self>,
    ) -> Self::Result {
        if !self.index.contains_key(&id) {
            return Err(BookingError::UnknownResource(id));
        }
        let now = self.clock.now();
        let pending = self.book.pending(Some(&id), None, now);
        if !pending.is_empty() {
            return Err(BookingError::ResourceInUse {
                resource: id,
                bookings: pending,
            });
        }
        self.resources.retain(|r| r.id != id);
        self.index = self
            .resources
            .iter()
            .enumerate()
            .map(|(at, r)| (r.id.clone(), at))
            .collect();
        self.publish(now, EventKind::ResourceRemoved { id });
        Ok(())
    }
}

/// Cancels every confirmed booking of `client` that has not ended (a removed client's
/// slots go back to the others); answers the bookings cancelled.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Booking>")]
pub struct CancelClientBookings(pub ClientId);

/// The confirmed bookings of a client that have not ended.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<BookingId>")]
pub struct PendingBookings(pub ClientId);

impl Handler<PendingBookings> for BookingActor {
    type Result = MessageResult<PendingBookings>;

    fn handle(
        &mut self,
        PendingBookings(client): PendingBookings,
        _: &mut Context<Self>,
    ) -> Self::Result {
        MessageResult(self.book.pending(None, Some(&client), self.clock.now()))
    }
}

impl Handler<CancelClientBookings> for BookingActor {
    type Result = MessageResult<CancelClientBookings>;

    fn handle(
        &mut self,
        CancelClientBookings(client): CancelClientBookings,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let pending = self.book.pending(None, Some(&client), self.clock.now());
        let cancelled = pending
            .into_iter()
            .filter_map(|id| {
                <Self as Handler<CancelBooking>>::handle(self, CancelBooking(id), ctx).ok()
            })
            .collect();
        MessageResult(cancelled)
    }
}
