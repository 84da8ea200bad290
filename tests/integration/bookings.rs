//! Bookings of shared resources: the booking actor on its own, and the replay of the booking
//! streams of `scenarios/gpu_bookings.ron`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use quartermaster::actors::{
    Book, BookingActor, CancelBooking, CompleteBooking, GetBookingSummary, GetLedger, LedgerActor,
    ListBookings, RegisterResource,
};
use quartermaster::clock::{SharedClock, VirtualClock};
use quartermaster::model::{
    Booking, BookingStatus, ClientId, Money, Resource, ResourceId, ResourceKind, ResourceStatus,
    Timestamp,
};
use quartermaster::policy::booking::{BookingError, BookingFilter};
use quartermaster::sim::{self, Report, RunOptions};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE_NANOS: i64 = 60_000_000_000;

fn gpu_bookings() -> sim::Scenario {
    sim::load_file(&crate::root().join("scenarios/gpu_bookings.ron"))
        .expect("the shipped scenario loads")
}

fn replay(seed: u64) -> Report {
    let options = RunOptions {
        seed: Some(seed),
        progress: false,
    };
    sim::run(&gpu_bookings(), &options).expect("the scenario replays")
}

#[test]
fn bookings_are_made_and_contention_is_counted_by_reason() {
    let report = replay(7);
    let bookings = report.bookings.as_ref().expect("a bookings section");
    let refused = bookings.refused;
    assert!(bookings.booked > 50, "{}", bookings.booked);
    assert!(refused.conflict > 0 && refused.too_long > 0 && refused.unavailable > 0);
    assert_eq!(
        bookings.attempts,
        bookings.booked + refused.conflict + refused.too_long + refused.unavailable
    );
    assert_eq!(bookings.list.len() as u64, bookings.booked);
    assert_eq!(report.events.get("booking.created"), Some(&bookings.booked));
    // Every booking was completed at the end of its slot, within the run.
    assert!(
        bookings
            .list
            .iter()
            .all(|b| b.status == BookingStatus::Completed && b.end <= report.ended_at)
    );
    // The V100 is in maintenance: nobody gets it.
    let v100 = bookings
        .resources
        .iter()
        .find(|r| r.resource.as_str() == "v100-1")
        .unwrap();
    assert_eq!((v100.bookings, v100.utilisation), (0, 0.0));
    let rendered = report.render();
    assert!(rendered.contains("\nBookings: "), "{rendered}");
}

