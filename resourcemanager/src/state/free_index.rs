//! RUNNING nodes by free memory (then fewest containers, then node id), so a placement
//! looks at the roomiest nodes first instead of every node.
//!
//! Every allocation and release moves a node in this index, and at 10,000 nodes of equal
//! size nearly every comparison ties on memory and containers and falls through to the
//! node ids: string comparisons were a fifth of the scheduler's time. So nodes are
//! ordered by a number whose order is their ids' order (a rank, spaced so a new node
//! fits between its neighbours; all are renumbered in the rare case one does not).

use common::NodeId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Room between neighbouring ranks: about 32 registrations land between two nodes
/// before a renumbering.
const GAP: u64 = 1 << 32;

type Key = (u64, Reverse<usize>, Reverse<u64>);

#[derive(Debug, Default)]
pub(super) struct FreeIndex {
    set: BTreeSet<Key>,
    /// Every node ever indexed, by id: its rank (ordered, to place new ids between
    /// their neighbours; hashed, for the lookups of every move).
    ranks: BTreeMap<NodeId, u64>,
    rank_of: HashMap<NodeId, u64>,
    ids: HashMap<u64, NodeId>,
}

impl FreeIndex {
    /// The rank of `id`, made when it is new.
    fn rank(&mut self, id: &NodeId) -> u64 {
        if let Some(r) = self.rank_of.get(id) {
            return *r;
        }
        let lo = self
            .ranks
            .range(..id.clone())
            .next_back()
            .map_or(0, |(_, r)| *r);
        let hi = self
            .ranks
            .range(id.clone()..)
            .next()
            .map_or(lo.saturating_add(2 * GAP), |(_, r)| *r);
        if hi - lo < 2 {
            self.renumber();
            return self.rank(id);
        }
        let r = lo + (hi - lo) / 2;
        self.ranks.insert(id.clone(), r);
        self.rank_of.insert(id.clone(), r);
        self.ids.insert(r, id.clone());
        r
    }

    /// Spaces every rank `GAP` apart again, keeping the order.
    fn renumber(&mut self) {
        let mut moved: HashMap<u64, u64> = HashMap::new();
        self.ids.clear();
        for (i, (id, r)) in self.ranks.iter_mut().enumerate() {
            let new = (i as u64 + 1) * GAP;
            moved.insert(*r, new);
            *r = new;
            self.rank_of.insert(id.clone(), new);
            self.ids.insert(new, id.clone());
        }
        self.set = std::mem::take(&mut self.set)
            .into_iter()
            .map(|(f, c, Reverse(r))| (f, c, Reverse(moved[&r])))
            .collect();
    }

    pub(super) fn insert(&mut self, id: &NodeId, free_mb: u64, containers: usize) {
        let r = self.rank(id);
        self.set.insert((free_mb, Reverse(containers), Reverse(r)));
    }

    pub(super) fn remove(&mut self, id: &NodeId, free_mb: u64, containers: usize) {
        if let Some(r) = self.rank_of.get(id) {
            self.set
                .remove(&(free_mb, Reverse(containers), Reverse(*r)));
        }
    }

    /// Nodes from the roomiest: (free MB, id).
    pub(super) fn roomiest(&self) -> impl Iterator<Item = (u64, &NodeId)> + '_ {
        self.set
            .iter()
            .rev()
            .filter_map(|(f, _, Reverse(r))| self.ids.get(r).map(|id| (*f, id)))
    }

    /// Nodes in the index.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The most free memory of any node.
    pub(super) fn max_free_mb(&self) -> Option<u64> {
        self.set.last().map(|(f, _, _)| *f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(ix: &FreeIndex) -> Vec<String> {
        ix.roomiest().map(|(_, id)| id.0.clone()).collect()
    }

    #[test]
    fn roomiest_first_then_fewest_containers_then_smallest_id() {
        let mut ix = FreeIndex::default();
        let n = |s: &str| NodeId(s.into());
        ix.insert(&n("b:1"), 1024, 0);
        ix.insert(&n("a:1"), 1024, 0);
        ix.insert(&n("c:1"), 2048, 3);
        ix.insert(&n("d:1"), 1024, 1);
        assert_eq!(order(&ix), ["c:1", "a:1", "b:1", "d:1"]);
        ix.remove(&n("c:1"), 2048, 3);
        ix.insert(&n("c:1"), 512, 4);
        assert_eq!(order(&ix), ["a:1", "b:1", "d:1", "c:1"]);
        assert_eq!(ix.max_free_mb(), Some(1024));
    }

    #[test]
    fn ranks_keep_id_order_through_renumbering() {
        let mut ix = FreeIndex::default();
        // Each new id sorts just before the last: the gap halves until it runs out.
        let ids: Vec<NodeId> = (0..200)
            .map(|i| NodeId(format!("n{:03}", 999 - i)))
            .collect();
        for id in &ids {
            ix.insert(id, 100, 0);
        }
        let mut want: Vec<String> = ids.iter().map(|i| i.0.clone()).collect();
        want.sort();
        assert_eq!(order(&ix), want);
    }
}
