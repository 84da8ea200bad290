//! Budgets reserved at admission and settled on finish.
//!
//! Each client's credit is split three ways: `available` to reserve, `reserved` by running
//! requests, and `spent`. Every operation moves credit between the three, so
//! `available + reserved + spent` always equals what the client was given, to the micro-unit.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

use crate::model::{
    ClientId, Money, RequestId, Reservation, ReservationId, ReservationStatus, Timestamp,
    ValidationError,
};

/// What to do with a request that comes without a cost estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnestimatedCost {
    /// Refuse it: nothing runs without a reservation that means something.
    #[default]
    Refuse,
    /// Reserve `max_reservation` for it.
    ReserveMax,
}

/// How much may be reserved for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReservationPolicy {
    /// The most one request may hold; larger estimates are reserved at this amount.
    pub max_reservation: Money,
    #[serde(default)]
    pub unestimated: UnestimatedCost,
}

impl Default for ReservationPolicy {
    /// Reserve at most $100 for one request; refuse requests that carry no estimate.
    fn default() -> Self {
        ReservationPolicy {
            max_reservation: Money::from_units(100),
            unestimated: UnestimatedCost::default(),
        }
    }
}

impl ReservationPolicy {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_reservation <= Money::ZERO {
            return Err(ValidationError::new(
                "reservation_policy.max_reservation",
                self.max_reservation,
                "an amount above zero",
            ));
        }
        Ok(())
    }
}

/// Why a credit operation was refused. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReserveError {
    #[error("unknown client {0}: open an account for it first")]
    UnknownClient(ClientId),
    #[error("client {0} already has an account")]
    AccountExists(ClientId),
    #[error("the request has no cost estimate and the policy refuses those (unestimated: refuse)")]
    Unestimated,
    #[error("client {client} needs {needed} but has {available} available")]
    InsufficientCredit {
        client: ClientId,
        needed: Money,
        available: Money,
    },
    #[error("unknown reservation {0}")]
    UnknownReservation(ReservationId),
    #[error("reservation {id} is {status:?}, expected active")]
    NotActive {
        id: ReservationId,
        status: ReservationStatus,
    },
    #[error("credit moves between two different clients, but both sides are {0}")]
    SameAccount(ClientId),
    #[error(
        "client {client} still holds {reserved} in active reservations ({count} of them): \
         settle or release them first, or remove the client with drain"
    )]
    AccountBusy {
        client: ClientId,
        reserved: Money,
        count: usize,
    },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// What `reserve` set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationGrant {
    pub id: ReservationId,
    pub amount: Money,
}

/// Raised by `track`, each at most once per reservation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ReservationAlert {
    /// Usage reached 80% of the reservation.
    Warning,
    /// Usage reached 95% of the reservation.
    Critical,
}

impl ReservationAlert {
    /// The event that tells of this alert, with usage as a share of the reservation (one
    /// when nothing was reserved).
    pub fn event(
        self,
        reservation: ReservationId,
        client: &ClientId,
        used: Money,
        reserved: Money,
    ) -> crate::model::EventKind {
        let usage_ratio = if reserved > Money::ZERO {
            used.as_f64() / reserved.as_f64()
        } else {
            1.0
        };
        let client = client.clone();
        match self {
            ReservationAlert::Warning => crate::model::EventKind::ResourceWarning {
                reservation,
                client,
                usage_ratio,
            },
            ReservationAlert::Critical => crate::model::EventKind::ResourceCritical {
                reservation,
                client,
                usage_ratio,
            },
        }
    }
}

/// The outcome of `settle`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settlement {
    pub reservation: ReservationId,
    /// Taken from the client: the actual cost, or less when an overrun exceeded its credit.
    pub charged: Money,
    /// Reserved but unused, back in the client's available credit.
    pub returned: Money,
    /// The part of an overrun the client's credit could not cover (never charged).
    pub uncovered: Money,
    /// How well the reservation fitted the actual cost, see [`efficiency`].
    pub efficiency: f64,
}

/// A client's credit, split by where it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBalance {
    pub available: Money,
    pub reserved: Money,
    pub spent: Money,
}

/// Usage ratio that scores 1.0: some headroom left, little credit locked up for nothing.
const BEST_USE: f64 = 0.8;

