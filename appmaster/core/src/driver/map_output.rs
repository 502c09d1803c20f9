//! The map-output tracker (Spark's `MapOutputTrackerMaster`): where each map task's
//! output of each shuffle can be fetched, what is missing, and what is lost when an
//! executor or a server goes.

use crate::ids::{ExecutorId, ShuffleId};
use crate::plan::{FetchFailed, MapLocation};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct MapOutputTracker {
    /// Per shuffle, one slot per map task.
    shuffles: BTreeMap<ShuffleId, Vec<Option<MapLocation>>>,
}

impl MapOutputTracker {
    /// Starts tracking a shuffle written by `maps` map tasks (no-op if known).
    pub(crate) fn register_shuffle(&mut self, shuffle: ShuffleId, maps: u32) {
        self.shuffles
            .entry(shuffle)
            .or_insert_with(|| vec![None; maps as usize]);
    }

    pub(crate) fn contains(&self, shuffle: ShuffleId) -> bool {
        self.shuffles.contains_key(&shuffle)
    }

    /// Records where a map task's output is (ignored for an unknown shuffle or map).
    pub(crate) fn register_map_output(&mut self, shuffle: ShuffleId, loc: MapLocation) {
        if let Some(slot) = self
            .shuffles
            .get_mut(&shuffle)
            .and_then(|o| o.get_mut(loc.map_id as usize))
        {
            *slot = Some(loc);
        }
    }

    /// Every map output of a known shuffle is available.
    pub(crate) fn is_complete(&self, shuffle: ShuffleId) -> bool {
        self.shuffles
            .get(&shuffle)
            .is_some_and(|o| o.iter().all(Option::is_some))
    }

    /// The map ids whose output is missing (none for an unknown shuffle).
    pub(crate) fn missing(&self, shuffle: ShuffleId) -> Vec<u32> {
        self.shuffles.get(&shuffle).map_or_else(Vec::new, |o| {
            (0..o.len() as u32)
                .filter(|m| o[*m as usize].is_none())
                .collect()
        })
    }

    /// Every map output's location, in map order, once the shuffle is complete.
    pub(crate) fn locations(&self, shuffle: ShuffleId) -> Option<Vec<MapLocation>> {
        self.shuffles.get(&shuffle)?.iter().cloned().collect()
    }

    /// The executor is gone and the output it served itself (from `server`, its own
    /// block server) with it; what it migrated elsewhere stays. Returns how many
    /// outputs were lost.
    pub(crate) fn remove_served_by(&mut self, executor: &ExecutorId, server: &str) -> usize {
        self.remove_where(|_, l| l.executor == *executor && l.server == server)
    }

    /// The outputs `executor` wrote and serves from `server`, with their shuffles.
    pub(crate) fn served_by(
        &self,
        executor: &ExecutorId,
        server: &str,
    ) -> Vec<(ShuffleId, MapLocation)> {
        self.shuffles
            .iter()
            .flat_map(|(s, outputs)| outputs.iter().flatten().map(move |l| (*s, l)))
            .filter(|(_, l)| l.executor == *executor && l.server == server)
            .map(|(s, l)| (s, l.clone()))
            .collect()
    }

    /// Points the outputs `executor` serves from `server` at their new place
    /// (`moved(old)`); returns how many moved.
    pub(crate) fn move_served_by(
        &mut self,
        executor: &ExecutorId,
        server: &str,
        moved: impl Fn(MapLocation) -> MapLocation,
    ) -> usize {
        let mut n = 0;
        for o in self.shuffles.values_mut().flat_map(|o| o.iter_mut()) {
            if o.as_ref()
                .is_some_and(|l| l.executor == *executor && l.server == server)
            {
                *o = o.take().map(&moved);
                n += 1;
            }
        }
        n
    }

    /// A reducer could not fetch a map output: that output is lost; so is everything
    /// its server served (the server is gone), and, when outputs do not outlive their
    /// executor, everything that executor wrote. Returns how many outputs were lost.
    pub(crate) fn handle_fetch_failure(
        &mut self,
        ff: &FetchFailed,
        outputs_outlive_executors: bool,
    ) -> usize {
        self.remove_where(|shuffle, l| {
            (l.map_id == ff.map_id && shuffle == ff.shuffle_id)
                || (!ff.server.is_empty() && l.server == ff.server)
                || (l.executor == ff.executor && !outputs_outlive_executors)
        })
    }

    fn remove_where(&mut self, lost: impl Fn(ShuffleId, &MapLocation) -> bool) -> usize {
        let mut n = 0;
        for (shuffle, outputs) in &mut self.shuffles {
            for o in outputs.iter_mut() {
                if o.as_ref().is_some_and(|l| lost(*shuffle, l)) {
                    *o = None;
                    n += 1;
                }
            }
        }
        n
    }

