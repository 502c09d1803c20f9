//! What every application waits for, kept as applications change rather than rebuilt on
//! every schedule round: at 10,000 nodes and thousands of applications a round that
//! walked every application cost more than the allocation it made. Indexed by
//! application (oldest first), by scheduler group (a capacity leaf) and by size, so a
//! scheduler finds a leaf's waiting apps and the core knows at once when nothing waiting
//! can fit anywhere.

use super::Demand;
use common::ApplicationId;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug)]
struct Entry {
    group: usize,
    user: String,
    demand: Demand,
}

/// The waiting applications. Each has a group (where its scheduler files it; FIFO has
/// one) and a user, given when it is first set.
#[derive(Debug, Default)]
pub struct Demands {
    by_app: BTreeMap<ApplicationId, Entry>,
    by_group: BTreeSet<(usize, ApplicationId)>,
    /// (group, user) → waiting apps of that user there.
    users: BTreeMap<(usize, String), u32>,
    /// Memory (MB) of what each app waits for next → apps.
    sizes: BTreeMap<u64, u32>,
}

/// The memory of what `d` waits for next (its AM, else its next ask).
fn next_mb(d: &Demand) -> Option<u64> {
    d.am.or(d.ask).map(|r| r.memory_mb)
}

fn bump<K: Ord>(map: &mut BTreeMap<K, u32>, key: K, up: bool) {
    if up {
        *map.entry(key).or_insert(0) += 1;
    } else if let Some(n) = map.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            map.remove(&key);
        }
    }
}

impl Demands {
    /// Demands of `ds` filed by `group_of` (for callers holding a plain list).
    pub fn of(ds: &[Demand], group_of: impl Fn(ApplicationId) -> (usize, String)) -> Self {
        let mut out = Self::default();
        for d in ds {
            let (g, u) = group_of(d.app);
            out.set(d.clone(), g, &u);
        }
        out
    }

    /// Sets what `d.app` waits for, filing it under `group` and `user` when it was not
    /// waiting (an app keeps its group and user while it waits).
    pub fn set(&mut self, d: Demand, group: usize, user: &str) {
        if let Err(d) = self.update(d) {
            if let Some(mb) = next_mb(&d) {
                bump(&mut self.sizes, mb, true);
            }
            self.by_group.insert((group, d.app));
            bump(&mut self.users, (group, user.to_string()), true);
            self.by_app.insert(
                d.app,
                Entry {
                    group,
                    user: user.to_string(),
                    demand: d,
                },
            );
        }
    }

    /// Sets what an app already waiting waits for now; `Err` gives `d` back when it was
    /// not waiting (file it with [`Self::set`]).
    pub fn update(&mut self, d: Demand) -> Result<(), Demand> {
        let Some(e) = self.by_app.get_mut(&d.app) else {
            return Err(d);
        };
        if let Some(mb) = next_mb(&e.demand) {
            bump(&mut self.sizes, mb, false);
        }
        if let Some(mb) = next_mb(&d) {
            bump(&mut self.sizes, mb, true);
        }
        e.demand = d;
        Ok(())
    }

    /// `app` waits for nothing.
    pub fn remove(&mut self, app: ApplicationId) {
        if let Some(e) = self.by_app.remove(&app) {
            if let Some(mb) = next_mb(&e.demand) {
                bump(&mut self.sizes, mb, false);
            }
            self.by_group.remove(&(e.group, app));
            bump(&mut self.users, (e.group, e.user), false);
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    pub fn get(&self, app: ApplicationId) -> Option<&Demand> {
        self.by_app.get(&app).map(|e| &e.demand)
    }

    pub fn is_empty(&self) -> bool {
        self.by_app.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_app.len()
    }

    /// Every waiting app, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Demand> + '_ {
        self.by_app.values().map(|e| &e.demand)
    }

    pub fn to_vec(&self) -> Vec<Demand> {
        self.iter().cloned().collect()
    }

    /// The waiting apps of `group`, oldest first.
    pub fn in_group(&self, group: usize) -> impl Iterator<Item = &Demand> + '_ {
        self.by_group
            .range((group, ApplicationId::new(0, 0))..)
            .take_while(move |(g, _)| *g == group)
            .filter_map(|(_, app)| self.get(*app))
    }

    /// Users with an app waiting in `group`.
    pub fn users_in(&self, group: usize) -> impl Iterator<Item = &str> + '_ {
        self.users
            .range((group, String::new())..)
            .take_while(move |((g, _), _)| *g == group)
            .map(|((_, u), _)| u.as_str())
    }

    /// The least memory any waiting app needs for its next container.
    pub fn smallest_mb(&self) -> Option<u64> {
        self.sizes.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Resource;

    fn d(n: u32, mb: Option<u64>) -> Demand {
        let r = mb.map(|m| Resource::new(m, 1));
        Demand {
            app: ApplicationId::new(1, n),
            am: None,
            ask: r,
            pending: r.unwrap_or(Resource::ZERO),
        }
    }

    #[test]
    fn indexes_follow_sets_and_removals() {
        let mut ds = Demands::default();
        ds.set(d(3, Some(2048)), 1, "bob");
        ds.set(d(1, Some(1024)), 1, "alice");
        ds.set(d(2, Some(512)), 0, "alice");
        let apps = |it: Vec<&Demand>| it.iter().map(|d| d.app.seq).collect::<Vec<_>>();
        assert_eq!(apps(ds.iter().collect()), vec![1, 2, 3]);
        assert_eq!(apps(ds.in_group(1).collect()), vec![1, 3]);
        assert_eq!(ds.users_in(1).collect::<Vec<_>>(), vec!["alice", "bob"]);
        assert_eq!(ds.smallest_mb(), Some(512));
        // An update keeps its group and user; only its size moves.
        ds.set(d(2, Some(4096)), 7, "carol");
        assert_eq!(ds.smallest_mb(), Some(1024));
        assert_eq!(apps(ds.in_group(0).collect()), vec![2]);
        assert_eq!(ds.users_in(7).count(), 0);
        ds.remove(ApplicationId::new(1, 1));
        assert_eq!(ds.users_in(1).collect::<Vec<_>>(), vec!["bob"]);
        assert_eq!(ds.smallest_mb(), Some(2048));
        ds.set(d(3, None), 1, "bob");
        assert_eq!(ds.smallest_mb(), Some(4096));
        ds.remove(ApplicationId::new(1, 2));
        ds.remove(ApplicationId::new(1, 3));
        assert!(ds.is_empty() && ds.smallest_mb().is_none() && ds.users_in(1).count() == 0);
    }
}