/// How well a reservation fitted its use, in 0..1.
///
/// With `r = used / reserved`: rises linearly from 0 at `r = 0` to 1.0 at `r = 0.8`, falls
/// linearly to 0.5 at `r = 1` (all used, no headroom), then on to 0 at `r = 2` (an overrun
/// as large as the reservation) and stays 0 beyond. A zero reservation scores 1.0 if
/// nothing was used and 0 otherwise.
pub fn efficiency(reserved: Money, used: Money) -> f64 {
    if reserved <= Money::ZERO {
        return if used <= Money::ZERO { 1.0 } else { 0.0 };
    }
    let r = (used.micros() as f64 / reserved.micros() as f64).max(0.0);
    if r <= BEST_USE {
        r / BEST_USE
    } else if r <= 1.0 {
        1.0 - 2.5 * (r - BEST_USE)
    } else {
        (0.5 * (2.0 - r)).max(0.0)
    }
}

/// What a direct charge (usage counted outside any reservation) took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectCharge {
    /// Taken from the client's available credit into spent.
    pub charged: Money,
    /// The part the available credit could not cover (only when forced; never charged).
    pub uncovered: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    client: ClientId,
    balance: AccountBalance,
    /// A removed client's account: its balances stay on the books (so the totals still
    /// add up) but nothing can be drawn on it, paid into it or reserved from it.
    #[serde(default)]
    closed: bool,
}

/// A reservation as the book keeps it: the client by index, so the hot path never clones a name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Entry {
    account: usize,
    request: Option<RequestId>,
    reserved: Money,
    used: Money,
    status: ReservationStatus,
    alerted: Option<ReservationAlert>,
    created_at: Timestamp,
    closed_at: Option<Timestamp>,
}

/// Clients' credit accounts and the reservations drawn on them.
///
/// Reservation ids count up from 1 in order of `reserve`; closed reservations stay
/// retrievable by `get`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreditBook {
    policy: ReservationPolicy,
    accounts: Vec<Account>,
    account_index: BTreeMap<ClientId, usize>,
    entries: Vec<Entry>,
    /// Everything ever deposited, kept within `Money`'s range so no balance can overflow.
    deposited: Money,
}

impl CreditBook {
    pub fn new(policy: ReservationPolicy) -> Result<Self, ValidationError> {
        policy.validate()?;
        Ok(CreditBook {
            policy,
            accounts: Vec::new(),
            account_index: BTreeMap::new(),
            entries: Vec::new(),
            deposited: Money::ZERO,
        })
    }

    pub fn policy(&self) -> &ReservationPolicy {
        &self.policy
    }

    /// Opens an account for `client` with `credits` available.
    pub fn open_account(&mut self, client: ClientId, credits: Money) -> Result<(), ReserveError> {
        if self.account_index.contains_key(&client) {
            return Err(ReserveError::AccountExists(client));
        }
        self.deposited = self.checked_deposit(credits)?;
        self.account_index
            .insert(client.clone(), self.accounts.len());
        self.accounts.push(Account {
            client,
            balance: AccountBalance {
                available: credits,
                ..AccountBalance::default()
            },
            closed: false,
        });
        Ok(())
    }

    /// Adds `amount` to the client's available credit.
    pub fn deposit(&mut self, client: &ClientId, amount: Money) -> Result<(), ReserveError> {
        let index = self.index_of(client)?;
        self.deposited = self.checked_deposit(amount)?;
        self.accounts[index].balance.available += amount;
        Ok(())
    }

    /// Moves `amount` of available credit from one client to another (the sharing of
    /// credit between clients). Nothing is created or lost: both sides change in one step,
    /// or, when refused, neither does.
    pub fn transfer(
        &mut self,
        from: &ClientId,
        to: &ClientId,
        amount: Money,
    ) -> Result<(), ReserveError> {
        if amount <= Money::ZERO {
            return Err(ValidationError::new("amount", amount, "an amount above zero").into());
        }
        if from == to {
            return Err(ReserveError::SameAccount(from.clone()));
        }
        let (source, target) = (self.index_of(from)?, self.index_of(to)?);
        let available = self.accounts[source].balance.available;
        if available < amount {
            return Err(ReserveError::InsufficientCredit {
                client: from.clone(),
                needed: amount,
                available,
            });
        }
        self.accounts[source].balance.available -= amount;
        self.accounts[target].balance.available += amount;
        Ok(())
    }

    /// Charges `amount` straight from the client's available credit into spent, for work
    /// that ran outside any reservation. Refused when the credit does not cover it, unless
    /// `force` (the work already happened): then what is available is charged and the
    /// rest reported as `uncovered`.
    pub fn charge(
        &mut self,
        client: &ClientId,
        amount: Money,
        force: bool,
    ) -> Result<DirectCharge, ReserveError> {
        positive_or_zero("cost", amount)?;
        let index = self.index_of(client)?;
        let balance = &mut self.accounts[index].balance;
        if balance.available < amount && !force {
            return Err(ReserveError::InsufficientCredit {
                client: client.clone(),
                needed: amount,
                available: balance.available,
            });
        }
        let charged = amount.min(balance.available);
        balance.available -= charged;
        balance.spent += charged;
        Ok(DirectCharge {
            charged,
            uncovered: amount - charged,
        })
    }