#[test]
fn no_two_bookings_of_one_resource_overlap() {
    let report = replay(7);
    let mut by_resource: BTreeMap<&ResourceId, Vec<&Booking>> = BTreeMap::new();
    for booking in &report.bookings.as_ref().unwrap().list {
        by_resource
            .entry(&booking.resource)
            .or_default()
            .push(booking);
    }
    assert_eq!(by_resource.len(), 3, "every working GPU is booked");
    for (resource, mut held) in by_resource {
        held.sort_by_key(|b| b.start);
        for pair in held.windows(2) {
            assert!(
                pair[0].end <= pair[1].start,
                "{resource}: {:?} overlaps {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}

#[test]
fn booking_costs_are_hours_times_price_exactly() {
    let scenario = gpu_bookings();
    let price: BTreeMap<&ResourceId, i64> = scenario
        .resources
        .iter()
        .map(|r| (&r.id, r.cost_per_hour.micros()))
        .collect();
    let report = replay(7);
    let bookings = report.bookings.as_ref().unwrap();
    let mut total = Money::ZERO;
    let mut minutes_by_resource: BTreeMap<&ResourceId, i64> = BTreeMap::new();
    let mut spend_by_resource: BTreeMap<&ResourceId, Money> = BTreeMap::new();
    for booking in &bookings.list {
        let nanos = booking.end.nanos() - booking.start.nanos();
        assert_eq!(nanos % MINUTE_NANOS, 0, "slots are whole minutes");
        assert_eq!(
            booking.start.nanos() % MINUTE_NANOS,
            0,
            "slots start on a minute"
        );
        let minutes = nanos / MINUTE_NANOS;
        // Prices are multiples of 60 micro-dollars an hour, so every minute costs a whole
        // number of micro-dollars and no rounding is involved.
        let per_hour = price[&booking.resource];
        assert_eq!(per_hour % 60, 0);
        assert_eq!(
            booking.estimated_cost,
            Money::from_micros(per_hour / 60 * minutes)
        );
        total += booking.estimated_cost;
        *minutes_by_resource.entry(&booking.resource).or_default() += minutes;
        *spend_by_resource.entry(&booking.resource).or_default() += booking.estimated_cost;
    }
    assert_eq!(bookings.spend, total);
    assert_eq!(report.costs.by_type.get("booking"), Some(&total));
    assert_eq!(
        report.costs.total, total,
        "nothing else costs in this scenario"
    );
    let window_hours = report.ended_at.since(report.started_at).as_secs_f64() / 3600.0;
    for used in &bookings.resources {
        let minutes = minutes_by_resource
            .get(&used.resource)
            .copied()
            .unwrap_or(0);
        assert!((used.booked_hours - minutes as f64 / 60.0).abs() < 1e-9);
        assert_eq!(
            used.spend,
            spend_by_resource
                .get(&used.resource)
                .copied()
                .unwrap_or_default()
        );
        // Every slot lies within the run, so utilisation is booked hours over its length.
        assert!((used.utilisation - used.booked_hours / window_hours).abs() < 1e-9);
        assert!(used.utilisation <= 1.0);
    }
}

#[test]
fn the_same_seed_gives_the_same_report_bytes() {
    let first = replay(11).to_json();
    assert_eq!(first, replay(11).to_json());
    assert_ne!(first, replay(12).to_json());
    assert!(first.contains("\"bookings\""));
}

#[test]
fn a_scenario_without_booking_streams_reports_no_bookings() {
    let mut scenario = sim::load_file(&crate::root().join("scenarios/mmc.ron")).unwrap();
    scenario.max_requests = Some(1_000);
    let report = sim::run(&scenario, &RunOptions::default()).unwrap();
    assert!(report.bookings.is_none());
    assert!(!report.to_json().contains("\"bookings\""));
    assert!(!report.render().contains("Bookings"));
}

fn gpu(id: &str, cost_per_hour: Money) -> Resource {
    Resource {
        id: ResourceId::new(id),
        name: id.to_owned(),
        kind: ResourceKind::Gpu,
        specs: BTreeMap::new(),
        description: String::new(),
        owner: None,
        status: ResourceStatus::Available,
        cost_per_hour,
        max_booking_hours: 8,
        tags: Vec::new(),
    }
}

#[test]
fn the_booking_actor_books_cancels_completes_and_charges_the_ledger() {
    let t0 = Timestamp::parse("2026-01-05T00:00:00Z").unwrap();
    let clock = VirtualClock::starting_at(t0);
    let shared: SharedClock = Arc::new(clock.clone());
    let request = |resource: &str, client: &str, from: u32, to: u32| Book {
        resource: ResourceId::new(resource),
        client: ClientId::new(client),
        start: t0 + HOUR * from,
        end: t0 + HOUR * to,
        purpose: "test".to_owned(),
    };
    actix::System::new().block_on(async move {
        let ledger = LedgerActor::new(100).start();
        let desk = BookingActor::new(shared, ledger.clone()).start();
        let price = Money::from_micros(2_400_000);
        desk.send(RegisterResource(gpu("a", price)))
            .await
            .unwrap()
            .unwrap();
        let again = desk
            .send(RegisterResource(gpu("a", price)))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(again.field, "id");

        let first = desk.send(request("a", "x", 1, 3)).await.unwrap().unwrap();
        assert_eq!(first.estimated_cost, Money::from_micros(4_800_000));
        match desk.send(request("a", "y", 2, 4)).await.unwrap() {
            Err(BookingError::Conflict { existing }) => assert_eq!(existing.id, first.id),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(
            desk.send(request("b", "y", 3, 4)).await.unwrap(),
            Err(BookingError::UnknownResource(ResourceId::new("b")))
        );
        assert!(matches!(
            desk.send(request("a", "y", 3, 12)).await.unwrap(),
            Err(BookingError::TooLong { max: 8, .. })
        ));
        // Back to back is no conflict.
        let second = desk.send(request("a", "y", 3, 5)).await.unwrap().unwrap();
        let cancelled = desk.send(CancelBooking(second.id)).await.unwrap().unwrap();
        assert_eq!(cancelled.status, BookingStatus::Cancelled);

        assert!(matches!(
            desk.send(CompleteBooking(first.id)).await.unwrap(),
            Err(BookingError::NotStarted { .. })
        ));
        clock.advance_to(t0 + HOUR * 3);
        let done = desk.send(CompleteBooking(first.id)).await.unwrap().unwrap();
        assert_eq!(done.status, BookingStatus::Completed);
        assert!(matches!(
            desk.send(request("a", "z", 2, 4)).await.unwrap(),
            Err(BookingError::InThePast { .. })
        ));

        let by_y = desk
            .send(ListBookings(BookingFilter {
                client: Some(ClientId::new("y")),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(by_y, [cancelled]);

        let summary = desk
            .send(GetBookingSummary {
                from: t0,
                to: t0 + HOUR * 10,
            })
            .await
            .unwrap();
        let used = &summary.resources[0];
        assert_eq!((used.bookings, used.cancelled), (1, 1));
        assert_eq!(used.booked_hours, 2.0);
        assert!((used.utilisation - 0.2).abs() < 1e-12);
        // Both confirmed bookings were charged; a cancellation refunds nothing.
        assert_eq!(used.spend, Money::from_micros(9_600_000));
        assert_eq!(summary.spend, used.spend);

        let view = ledger
            .send(GetLedger {
                event_limit: 100,
                filter: Default::default(),
                item_limit: 0,
            })
            .await
            .unwrap();
        assert_eq!(
            view.costs.by_type.get("booking"),
            Some(&Money::from_micros(9_600_000))
        );
        assert_eq!(
            view.costs.by_category.get("a"),
            view.costs.by_type.get("booking")
        );
        assert_eq!(view.event_counts.get("booking.created"), Some(&2));
        assert_eq!(view.event_counts.get("booking.cancelled"), Some(&1));
        assert_eq!(view.event_counts.get("resource.created"), Some(&1));
    });
}