    /// Forgets a shuffle; returns the servers that hold its files (sorted, once each),
    /// or `None` if it was not tracked.
    pub(crate) fn unregister_shuffle(&mut self, shuffle: ShuffleId) -> Option<Vec<String>> {
        let outputs = self.shuffles.remove(&shuffle)?;
        let mut servers: Vec<String> = outputs
            .into_iter()
            .flatten()
            .map(|l| l.server)
            .filter(|s| !s.is_empty())
            .collect();
        servers.sort();
        servers.dedup();
        Some(servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(map_id: u32, executor: &str, server: &str) -> MapLocation {
        MapLocation {
            map_id,
            executor: executor.into(),
            host: "h".into(),
            server: server.into(),
            dir: "/d".into(),
            sizes: vec![1],
        }
    }

    fn ff(shuffle: u32, map_id: u32, executor: &str, server: &str) -> FetchFailed {
        FetchFailed {
            shuffle_id: ShuffleId(shuffle),
            map_id,
            executor: executor.into(),
            server: server.into(),
        }
    }

    /// A tracker holding one shuffle with these (map, executor, server) outputs.
    fn tracker_with(s: ShuffleId, outputs: &[(u32, &str, &str)]) -> MapOutputTracker {
        let mut t = MapOutputTracker::default();
        t.register_shuffle(s, outputs.len() as u32);
        for (m, e, server) in outputs {
            t.register_map_output(s, loc(*m, e, server));
        }
        t
    }

    #[test]
    fn a_shuffle_is_complete_once_every_map_reported() {
        let mut t = MapOutputTracker::default();
        let s = ShuffleId(1);
        assert!(!t.is_complete(s), "unknown shuffles are not complete");
        t.register_shuffle(s, 3);
        assert_eq!(t.missing(s), vec![0, 1, 2]);
        t.register_map_output(s, loc(1, "1", "svc"));
        t.register_map_output(s, loc(7, "1", "svc")); // no such map: ignored
        assert_eq!(t.missing(s), vec![0, 2]);
        assert_eq!(t.locations(s), None);
        t.register_map_output(s, loc(0, "2", "svc"));
        t.register_map_output(s, loc(2, "2", "svc"));
        assert!(t.is_complete(s));
        let locs = t.locations(s).unwrap();
        assert_eq!(locs.iter().map(|l| l.map_id).collect::<Vec<_>>(), [0, 1, 2]);
        // Registering again keeps what is known.
        t.register_shuffle(s, 3);
        assert!(t.is_complete(s));
    }

    #[test]
    fn losing_an_executor_loses_its_outputs_only() {
        let mut t = MapOutputTracker::default();
        let (a, b) = (ShuffleId(1), ShuffleId(2));
        t.register_shuffle(a, 2);
        t.register_shuffle(b, 1);
        t.register_map_output(a, loc(0, "1", "s1"));
        t.register_map_output(a, loc(1, "2", "s2"));
        t.register_map_output(b, loc(0, "1", "s1"));
        assert_eq!(t.remove_served_by(&"1".into(), "s1"), 2);
        assert_eq!(t.missing(a), vec![0]);
        assert_eq!(t.missing(b), vec![0]);
    }

    #[test]
    fn migrated_outputs_outlive_the_executor_that_wrote_them() {
        let mut t = MapOutputTracker::default();
        let s = ShuffleId(1);
        t.register_shuffle(s, 3);
        t.register_map_output(s, loc(0, "1", "s1"));
        t.register_map_output(s, loc(1, "1", "s1"));
        t.register_map_output(s, loc(2, "2", "s2"));
        let mine: Vec<u32> = t
            .served_by(&"1".into(), "s1")
            .iter()
            .map(|(_, l)| l.map_id)
            .collect();
        assert_eq!(mine, [0, 1]);
        // Executor 1's outputs move to the node's shuffle service, still under its id.
        let moved = t.move_served_by(&"1".into(), "s1", |l| MapLocation {
            server: "svc".into(),
            ..l
        });
        assert_eq!(moved, 2);
        assert_eq!(t.remove_served_by(&"1".into(), "s1"), 0);
        assert!(t.is_complete(s));
        let servers: Vec<String> = t
            .locations(s)
            .unwrap()
            .into_iter()
            .map(|l| l.server)
            .collect();
        assert_eq!(servers, ["svc", "svc", "s2"]);
    }

    #[test]
    fn a_fetch_failure_loses_the_output_and_its_server() {
        let s = ShuffleId(1);
        let outputs = [
            (0, "1", "svc1"),
            (1, "1", "svc1"),
            (2, "2", "svc2"),
            (3, "2", "svc2"),
        ];
        let mut t = tracker_with(s, &outputs);
        // With a service, only that server's outputs go.
        assert_eq!(t.handle_fetch_failure(&ff(1, 0, "1", "svc1"), true), 2);
        assert_eq!(t.missing(s), vec![0, 1]);
        // Without a server named and with outputs outliving executors: just that map.
        t.register_map_output(s, loc(0, "1", "svc1"));
        t.register_map_output(s, loc(1, "1", "svc1"));
        assert_eq!(t.handle_fetch_failure(&ff(1, 2, "2", ""), true), 1);
        assert_eq!(t.missing(s), vec![2]);
        // Without a service, everything the executor wrote.
        assert_eq!(t.handle_fetch_failure(&ff(1, 0, "1", ""), false), 2);
        assert_eq!(t.missing(s), vec![0, 1, 2]);
    }

    #[test]
    fn unregistering_names_the_servers_once() {
        let s = ShuffleId(3);
        let mut t = tracker_with(s, &[(0, "1", "b"), (1, "2", "a"), (2, "3", "b")]);
        assert_eq!(t.unregister_shuffle(s), Some(vec!["a".into(), "b".into()]));
        assert!(!t.contains(s));
        assert_eq!(t.unregister_shuffle(s), None);
    }
}
