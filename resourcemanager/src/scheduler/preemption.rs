//! YARN's proportional capacity preemption policy, as a pure function: from each leaf
//! queue's guarantee, maximum, use and demand, compute its ideal share (its demand up to
//! its guarantee, then what is left spread over queues that want more in proportion to
//! their guarantees, up to their maximum), and choose containers to take back from the
//! queues holding more than their ideal, the whole excess in one round. Within a queue
//! the newest containers go first, AM containers last.
//!
//! Shares are dominant-resource shares of the cluster. The policy is flat over leaves
//! (absolute guarantees already carry the hierarchy).

use super::share;
use common::{ApplicationId, ContainerId, Resource};
use std::collections::BTreeSet;

const EPS: f64 = 1e-9;

/// A live container that could be taken back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: ContainerId,
    pub app: ApplicationId,
    pub resource: Resource,
    pub am: bool,
    /// Monotonic time of its allocation (newest go first).
    pub allocated_ms: u64,
}

/// One leaf's numbers, as fractions of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafState {
    pub leaf: usize,
    pub guaranteed: f64,
    pub maximum: f64,
    pub used: f64,
    /// Used plus pending.
    pub demand: f64,
}

/// Each leaf's ideal share: water-filling of `total` (the share of the cluster that
/// can really be used) over demands.
pub fn ideal(leaves: &[LeafState], total: f64) -> Vec<f64> {
    let want: Vec<f64> = leaves.iter().map(|l| l.demand.min(l.maximum)).collect();
    let mut ideal: Vec<f64> = leaves
        .iter()
        .zip(&want)
        .map(|(l, w)| w.min(l.guaranteed))
        .collect();
    let mut left = total - ideal.iter().sum::<f64>();
    // Spread what is left over the unsatisfied, by guarantee, until it runs out or
    // everyone has what it wants.
    for _ in 0..leaves.len() + 1 {
        if left <= EPS {
            break;
        }
        let hungry: Vec<usize> = (0..leaves.len())
            .filter(|&i| want[i] - ideal[i] > EPS)
            .collect();
        if hungry.is_empty() {
            break;
        }
        let weight: f64 = hungry.iter().map(|&i| leaves[i].guaranteed.max(EPS)).sum();
        let mut given = 0.0;
        for &i in &hungry {
            let offer = left * leaves[i].guaranteed.max(EPS) / weight;
            let take = offer.min(want[i] - ideal[i]);
            ideal[i] += take;
            given += take;
        }
        left -= given;
    }
    ideal
}

/// Whether a leaf waits below its ideal share (else nothing is preempted).
pub fn starved(leaves: &[LeafState], total: f64) -> bool {
    starved_under(leaves, &ideal(leaves, total))
}

fn starved_under(leaves: &[LeafState], ideal: &[f64]) -> bool {
    leaves
        .iter()
        .zip(ideal)
        .any(|(l, i)| i - l.used > EPS && l.demand - l.used > EPS)
}