    /// The active reservations drawn on `client`'s account, oldest first.
    pub fn active_for(&self, client: &ClientId) -> Vec<ReservationId> {
        let Some(&index) = self.account_index.get(client) else {
            return Vec::new();
        };
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.account == index && e.status == ReservationStatus::Active)
            .map(|(position, _)| ReservationId(position as u64 + 1))
            .collect()
    }

    /// Closes a removed client's account; refused while it holds active reservations.
    /// Its balances stay counted in [`CreditBook::total_credits`]: credit is never destroyed.
    pub fn close_account(&mut self, client: &ClientId) -> Result<AccountBalance, ReserveError> {
        let index = self.index_of(client)?;
        let balance = self.accounts[index].balance;
        if balance.reserved > Money::ZERO {
            return Err(ReserveError::AccountBusy {
                client: client.clone(),
                reserved: balance.reserved,
                count: self.active_for(client).len(),
            });
        }
        self.accounts[index].closed = true;
        Ok(balance)
    }

    /// Sets credit aside for a request: `min(estimate, max_reservation)`, or
    /// `max_reservation` for a request without an estimate if the policy allows it.
    pub fn reserve(
        &mut self,
        client: &ClientId,
        request: Option<RequestId>,
        estimate: Option<Money>,
        now: Timestamp,
    ) -> Result<ReservationGrant, ReserveError> {
        let amount = match estimate {
            Some(estimate) => {
                positive_or_zero("estimate", estimate)?;
                estimate.min(self.policy.max_reservation)
            }
            None => match self.policy.unestimated {
                UnestimatedCost::Refuse => return Err(ReserveError::Unestimated),
                UnestimatedCost::ReserveMax => self.policy.max_reservation,
            },
        };
        let index = self.index_of(client)?;
        let balance = &mut self.accounts[index].balance;
        if balance.available < amount {
            return Err(ReserveError::InsufficientCredit {
                client: client.clone(),
                needed: amount,
                available: balance.available,
            });
        }
        balance.available -= amount;
        balance.reserved += amount;
        self.entries.push(Entry {
            account: index,
            request,
            reserved: amount,
            used: Money::ZERO,
            status: ReservationStatus::Active,
            alerted: None,
            created_at: now,
            closed_at: None,
        });
        Ok(ReservationGrant {
            id: ReservationId(self.entries.len() as u64),
            amount,
        })
    }

    /// Records the usage of a running request so far. Returns an alert the first time usage
    /// reaches 80% (`Warning`) and 95% (`Critical`) of the reservation; a jump straight past
    /// 95% reports only `Critical`. Usage of a zero reservation alerts once it is above zero.
    pub fn track(
        &mut self,
        id: ReservationId,
        used_so_far: Money,
    ) -> Result<Option<ReservationAlert>, ReserveError> {
        positive_or_zero("used_so_far", used_so_far)?;
        let entry = active_entry(&mut self.entries, id)?;
        entry.used = used_so_far;
        let reached = |percent: i128| {
            used_so_far > Money::ZERO
                && used_so_far.micros() as i128 * 100 >= entry.reserved.micros() as i128 * percent
        };
        let level = if reached(95) {
            Some(ReservationAlert::Critical)
        } else if reached(80) {
            Some(ReservationAlert::Warning)
        } else {
            None
        };
        if level > entry.alerted {
            entry.alerted = level;
            Ok(level)
        } else {
            Ok(None)
        }
    }

    /// Closes a reservation at its actual cost: charges it and returns the unused rest. An
    /// overrun is charged from the client's available credit as far as that goes; the part
    /// it cannot cover is reported as `uncovered`, never charged.
    pub fn settle(
        &mut self,
        id: ReservationId,
        actual: Money,
        now: Timestamp,
    ) -> Result<Settlement, ReserveError> {
        positive_or_zero("actual", actual)?;
        let entry = active_entry(&mut self.entries, id)?;
        entry.used = actual;
        entry.status = ReservationStatus::Settled;
        entry.closed_at = Some(now);
        let reserved = entry.reserved;
        let balance = &mut self.accounts[entry.account].balance;
        // Both are zero or more, so neither difference can overflow.
        let returned = (reserved - actual).max(Money::ZERO);
        let overrun = (actual - reserved).max(Money::ZERO);
        let covered = overrun.min(balance.available);
        let charged = actual - overrun + covered;
        balance.reserved -= reserved;
        balance.available += returned;
        balance.available -= covered;
        balance.spent += charged;
        Ok(Settlement {
            reservation: id,
            charged,
            returned,
            uncovered: overrun - covered,
            efficiency: efficiency(reserved, actual),
        })
    }

    /// Cancels a reservation: all of it returns to the client's available credit. The usage
    /// tracked so far stays on record.
    pub fn release(&mut self, id: ReservationId, now: Timestamp) -> Result<(), ReserveError> {
        let entry = active_entry(&mut self.entries, id)?;
        entry.status = ReservationStatus::Released;
        entry.closed_at = Some(now);
        let reserved = entry.reserved;
        let balance = &mut self.accounts[entry.account].balance;
        balance.reserved -= reserved;
        balance.available += reserved;
        Ok(())
    }

    /// A reservation, active or closed.
    pub fn get(&self, id: ReservationId) -> Option<Reservation> {
        let entry = self.entry(id)?;
        Some(Reservation {
            id,
            client: self.accounts[entry.account].client.clone(),
            request: entry.request,
            reserved: entry.reserved,
            used: entry.used,
            status: entry.status,
            created_at: entry.created_at,
            closed_at: entry.closed_at,
        })
    }

    /// An open account's balances (`None` for an unknown or closed one).
    pub fn account(&self, client: &ClientId) -> Option<AccountBalance> {
        let index = self.index_of(client).ok()?;
        Some(self.accounts[index].balance)
    }

    /// Every account's balances, in the order accounts were opened.
    pub fn balances(&self) -> impl Iterator<Item = (&ClientId, AccountBalance)> {
        self.accounts.iter().map(|a| (&a.client, a.balance))
    }

    /// Available + reserved + spent over all accounts: equals everything deposited.
    pub fn total_credits(&self) -> Money {
        self.accounts
            .iter()
            .map(|a| a.balance.available + a.balance.reserved + a.balance.spent)
            .sum()
    }

    /// The index of an open account.
    fn index_of(&self, client: &ClientId) -> Result<usize, ReserveError> {
        self.account_index
            .get(client)
            .copied()
            .filter(|&index| !self.accounts[index].closed)
            .ok_or_else(|| ReserveError::UnknownClient(client.clone()))
    }

    fn checked_deposit(&self, amount: Money) -> Result<Money, ValidationError> {
        positive_or_zero("credits", amount)?;
        self.deposited.checked_add(amount).ok_or_else(|| {
            ValidationError::new(
                "credits",
                amount,
                "an amount that keeps the book's total below $9.2 trillion",
            )
        })
    }

    fn entry(&self, id: ReservationId) -> Option<&Entry> {
        self.entries.get(position_of(id)?)
    }
}

