//! Batching of like requests: members gather in their group until `max_size` have come or
//! the oldest has waited `max_wait`, then leave together as one batch.
//!
//! Pure: the caller says what time it is, which group a member joins and when to look for
//! groups that are due ([`Batcher::next_deadline`]). How a batch draws on its pools is
//! [`combine_needs`].

use std::time::Duration;

use thiserror::Error;

use crate::model::{Timestamp, ValidationError};

/// When a group of like requests leaves as a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchRule {
    max_size: usize,
    max_wait: Duration,
}

impl BatchRule {
    /// A batch leaves with `max_size` members (at least 2), or when its oldest member has
    /// waited `max_wait`, whichever comes first.
    pub fn new(max_size: u32, max_wait: Duration) -> Result<Self, ValidationError> {
        if max_size < 2 {
            return Err(ValidationError::new("max_size", max_size, "at least 2"));
        }
        Ok(BatchRule {
            max_size: max_size as usize,
            max_wait,
        })
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

/// A held item and when it arrived.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Member<T> {
    pub item: T,
    pub arrived: Timestamp,
}

/// What became of an item offered to the batcher.
#[derive(Debug, PartialEq)]
pub enum Gathered<T> {
    /// It waits for like items.
    Held,
    /// It completed a batch: the members, oldest first.
    Formed(Vec<Member<T>>),
}

/// An item offered to a group that has no rule; it is handed back.
#[derive(Debug, Error)]
#[error("unknown batch group {group}: expected the index of one of the {groups} batch rules")]
pub struct UnknownGroup<T: std::fmt::Debug> {
    pub item: T,
    pub group: usize,
    pub groups: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Group<T> {
    rule: BatchRule,
    /// Oldest first, so the first member's arrival sets the deadline.
    gathering: Vec<Member<T>>,
}

impl<T> Group<T> {
    fn deadline(&self) -> Option<Timestamp> {
        self.gathering
            .first()
            .map(|oldest| oldest.arrived.saturating_add(self.rule.max_wait))
    }
}

/// Groups of like items, each under its own rule; a group is named by its index in the
/// rules given to [`Batcher::new`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Batcher<T> {
    groups: Vec<Group<T>>,
    held: usize,
}

impl<T> Default for Batcher<T> {
    fn default() -> Self {
        Batcher {
            groups: Vec::new(),
            held: 0,
        }
    }
}

impl<T> Batcher<T> {
    pub fn new(rules: impl IntoIterator<Item = BatchRule>) -> Self {
        Batcher {
            groups: rules
                .into_iter()
                .map(|rule| Group {
                    rule,
                    gathering: Vec::new(),
                })
                .collect(),
            held: 0,
        }
    }

    /// Adds a group under `rule`; answers its index.
    pub fn add_rule(&mut self, rule: BatchRule) -> usize {
        self.groups.push(Group {
            rule,
            gathering: Vec::new(),
        });
        self.groups.len() - 1
    }

    /// Whether no item is held (true also when there are no groups at all).
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Items held in all groups.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Adds `item`, arrived at `now`, to `group`. The batch forms at once when the item
    /// fills it, or when the group's oldest member is already due.
    pub fn add(
        &mut self,
        group: usize,
        item: T,
        now: Timestamp,
    ) -> Result<Gathered<T>, UnknownGroup<T>>
    where
        T: std::fmt::Debug,
    {
        let groups = self.groups.len();
        let Some(target) = self.groups.get_mut(group) else {
            return Err(UnknownGroup {
                item,
                group,
                groups,
            });
        };
        target.gathering.push(Member { item, arrived: now });
        let full = target.gathering.len() >= target.rule.max_size;
        if full || target.deadline().is_some_and(|due| due <= now) {
            self.held -= target.gathering.len() - 1;
            Ok(Gathered::Formed(std::mem::take(&mut target.gathering)))
        } else {
            self.held += 1;
            Ok(Gathered::Held)
        }
    }

    /// Takes every batch whose oldest member has waited its group's `max_wait` by `now`,
    /// in group order.
    pub fn release_due(&mut self, now: Timestamp) -> Vec<(usize, Vec<Member<T>>)> {
        let mut due = Vec::new();
        for (index, group) in self.groups.iter_mut().enumerate() {
            if group.deadline().is_some_and(|at| at <= now) {
                self.held -= group.gathering.len();
                due.push((index, std::mem::take(&mut group.gathering)));
            }
        }
        due
    }

    /// The earliest instant at which a held batch becomes due.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.groups.iter().filter_map(Group::deadline).min()
    }

    /// Removes the held items for which `leaves` is true, oldest first within each group.
    pub fn withdraw(&mut self, mut leaves: impl FnMut(&T) -> bool) -> Vec<Member<T>> {
        let mut gone = Vec::new();
        for group in &mut self.groups {
            let (out, stay): (Vec<_>, Vec<_>) = std::mem::take(&mut group.gathering)
                .into_iter()
                .partition(|member| leaves(&member.item));
            group.gathering = stay;
            gone.extend(out);
        }
        self.held -= gone.len();
        gone
    }
}

/// How a batch draws on one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Members consume it each (tokens of a rate pool): the batch takes the sum.
    Sum,
    /// Members share it while the batch runs (slots of a slot pool): the batch takes the
    /// largest member's amount.
    Max,
}