/// The containers to preempt now: from each leaf over its ideal, newest non-AM first
/// and AMs last, until its excess is covered. Nothing when no leaf is below its ideal.
pub fn select(
    leaves: &[LeafState],
    total: f64,
    containers: &[Candidate],
    cluster: &Resource,
    leaf_of: impl Fn(&ApplicationId) -> Option<usize>,
) -> BTreeSet<ContainerId> {
    let ideal = ideal(leaves, total);
    let mut out = BTreeSet::new();
    if !starved_under(leaves, &ideal) {
        return out;
    }
    for (l, i) in leaves.iter().zip(&ideal) {
        let mut over = l.used - i;
        if over <= EPS {
            continue;
        }
        let mut mine: Vec<&Candidate> = containers
            .iter()
            .filter(|c| leaf_of(&c.app) == Some(l.leaf))
            .collect();
        mine.sort_by(|a, b| {
            a.am.cmp(&b.am)
                .then(b.allocated_ms.cmp(&a.allocated_ms))
                .then(b.id.cmp(&a.id))
        });
        for c in mine {
            if over <= EPS {
                break;
            }
            out.insert(c.id);
            over -= share(&c.resource, cluster);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: usize, g: f64, used: f64, demand: f64) -> LeafState {
        LeafState {
            leaf: i,
            guaranteed: g,
            maximum: 1.0,
            used,
            demand,
        }
    }

    #[test]
    fn ideal_gives_guarantees_then_spreads_the_rest() {
        let i = ideal(&[leaf(0, 0.5, 0.9, 1.0), leaf(1, 0.5, 0.0, 0.3)], 1.0);
        assert!(
            (i[0] - 0.7).abs() < 1e-9 && (i[1] - 0.3).abs() < 1e-9,
            "{i:?}"
        );
        let i = ideal(&[leaf(0, 0.5, 0.9, 1.0), leaf(1, 0.5, 0.0, 0.8)], 1.0);
        assert!(
            (i[0] - 0.5).abs() < 1e-9 && (i[1] - 0.5).abs() < 1e-9,
            "{i:?}"
        );
    }

    fn c(app: u32, n: u64, mb: u64, am: bool, at: u64) -> Candidate {
        let a = ApplicationId::new(1, app);
        Candidate {
            id: a.attempt(1).container(n),
            app: a,
            resource: Resource::new(mb, 1),
            am,
            allocated_ms: at,
        }
    }

    /// App 1's containers, allocated in this order: its AM, then workers of `mb` each.
    fn app1(am_mb: u64, workers: &[u64]) -> Vec<Candidate> {
        let mut cs = vec![c(1, 1, am_mb, true, 0)];
        for (i, mb) in workers.iter().enumerate() {
            cs.push(c(1, i as u64 + 2, *mb, false, i as u64 + 1));
        }
        cs
    }

    /// Two leaves guaranteed half each: (used, demand) of queue 0, then of queue 1, in MB
    /// of an 8192 MB cluster.
    fn halves(q0: (f64, f64), q1: (f64, f64)) -> [LeafState; 2] {
        [
            leaf(0, 0.5, q0.0 / 8192.0, q0.1 / 8192.0),
            leaf(1, 0.5, q1.0 / 8192.0, q1.1 / 8192.0),
        ]
    }

    /// App 1 runs in queue 0, everyone else in queue 1.
    fn two_queues(a: &ApplicationId) -> Option<usize> {
        Some(if a.seq == 1 { 0 } else { 1 })
    }

    #[test]
    fn takes_the_excess_newest_first_and_ams_last() {
        let cluster = Resource::new(8192, 16);
        // Queue 0 (app 1) holds 6656 MB: AM 1024 + 4 x 1408; queue 1 wants 2432 MB.
        let cs = app1(1024, &[1408; 4]);
        let leaves = halves((6656.0, 8192.0), (1024.0, 2432.0));
        let got = select(&leaves, 1.0, &cs, &cluster, two_queues);
        assert_eq!(got, BTreeSet::from([cs[4].id]), "one executor, the newest");
        // Nobody below its ideal: nothing.
        let leaves = [leaf(0, 0.5, 0.8, 1.0), leaf(1, 0.5, 0.0, 0.0)];
        assert!(select(&leaves, 1.0, &cs, &cluster, two_queues).is_empty());
    }

    #[test]
    fn the_am_goes_only_when_everything_else_is_not_enough() {
        let cluster = Resource::new(4096, 16);
        let cs = app1(1024, &[1024]);
        let leaves = [leaf(0, 0.0, 0.5, 0.5), leaf(1, 1.0, 0.0, 1.0)];
        let got = select(&leaves, 1.0, &cs, &cluster, two_queues);
        assert_eq!(got, BTreeSet::from([cs[0].id, cs[1].id]));
    }

    #[test]
    fn free_room_too_fragmented_to_use_does_not_count() {
        // Two 4096 MB nodes, each with two 1408 MB containers of queue 0 and 1280 MB
        // free: 2560 MB free in all, but no 1408 MB container fits. Queue 1 waits for one.
        let cluster = Resource::new(8192, 16);
        let cs = app1(1408, &[1408; 3]);
        let leaves = halves((5632.0, 8192.0), (0.0, 1408.0));
        assert!(select(&leaves, 1.0, &cs, &cluster, two_queues).is_empty());
        let usable = 5632.0 / 8192.0;
        let got = select(&leaves, usable, &cs, &cluster, two_queues);
        assert_eq!(got, BTreeSet::from([cs[3].id]));
    }
}
