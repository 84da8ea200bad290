//! The cost ledger: every charge, indexed by time, summed exactly in integer micro-units.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{
    ClientId, CostEntry, CostEntryId, CostType, Metadata, Money, Timestamp, ValidationError,
};

/// Why a charge was refused. Nothing already recorded changes on an error.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("cannot record {amount}: the ledger total ({total}) would exceed the largest amount")]
    Overflow { amount: Money, total: Money },
}

/// A charge to record; the ledger assigns its id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCost {
    pub client: ClientId,
    pub cost_type: CostType,
    pub category: String,
    /// Zero or more: the ledger records costs, not refunds.
    pub amount: Money,
    /// An ISO 4217 code such as `USD`.
    pub currency: String,
    pub at: Timestamp,
    pub metadata: Metadata,
    /// What the charge was for, in words.
    pub description: String,
}

impl NewCost {
    /// A charge in USD without metadata, the common case.
    pub fn usd(
        client: ClientId,
        cost_type: CostType,
        category: impl Into<String>,
        amount: Money,
        at: Timestamp,
    ) -> Self {
        NewCost {
            client,
            cost_type,
            category: category.into(),
            amount,
            currency: "USD".to_owned(),
            at,
            metadata: Metadata::new(),
            description: String::new(),
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        ensure_name("client", self.client.as_str())?;
        ensure_name("category", &self.category)?;
        if self.amount.is_negative() {
            return Err(ValidationError::new("amount", self.amount, "zero or more"));
        }
        let code = self.currency.as_bytes();
        if code.len() != 3 || !code.iter().all(u8::is_ascii_uppercase) {
            return Err(ValidationError::new(
                "currency",
                format!("{:?}", self.currency),
                "a 3-letter ISO 4217 code such as USD",
            ));
        }
        Ok(())
    }
}

fn ensure_name(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() || value.len() > 200 {
        Err(ValidationError::new(
            field,
            format!("{value:?}"),
            "a non-empty name of at most 200 bytes",
        ))
    } else {
        Ok(())
    }
}

/// Which entries a query covers; `None` matches anything. `from`/`to` are half-open:
/// entries at `from` are in, entries at `to` are out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostFilter {
    pub client: Option<ClientId>,
    pub cost_type: Option<CostType>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// Totals of the entries matching a [`CostFilter`], broken down by type, category and
/// client (`by_client`), with the first matching entries in time order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    pub total: Money,
    pub count: usize,
    pub by_type: BTreeMap<String, Money>,
    pub by_category: BTreeMap<String, Money>,
    #[serde(alias = "by_client")]
    pub by_client: BTreeMap<String, Money>,
    pub items: Vec<CostEntry>,
}

/// Every recorded charge, ordered by time then id, so date ranges cost O(log n + k).
///
/// Amounts of different currencies are added as they are: keep one currency per ledger
/// unless the caller converts.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CostLedger {
    entries: BTreeMap<(Timestamp, CostEntryId), CostEntry>,
    /// Sum of all entries. Amounts are never negative, so no sum over any subset exceeds
    /// it: keeping it in range keeps every summary in range.
    total: Money,
    /// Highest id issued; the next entry gets the one after.
    last_id: u64,
}