/// The needs `(pool, amount)` of a batch from its members' needs, pools in the order
/// first named.
pub fn combine_needs<'a>(
    members: impl IntoIterator<Item = &'a [(usize, u64)]>,
    combine: impl Fn(usize) -> Combine,
) -> Vec<(usize, u64)> {
    let mut needs: Vec<(usize, u64)> = Vec::new();
    for member in members {
        for &(pool, amount) in member {
            match needs.iter_mut().find(|(p, _)| *p == pool) {
                Some((_, total)) => {
                    *total = match combine(pool) {
                        Combine::Sum => total.saturating_add(amount),
                        Combine::Max => (*total).max(amount),
                    }
                }
                None => needs.push((pool, amount)),
            }
        }
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn at(secs: u32) -> Timestamp {
        Timestamp::EPOCH + SEC * secs
    }

    fn rule(max_size: u32, max_wait_secs: u64) -> BatchRule {
        BatchRule::new(max_size, Duration::from_secs(max_wait_secs)).unwrap()
    }

    fn items(members: &[Member<&'static str>]) -> Vec<&'static str> {
        members.iter().map(|m| m.item).collect()
    }

    #[test]
    fn a_rule_needs_two_members_at_least() {
        let err = BatchRule::new(1, SEC).unwrap_err();
        assert_eq!((err.field.as_str(), err.value.as_str()), ("max_size", "1"));
        assert_eq!(rule(2, 0).max_size(), 2);
    }

    #[test]
    fn a_batch_forms_when_full_oldest_first() {
        let mut batcher = Batcher::new([rule(3, 60)]);
        assert_eq!(batcher.add(0, "a", at(0)).unwrap(), Gathered::Held);
        assert_eq!(batcher.add(0, "b", at(1)).unwrap(), Gathered::Held);
        assert_eq!(batcher.held(), 2);
        assert_eq!(batcher.next_deadline(), Some(at(60)));
        let Gathered::Formed(batch) = batcher.add(0, "c", at(2)).unwrap() else {
            panic!("the third member fills the batch");
        };
        assert_eq!(items(&batch), ["a", "b", "c"]);
        assert_eq!(batch[0].arrived, at(0));
        assert!(batcher.is_empty());
        assert_eq!(batcher.next_deadline(), None);
    }

    #[test]
    fn a_batch_is_released_when_its_oldest_has_waited_max_wait() {
        let mut batcher = Batcher::new([rule(10, 5), rule(10, 2)]);
        batcher.add(0, "a", at(0)).unwrap();
        batcher.add(0, "b", at(3)).unwrap();
        batcher.add(1, "x", at(4)).unwrap();
        assert_eq!(batcher.next_deadline(), Some(at(5)));
        assert!(batcher.release_due(at(4)).is_empty());
        let due = batcher.release_due(at(5));
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].0, items(&due[0].1)), (0, vec!["a", "b"]));
        assert_eq!(batcher.held(), 1);
        assert_eq!(batcher.next_deadline(), Some(at(6)));
        // A newer member opens a new batch with its own deadline.
        batcher.add(0, "c", at(7)).unwrap();
        let due = batcher.release_due(at(12));
        let groups: Vec<usize> = due.iter().map(|(g, _)| *g).collect();
        assert_eq!(groups, [0, 1]);
        assert!(batcher.is_empty());
    }

    #[test]
    fn a_member_arriving_after_the_deadline_leaves_with_the_overdue_batch() {
        let mut batcher = Batcher::new([rule(10, 2)]);
        batcher.add(0, "a", at(0)).unwrap();
        let Gathered::Formed(batch) = batcher.add(0, "b", at(3)).unwrap() else {
            panic!("the group was already due");
        };
        assert_eq!(items(&batch), ["a", "b"]);
        assert!(batcher.is_empty());
    }

    #[test]
    fn zero_max_wait_sends_every_member_alone() {
        let mut batcher = Batcher::new([rule(4, 0)]);
        let Gathered::Formed(batch) = batcher.add(0, "a", at(1)).unwrap() else {
            panic!("a zero wait is due at once");
        };
        assert_eq!(items(&batch), ["a"]);
    }

    #[test]
    fn an_item_for_an_unknown_group_is_handed_back() {
        let mut batcher = Batcher::new([rule(2, 1)]);
        let err = batcher.add(3, "a", at(0)).unwrap_err();
        assert_eq!((err.item, err.group), ("a", 3));
        assert_eq!(
            err.to_string(),
            "unknown batch group 3: expected the index of one of the 1 batch rules"
        );
        assert!(batcher.is_empty());
    }

    #[test]
    fn withdraw_takes_only_the_matching_members() {
        let mut batcher = Batcher::new([rule(10, 9), rule(10, 9)]);
        batcher.add(0, "a1", at(0)).unwrap();
        batcher.add(0, "b1", at(1)).unwrap();
        batcher.add(1, "a2", at(2)).unwrap();
        let gone = batcher.withdraw(|item| item.starts_with('a'));
        assert_eq!(items(&gone), ["a1", "a2"]);
        assert_eq!(batcher.held(), 1);
        // The remaining member's arrival now sets the group's deadline.
        assert_eq!(batcher.next_deadline(), Some(at(10)));
    }

    #[test]
    fn tokens_add_up_and_slots_are_shared() {
        let first: &[(usize, u64)] = &[(0, 300), (1, 1)];
        let second: &[(usize, u64)] = &[(0, 500), (1, 2)];
        let third: &[(usize, u64)] = &[(2, 7)];
        let kind = |pool: usize| {
            if pool == 1 {
                Combine::Max
            } else {
                Combine::Sum
            }
        };
        assert_eq!(
            combine_needs([first, second, third], kind),
            [(0, 800), (1, 2), (2, 7)]
        );
        assert_eq!(
            combine_needs([&[(0, u64::MAX)][..], first], kind)[0].1,
            u64::MAX
        );
        assert!(combine_needs(std::iter::empty::<&[(usize, u64)]>(), kind).is_empty());
    }
}