/// The entry of reservation `id`, refused unless it is still active.
fn active_entry(entries: &mut [Entry], id: ReservationId) -> Result<&mut Entry, ReserveError> {
    let entry = position_of(id)
        .and_then(|position| entries.get_mut(position))
        .ok_or(ReserveError::UnknownReservation(id))?;
    match entry.status {
        ReservationStatus::Active => Ok(entry),
        status => Err(ReserveError::NotActive { id, status }),
    }
}

/// Where reservation `id` sits in the book's entries (ids count from 1).
fn position_of(id: ReservationId) -> Option<usize> {
    usize::try_from(id.0.checked_sub(1)?).ok()
}

fn positive_or_zero(field: &str, amount: Money) -> Result<(), ValidationError> {
    if amount.is_negative() {
        Err(ValidationError::new(
            field,
            amount,
            "an amount of zero or more",
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn units(n: i64) -> Money {
        Money::from_units(n)
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_nanos(secs * 1_000_000_000)
    }

    fn policy(unestimated: UnestimatedCost) -> ReservationPolicy {
        ReservationPolicy {
            max_reservation: units(100),
            unestimated,
        }
    }

    /// A book with client "a" holding $1,000.
    fn book() -> (CreditBook, ClientId) {
        let mut book = CreditBook::new(policy(UnestimatedCost::Refuse)).unwrap();
        let a = ClientId::new("a");
        book.open_account(a.clone(), units(1000)).unwrap();
        (book, a)
    }

    fn balance(available: i64, reserved: i64, spent: i64) -> AccountBalance {
        AccountBalance {
            available: units(available),
            reserved: units(reserved),
            spent: units(spent),
        }
    }

    fn not_active(id: ReservationId, status: ReservationStatus) -> ReserveError {
        ReserveError::NotActive { id, status }
    }

    fn invalid_field(err: ReserveError) -> String {
        match err {
            ReserveError::Invalid(e) => e.field,
            other => panic!("expected an invalid input, got {other:?}"),
        }
    }

    #[test]
    fn policy_refuses_a_max_of_zero_or_less_and_parses_with_defaults() {
        for max in [0, -1] {
            let bad = ReservationPolicy {
                max_reservation: units(max),
                unestimated: UnestimatedCost::Refuse,
            };
            let err = bad.validate().unwrap_err();
            assert_eq!(err.field, "reservation_policy.max_reservation");
            assert!(CreditBook::new(bad).is_err());
        }
        let p: ReservationPolicy = ron::from_str("(max_reservation: 2.5)").unwrap();
        assert_eq!(p.max_reservation, Money::from_micros(2_500_000));
        assert_eq!(p.unestimated, UnestimatedCost::Refuse);
        let p: ReservationPolicy =
            ron::from_str("(max_reservation: 1, unestimated: reserve_max)").unwrap();
        assert_eq!(p.unestimated, UnestimatedCost::ReserveMax);
        assert!(ron::from_str::<ReservationPolicy>("(max_reservaton: 1)").is_err());
    }

    #[test]
    fn accounts_open_once_and_take_deposits() {
        let (mut book, a) = book();
        assert_eq!(book.account(&a), Some(balance(1000, 0, 0)));
        assert_eq!(
            book.open_account(a.clone(), units(5)),
            Err(ReserveError::AccountExists(a.clone()))
        );
        book.deposit(&a, units(50)).unwrap();
        assert_eq!(book.account(&a), Some(balance(1050, 0, 0)));
        let b = ClientId::new("b");
        assert_eq!(book.account(&b), None);
        assert_eq!(
            book.deposit(&b, units(1)),
            Err(ReserveError::UnknownClient(b.clone()))
        );
        let err = book.open_account(b.clone(), units(-1)).unwrap_err();
        assert_eq!(invalid_field(err), "credits");
        assert_eq!(
            invalid_field(book.deposit(&a, units(-1)).unwrap_err()),
            "credits"
        );
        let too_much = Money::from_micros(i64::MAX);
        assert_eq!(
            invalid_field(book.deposit(&a, too_much).unwrap_err()),
            "credits"
        );
        assert_eq!(
            book.account(&a),
            Some(balance(1050, 0, 0)),
            "refusals change nothing"
        );
        assert_eq!(book.total_credits(), units(1050));
    }

    #[test]
    fn reserve_sets_aside_the_estimate_capped_at_the_max() {
        let (mut book, a) = book();
        let small = book.reserve(&a, Some(RequestId(7)), Some(units(30)), t(1));
        let capped = book.reserve(&a, None, Some(units(500)), t(2));
        let grant = |id, amount| {
            Ok(ReservationGrant {
                id: ReservationId(id),
                amount,
            })
        };
        assert_eq!((small, capped), (grant(1, units(30)), grant(2, units(100))));
        assert_eq!(book.account(&a), Some(balance(870, 130, 0)));
        let r = book.get(ReservationId(1)).unwrap();
        assert_eq!(
            r,
            Reservation {
                id: ReservationId(1),
                client: a.clone(),
                request: Some(RequestId(7)),
                reserved: units(30),
                used: Money::ZERO,
                status: ReservationStatus::Active,
                created_at: t(1),
                closed_at: None,
            }
        );
        assert_eq!(book.get(ReservationId(0)), None);
        assert_eq!(book.get(ReservationId(3)), None);
    }

    #[test]
    fn reserve_refuses_what_it_cannot_cover() {
        let (mut book, a) = book();
        assert_eq!(
            book.reserve(&a, None, None, t(0)),
            Err(ReserveError::Unestimated)
        );
        let err = book.reserve(&a, None, Some(units(-1)), t(0)).unwrap_err();
        assert_eq!(invalid_field(err), "estimate");
        let z = ClientId::new("z");
        assert_eq!(
            book.reserve(&z, None, Some(units(1)), t(0)),
            Err(ReserveError::UnknownClient(z))
        );
        for _ in 0..10 {
            book.reserve(&a, None, Some(units(100)), t(0)).unwrap();
        }
        assert_eq!(
            book.reserve(&a, None, Some(units(1)), t(0)),
            Err(ReserveError::InsufficientCredit {
                client: a.clone(),
                needed: units(1),
                available: Money::ZERO,
            })
        );
        let free = book.reserve(&a, None, Some(Money::ZERO), t(0)).unwrap();
        assert_eq!(
            free.amount,
            Money::ZERO,
            "a free request fits an empty account"
        );
        assert_eq!(book.account(&a), Some(balance(0, 1000, 0)));
    }

    #[test]
    fn unestimated_requests_may_reserve_the_max() {
        let mut book = CreditBook::new(policy(UnestimatedCost::ReserveMax)).unwrap();
        let a = ClientId::new("a");
        book.open_account(a.clone(), units(150)).unwrap();
        let grant = book.reserve(&a, None, None, t(0)).unwrap();
        assert_eq!(grant.amount, units(100));
        let err = book.reserve(&a, None, None, t(0)).unwrap_err();
        assert!(
            err.to_string().contains("needs $100.00 but has $50.00"),
            "{err}"
        );
    }

    #[test]
    fn track_warns_at_80_and_95_percent_once_each() {
        let (mut book, a) = book();
        let id = book.reserve(&a, None, Some(units(100)), t(0)).unwrap().id;
        let just_under = Money::from_micros(79_999_999);
        assert_eq!(book.track(id, just_under), Ok(None));
        assert_eq!(
            book.track(id, units(80)),
            Ok(Some(ReservationAlert::Warning))
        );
        assert_eq!(book.track(id, units(90)), Ok(None));
        assert_eq!(
            book.track(id, units(95)),
            Ok(Some(ReservationAlert::Critical))
        );
        assert_eq!(book.track(id, units(150)), Ok(None));
        assert_eq!(book.get(id).unwrap().used, units(150));

        let jump = book.reserve(&a, None, Some(units(10)), t(0)).unwrap().id;
        assert_eq!(
            book.track(jump, units(10)),
            Ok(Some(ReservationAlert::Critical))
        );
        assert_eq!(
            book.track(jump, units(8)),
            Ok(None),
            "no warning after the critical"
        );

        let free = book.reserve(&a, None, Some(Money::ZERO), t(0)).unwrap().id;
        assert_eq!(book.track(free, Money::ZERO), Ok(None));
        let one_micro = Money::from_micros(1);
        assert_eq!(
            book.track(free, one_micro),
            Ok(Some(ReservationAlert::Critical))
        );
    }

    #[test]
    fn track_refuses_bad_ids_and_usage() {
        let (mut book, a) = book();
        let id = book.reserve(&a, None, Some(units(10)), t(0)).unwrap().id;
        assert_eq!(
            invalid_field(book.track(id, units(-1)).unwrap_err()),
            "used_so_far"
        );
        assert_eq!(
            book.track(ReservationId(9), units(1)),
            Err(ReserveError::UnknownReservation(ReservationId(9)))
        );
        book.release(id, t(1)).unwrap();
        assert_eq!(
            book.track(id, units(1)),
            Err(not_active(id, ReservationStatus::Released))
        );
    }

    #[test]
    fn settle_charges_the_actual_cost_and_returns_the_rest() {
        let (mut book, a) = book();
        let id = book
            .reserve(&a, Some(RequestId(1)), Some(units(100)), t(0))
            .unwrap()
            .id;
        let s = book.settle(id, units(80), t(5)).unwrap();
        assert_eq!(
            s,
            Settlement {
                reservation: id,
                charged: units(80),
                returned: units(20),
                uncovered: Money::ZERO,
                efficiency: 1.0,
            }
        );
        assert_eq!(book.account(&a), Some(balance(920, 0, 80)));
        let r = book.get(id).unwrap();
        assert_eq!(
            (r.status, r.used, r.closed_at),
            (ReservationStatus::Settled, units(80), Some(t(5)))
        );
        assert_eq!(
            book.settle(id, units(1), t(6)),
            Err(not_active(id, ReservationStatus::Settled))
        );
        assert_eq!(
            book.release(id, t(6)),
            Err(not_active(id, ReservationStatus::Settled))
        );
        let other = book.reserve(&a, None, Some(units(1)), t(0)).unwrap().id;
        assert_eq!(
            invalid_field(book.settle(other, units(-1), t(1)).unwrap_err()),
            "actual"
        );
        assert_eq!(book.account(&a), Some(balance(919, 1, 80)));
    }

    #[test]
    fn overruns_are_charged_from_available_credit_as_far_as_it_goes() {
        let mut book = CreditBook::new(policy(UnestimatedCost::Refuse)).unwrap();
        let a = ClientId::new("a");
        book.open_account(a.clone(), units(130)).unwrap();
        let covered = book.reserve(&a, None, Some(units(100)), t(0)).unwrap().id;
        let s = book.settle(covered, units(120), t(1)).unwrap();
        assert_eq!(
            (s.charged, s.returned, s.uncovered),
            (units(120), Money::ZERO, Money::ZERO)
        );
        assert_eq!(s.efficiency, 0.4);
        assert_eq!(book.account(&a), Some(balance(10, 0, 120)));

        let short = book.reserve(&a, None, Some(units(5)), t(2)).unwrap().id;
        let s = book.settle(short, units(25), t(3)).unwrap();
        assert_eq!(
            (s.charged, s.returned, s.uncovered),
            (units(10), Money::ZERO, units(15))
        );
        assert_eq!(book.account(&a), Some(balance(0, 0, 130)));
        assert_eq!(
            book.get(short).unwrap().used,
            units(25),
            "the record keeps the actual cost"
        );
        assert_eq!(book.total_credits(), units(130));
    }

    #[test]
    fn release_returns_everything() {
        let (mut book, a) = book();
        let id = book.reserve(&a, None, Some(units(60)), t(0)).unwrap().id;
        book.track(id, units(10)).unwrap();
        book.release(id, t(4)).unwrap();
        assert_eq!(book.account(&a), Some(balance(1000, 0, 0)));
        let r = book.get(id).unwrap();
        assert_eq!(
            (r.status, r.used, r.closed_at),
            (ReservationStatus::Released, units(10), Some(t(4)))
        );
        assert_eq!(
            book.release(id, t(5)),
            Err(not_active(id, ReservationStatus::Released))
        );
        assert_eq!(
            book.settle(ReservationId(0), units(1), t(5)),
            Err(ReserveError::UnknownReservation(ReservationId(0)))
        );
        assert_eq!(
            book.release(ReservationId(u64::MAX), t(5)),
            Err(ReserveError::UnknownReservation(ReservationId(u64::MAX)))
        );
    }

    #[test]
    fn transfer_moves_available_credit_and_refuses_what_is_not_there() {
        let (mut book, a) = book();
        let b = ClientId::new("b");
        book.open_account(b.clone(), units(10)).unwrap();
        let held = book.reserve(&a, None, Some(units(100)), t(0)).unwrap().id;
        // Reserved credit is not available to give away.
        assert_eq!(
            book.transfer(&a, &b, units(901)),
            Err(ReserveError::InsufficientCredit {
                client: a.clone(),
                needed: units(901),
                available: units(900),
            })
        );
        book.transfer(&a, &b, units(900)).unwrap();
        assert_eq!(book.account(&a), Some(balance(0, 100, 0)));
        assert_eq!(book.account(&b), Some(balance(910, 0, 0)));
        assert_eq!(
            book.transfer(&a, &a, units(1)),
            Err(ReserveError::SameAccount(a.clone()))
        );
        assert_eq!(
            invalid_field(book.transfer(&b, &a, units(0)).unwrap_err()),
            "amount"
        );
        assert_eq!(
            book.transfer(&b, &ClientId::new("x"), units(1)),
            Err(ReserveError::UnknownClient(ClientId::new("x")))
        );
        book.release(held, t(1)).unwrap();
        assert_eq!(book.total_credits(), units(1010));
    }

    #[test]
    fn a_direct_charge_is_refused_beyond_credit_unless_forced() {
        let (mut book, a) = book();
        assert_eq!(
            book.charge(&a, units(5), false),
            Ok(DirectCharge {
                charged: units(5),
                uncovered: Money::ZERO
            })
        );
        assert!(matches!(
            book.charge(&a, units(996), false),
            Err(ReserveError::InsufficientCredit { .. })
        ));
        assert_eq!(
            book.charge(&a, units(996), true),
            Ok(DirectCharge {
                charged: units(995),
                uncovered: units(1)
            })
        );
        assert_eq!(book.account(&a), Some(balance(0, 0, 1000)));
    }

    #[test]
    fn a_closed_account_keeps_its_credit_counted_but_takes_nothing_more() {
        let (mut book, a) = book();
        let id = book.reserve(&a, None, Some(units(10)), t(0)).unwrap().id;
        assert_eq!(book.active_for(&a), vec![id]);
        assert!(matches!(
            book.close_account(&a),
            Err(ReserveError::AccountBusy { count: 1, .. })
        ));
        book.settle(id, units(4), t(1)).unwrap();
        assert_eq!(book.close_account(&a), Ok(balance(996, 0, 4)));
        assert_eq!(book.account(&a), None);
        assert_eq!(
            book.deposit(&a, units(1)),
            Err(ReserveError::UnknownClient(a.clone()))
        );
        assert!(book.reserve(&a, None, Some(units(1)), t(2)).is_err());
        assert_eq!(book.total_credits(), units(1000));
    }

    #[test]
    fn efficiency_peaks_at_80_percent_use() {
        let e = |used: i64| efficiency(units(100), units(used));
        let curve: Vec<f64> = [0, 40, 80, 90, 100, 150, 200, 500].map(e).to_vec();
        let expected = [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0];
        for (got, want) in curve.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{curve:?}");
        }
        assert_eq!(efficiency(Money::ZERO, Money::ZERO), 1.0);
        assert_eq!(efficiency(Money::ZERO, Money::from_micros(1)), 0.0);
        assert_eq!(efficiency(units(1), units(-1)), 0.0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Open(usize, i64),
        Deposit(usize, i64),
        Reserve(usize, Option<i64>),
        Track(usize, i64),
        Settle(usize, i64),
        Release(usize),
        Transfer(usize, usize, i64),
        Charge(usize, i64, bool),
        Close(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let client = 0..3usize;
        let micros = -1_000i64..300_000_000;
        let reservation = 0..40usize;
        prop_oneof![
            (client.clone(), micros.clone()).prop_map(|(c, m)| Op::Open(c, m)),
            (client.clone(), micros.clone()).prop_map(|(c, m)| Op::Deposit(c, m)),
            (client, prop::option::of(micros.clone())).prop_map(|(c, m)| Op::Reserve(c, m)),
            (reservation.clone(), micros.clone()).prop_map(|(r, m)| Op::Track(r, m)),
            (reservation.clone(), micros.clone()).prop_map(|(r, m)| Op::Settle(r, m)),
            reservation.prop_map(Op::Release),
            (0..3usize, 0..3usize, micros.clone()).prop_map(|(a, b, m)| Op::Transfer(a, b, m)),
            (0..3usize, micros, any::<bool>()).prop_map(|(c, m, f)| Op::Charge(c, m, f)),
            (0..3usize).prop_map(Op::Close),
        ]
    }

    proptest! {
        #[test]
        fn credit_is_conserved_exactly(
            unestimated in prop::sample::select(vec![UnestimatedCost::Refuse, UnestimatedCost::ReserveMax]),
            ops in prop::collection::vec(op(), 1..80),
        ) {
            let mut book = CreditBook::new(policy(unestimated)).unwrap();
            let clients: Vec<ClientId> = ["a", "b", "c"].map(ClientId::new).to_vec();
            let mut deposited = [0i64; 3];
            for (step, op) in ops.into_iter().enumerate() {
                let now = t(step as i64);
                // Refusals are part of the law: whatever is refused must change nothing.
                let _ = match op {
                    Op::Open(c, m) => book.open_account(clients[c].clone(), Money::from_micros(m))
                        .map(|()| deposited[c] = m),
                    Op::Deposit(c, m) => book.deposit(&clients[c], Money::from_micros(m))
                        .map(|()| deposited[c] += m),
                    Op::Reserve(c, m) => book.reserve(&clients[c], None, m.map(Money::from_micros), now)
                        .map(|_| ()),
                    Op::Track(r, m) => book.track(ReservationId(r as u64), Money::from_micros(m))
                        .map(|_| ()),
                    Op::Settle(r, m) => book.settle(ReservationId(r as u64), Money::from_micros(m), now)
                        .map(|_| ()),
                    Op::Release(r) => book.release(ReservationId(r as u64), now),
                    Op::Transfer(a, b, m) => book
                        .transfer(&clients[a], &clients[b], Money::from_micros(m))
                        .map(|()| {
                            deposited[a] -= m;
                            deposited[b] += m;
                        }),
                    Op::Charge(c, m, force) => book
                        .charge(&clients[c], Money::from_micros(m), force)
                        .map(|_| ()),
                    Op::Close(c) => book.close_account(&clients[c]).map(|_| ()),
                };
                for (c, client) in clients.iter().enumerate() {
                    let Some(b) = book.account(client) else { continue };
                    prop_assert_eq!((b.available + b.reserved + b.spent).micros(), deposited[c]);
                    prop_assert!(!b.available.is_negative() && !b.reserved.is_negative());
                    let active: Money = (1..=80)
                        .filter_map(|r| book.get(ReservationId(r)))
                        .filter(|r| &r.client == client && r.status == ReservationStatus::Active)
                        .map(|r| r.reserved)
                        .sum();
                    prop_assert_eq!(b.reserved, active);
                }
                prop_assert_eq!(book.total_credits().micros(), deposited.iter().sum::<i64>());
            }
        }
    }
}