impl CostLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates and records a charge under the next id.
    pub fn record(&mut self, cost: NewCost) -> Result<&CostEntry, LedgerError> {
        cost.validate()?;
        let total = self
            .total
            .checked_add(cost.amount)
            .ok_or(LedgerError::Overflow {
                amount: cost.amount,
                total: self.total,
            })?;
        self.total = total;
        self.last_id += 1;
        let id = CostEntryId(self.last_id);
        let entry = CostEntry {
            id,
            client: cost.client,
            cost_type: cost.cost_type,
            category: cost.category,
            amount: cost.amount,
            currency: cost.currency,
            at: cost.at,
            metadata: cost.metadata,
            description: cost.description,
        };
        Ok(self.entries.entry((entry.at, id)).or_insert(entry))
    }

    /// Entries matching `filter`, in time order (ties in id order).
    pub fn matching<'a>(&'a self, filter: &'a CostFilter) -> impl Iterator<Item = &'a CostEntry> {
        self.between(filter.from, filter.to).filter(|entry| {
            filter.client.as_ref().is_none_or(|c| *c == entry.client)
                && filter.cost_type.is_none_or(|t| t == entry.cost_type)
        })
    }

    /// Totals and breakdowns of the entries matching `filter`, listing at most `item_limit`
    /// of them (`0` for totals only, `usize::MAX` for all).
    pub fn summary(&self, filter: &CostFilter, item_limit: usize) -> CostSummary {
        let mut summary = CostSummary::default();
        for entry in self.matching(filter) {
            summary.total += entry.amount;
            summary.count += 1;
            add_to(&mut summary.by_type, entry.cost_type.as_str(), entry.amount);
            add_to(&mut summary.by_category, &entry.category, entry.amount);
            add_to(&mut summary.by_client, entry.client.as_str(), entry.amount);
            if summary.items.len() < item_limit {
                summary.items.push(entry.clone());
            }
        }
        summary
    }

    /// What `client` was charged in `[from, to)`, without allocating.
    pub fn total_for(&self, client: &ClientId, from: Timestamp, to: Timestamp) -> Money {
        self.between(Some(from), Some(to))
            .filter(|entry| entry.client == *client)
            .map(|entry| entry.amount)
            .sum()
    }

    fn between(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> impl Iterator<Item = &CostEntry> {
        // Id 0 sorts before every id, so these keys bound whole instants.
        let lower = from.map_or(Bound::Unbounded, |t| Bound::Included((t, CostEntryId(0))));
        let upper = to.map_or(Bound::Unbounded, |t| Bound::Excluded((t, CostEntryId(0))));
        // `BTreeMap::range` panics on a reversed range, which a caller may well ask for.
        let reversed = matches!((from, to), (Some(from), Some(to)) if from > to);
        let range = (!reversed).then(|| self.entries.range((lower, upper)));
        range.into_iter().flatten().map(|(_, entry)| entry)
    }
}

/// Totals of the entries matching `filter` in consecutive buckets of `bucket_nanos`
/// from `from` up to `to` (the last bucket may be cut short); `filter`'s own bounds are
/// ignored. Empty when the range is empty or the bucket is not positive.
pub fn series(
    ledger: &CostLedger,
    filter: &CostFilter,
    from: Timestamp,
    to: Timestamp,
    bucket_nanos: i64,
) -> Vec<Money> {
    if bucket_nanos <= 0 || to <= from {
        return Vec::new();
    }
    let span = (to.nanos() as i128 - from.nanos() as i128) as u128;
    let count = span.div_ceil(bucket_nanos as u128) as usize;
    let mut totals = vec![Money::ZERO; count];
    let ranged = CostFilter {
        from: Some(from),
        to: Some(to),
        ..filter.clone()
    };
    for entry in ledger.matching(&ranged) {
        let offset = (entry.at.nanos() as i128 - from.nanos() as i128) as u128;
        let index = (offset / bucket_nanos as u128) as usize;
        totals[index.min(count - 1)] += entry.amount;
    }
    totals
}

/// Where spend lands at `end` if it goes on at the rate seen from `start` to `now`:
/// `spent × (end − start) / (now − start)`. Before any time has passed there is no rate,
/// so the projection is what was spent.
pub fn project_spend(spent: Money, start: Timestamp, now: Timestamp, end: Timestamp) -> Money {
    let elapsed = now.nanos() as i128 - start.nanos() as i128;
    let whole = end.nanos() as i128 - start.nanos() as i128;
    if elapsed <= 0 || whole <= elapsed {
        return spent;
    }
    spent.mul_div(whole, elapsed)
}

fn add_to(totals: &mut BTreeMap<String, Money>, key: &str, amount: Money) {
    match totals.get_mut(key) {
        Some(total) => *total += amount,
        None => {
            totals.insert(key.to_owned(), amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_nanos(secs * 1_000_000_000)
    }

    fn cost(client: &str, cost_type: CostType, category: &str, micros: i64, at: i64) -> NewCost {
        NewCost::usd(
            ClientId::new(client),
            cost_type,
            category,
            Money::from_micros(micros),
            t(at),
        )
    }

    /// Entries at 10 s, 20 s and 30 s for two clients and three types.
    fn sample() -> CostLedger {
        let mut ledger = CostLedger::new();
        ledger
            .record(cost("a", CostType::ApiUsage, "gpt-4", 1_000_000, 20))
            .unwrap();
        ledger
            .record(cost("b", CostType::Booking, "gpu", 2_500_000, 10))
            .unwrap();
        ledger
            .record(cost("a", CostType::ApiUsage, "claude", 250_000, 30))
            .unwrap();
        ledger
            .record(cost("a", CostType::Hosting, "gpu", 4_000_000, 10))
            .unwrap();
        ledger
    }

    fn ids(summary: &CostSummary) -> Vec<u64> {
        summary.items.iter().map(|e| e.id.0).collect()
    }

    #[test]
    fn tenths_add_up_to_exactly_one() {
        let mut ledger = CostLedger::new();
        let tenth = Money::try_from_f64(0.1).unwrap();
        for i in 0..10 {
            let c = NewCost::usd(ClientId::new("a"), CostType::ApiUsage, "x", tenth, t(i));
            ledger.record(c).unwrap();
        }
        let summary = ledger.summary(&CostFilter::default(), 0);
        assert_eq!(summary.total, Money::from_units(1));
        assert_eq!(summary.count, 10);
        assert!(summary.items.is_empty());
        assert_eq!(serde_json::to_value(&summary).unwrap()["total"], 1);
    }

    #[test]
    fn records_with_sequential_ids() {
        let mut ledger = CostLedger::new();
        let mut c = cost("a", CostType::License, "ide", 5, 1);
        c.metadata.insert("seat".into(), "7".into());
        let entry = ledger.record(c).unwrap().clone();
        assert_eq!(entry.id, CostEntryId(1));
        assert_eq!(entry.currency, "USD");
        assert_eq!(entry.metadata["seat"], "7");
        let zero = ledger
            .record(cost("a", CostType::Other, "free", 0, 0))
            .unwrap();
        assert_eq!(zero.id, CostEntryId(2));
    }

    #[test]
    fn summary_breaks_down_by_type_category_and_client() {
        let summary = sample().summary(&CostFilter::default(), usize::MAX);
        assert_eq!(summary.total, Money::from_micros(7_750_000));
        assert_eq!(summary.count, 4);
        let m = Money::from_micros;
        let by_type: Vec<_> = summary
            .by_type
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            by_type,
            [
                ("api_usage", m(1_250_000)),
                ("booking", m(2_500_000)),
                ("hosting", m(4_000_000))
            ]
        );
        assert_eq!(summary.by_category["gpu"], m(6_500_000));
        assert_eq!(summary.by_category["claude"], m(250_000));
        assert_eq!(summary.by_client["a"], m(5_250_000));
        assert_eq!(summary.by_client["b"], m(2_500_000));
        // Time order, ties broken by id.
        assert_eq!(ids(&summary), [2, 4, 1, 3]);
        let limited = sample().summary(&CostFilter::default(), 2);
        assert_eq!((ids(&limited), limited.count), (vec![2, 4], 4));
        assert_eq!(limited.total, summary.total);
    }

    #[test]
    fn filters_by_client_and_type() {
        let ledger = sample();
        let of_a = CostFilter {
            client: Some(ClientId::new("a")),
            ..Default::default()
        };
        assert_eq!(ids(&ledger.summary(&of_a, usize::MAX)), [4, 1, 3]);
        let api_of_a = CostFilter {
            cost_type: Some(CostType::ApiUsage),
            ..of_a
        };
        let summary = ledger.summary(&api_of_a, usize::MAX);
        assert_eq!(ids(&summary), [1, 3]);
        assert_eq!(summary.total, Money::from_micros(1_250_000));
        assert_eq!(summary.by_type.len(), 1);
        let nobody = CostFilter {
            client: Some(ClientId::new("z")),
            ..Default::default()
        };
        assert_eq!(ledger.summary(&nobody, usize::MAX), CostSummary::default());
    }

    #[test]
    fn date_ranges_are_half_open() {
        let ledger = sample();
        let window = |from: Option<i64>, to: Option<i64>| {
            let filter = CostFilter {
                from: from.map(t),
                to: to.map(t),
                ..Default::default()
            };
            ids(&ledger.summary(&filter, usize::MAX))
        };
        assert_eq!(window(Some(10), Some(30)), [2, 4, 1]);
        assert_eq!(window(Some(20), None), [1, 3]);
        assert_eq!(window(None, Some(20)), [2, 4]);
        assert_eq!(window(Some(11), Some(20)), Vec::<u64>::new());
        assert_eq!(window(Some(20), Some(20)), Vec::<u64>::new());
        assert_eq!(window(Some(30), Some(10)), Vec::<u64>::new());
        let a = ClientId::new("a");
        assert_eq!(
            ledger.total_for(&a, t(10), t(30)),
            Money::from_micros(5_000_000)
        );
        assert_eq!(
            ledger.total_for(&a, t(11), t(31)),
            Money::from_micros(1_250_000)
        );
        assert_eq!(ledger.total_for(&a, t(31), t(0)), Money::ZERO);
    }

    #[test]
    fn empty_ledger_summarises_to_zero_in_the_documented_shape() {
        let summary = CostLedger::new().summary(&CostFilter::default(), usize::MAX);
        assert_eq!(summary, CostSummary::default());
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "total": 0, "count": 0, "by_type": {}, "by_category": {}, "by_client": {},
                "items": []
            })
        );
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_field() {
        let mut ledger = sample();
        let before = ledger.summary(&CostFilter::default(), usize::MAX);
        let field = |ledger: &mut CostLedger, c: NewCost| match ledger.record(c) {
            Err(LedgerError::Invalid(e)) => e.field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let negative = cost("a", CostType::Other, "refund", -1, 5);
        assert_eq!(field(&mut ledger, negative), "amount");
        assert_eq!(
            field(&mut ledger, cost("a", CostType::Other, " ", 1, 5)),
            "category"
        );
        assert_eq!(
            field(&mut ledger, cost("", CostType::Other, "x", 1, 5)),
            "client"
        );
        for code in ["usd", "US", "EURO", "U5D", ""] {
            let mut c = cost("a", CostType::Other, "x", 1, 5);
            c.currency = code.to_owned();
            assert_eq!(field(&mut ledger, c), "currency", "{code:?}");
        }
        let mut c = cost("a", CostType::Other, "x", 1, 5);
        c.currency = "eur".into();
        let err = ledger.record(c).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid currency: got \"eur\", expected a 3-letter ISO 4217 code such as USD"
        );
        assert_eq!(ledger.summary(&CostFilter::default(), usize::MAX), before);
        assert_eq!(
            ledger
                .record(cost("a", CostType::Other, "x", 1, 5))
                .unwrap()
                .id,
            CostEntryId(5)
        );
    }

    #[test]
    fn a_total_beyond_the_largest_amount_is_refused() {
        let mut ledger = CostLedger::new();
        ledger
            .record(cost("a", CostType::Other, "x", i64::MAX - 1, 0))
            .unwrap();
        let err = ledger
            .record(cost("b", CostType::Other, "x", 2, 1))
            .unwrap_err();
        assert!(matches!(err, LedgerError::Overflow { .. }), "{err:?}");
        ledger
            .record(cost("b", CostType::Other, "x", 1, 1))
            .unwrap();
        let total = ledger.summary(&CostFilter::default(), 0).total;
        assert_eq!(total, Money::from_micros(i64::MAX));
    }

    proptest! {
        #[test]
        fn adjacent_ranges_add_up(
            charges in prop::collection::vec((0..2usize, 0..1_000_000i64, 0..100i64), 0..40),
            cuts in (0..100i64, 0..100i64, 0..100i64),
        ) {
            let mut ledger = CostLedger::new();
            for (client, micros, at) in &charges {
                let name = ["a", "b"][*client];
                ledger.record(cost(name, CostType::ApiUsage, "x", *micros, *at)).unwrap();
            }
            let mut bounds = [cuts.0, cuts.1, cuts.2];
            bounds.sort();
            let [from, mid, to] = bounds.map(t);
            let a = ClientId::new("a");
            let whole = ledger.total_for(&a, from, to);
            prop_assert_eq!(whole, ledger.total_for(&a, from, mid) + ledger.total_for(&a, mid, to));
            let expected: i64 = charges.iter()
                .filter(|(c, _, at)| *c == 0 && (from..to).contains(&t(*at)))
                .map(|(_, micros, _)| micros)
                .sum();
            prop_assert_eq!(whole, Money::from_micros(expected));
        }
    }

    #[test]
    fn series_buckets_entries_by_time() {
        let ledger = sample();
        // $6.50 at 10 s, $1 at 20 s and $0.25 at 30 s; buckets of 15 s, the last cut short.
        let all = series(&ledger, &CostFilter::default(), t(0), t(40), 15_000_000_000);
        assert_eq!(
            all,
            vec![
                Money::from_micros(6_500_000),
                Money::from_micros(1_000_000),
                Money::from_micros(250_000)
            ]
        );
        let only_a = CostFilter {
            client: Some(ClientId::new("a")),
            ..CostFilter::default()
        };
        let a = series(&ledger, &only_a, t(0), t(40), 15_000_000_000);
        assert_eq!(a[0], Money::from_units(4));
        assert!(series(&ledger, &only_a, t(40), t(0), 1).is_empty());
        assert!(series(&ledger, &only_a, t(0), t(40), 0).is_empty());
    }

    #[test]
    fn spend_is_projected_at_the_rate_so_far() {
        let spent = Money::from_units(10);
        assert_eq!(
            project_spend(spent, t(0), t(10), t(30)),
            Money::from_units(30)
        );
        assert_eq!(project_spend(spent, t(0), t(0), t(30)), spent);
        assert_eq!(project_spend(spent, t(0), t(40), t(30)), spent);
    }
}
