//! YARN's CapacityScheduler: hierarchical queues, each guaranteed a share of its
//! parent and allowed up to a maximum when others are idle; user limits inside a
//! leaf; a cap on the share of a queue AM containers may hold; FIFO or fair ordering
//! of a leaf's apps; and, in [`super::preemption`], taking containers back from queues
//! over their share when another queue waits below its guarantee.
//!
//! Shares are dominant-resource shares of the cluster (memory and vcores).

use super::preemption::{self, Candidate};
use super::queue::{OrderingPolicy, QueueState, QueueTree};
use super::{scale, share, Demand, Demands, Pick, QueueView, Round, Scheduler, SchedulerKind};
use common::protocol::{ErrorCode, WireError};
use common::{ApplicationId, ContainerId, Resource};
use std::collections::{BTreeMap, BTreeSet};

/// Room for float error when comparing shares.
const EPS: f64 = 1e-9;

#[derive(Debug, Clone)]
struct AppEntry {
    leaf: usize,
    user: String,
    used: Resource,
}

#[derive(Debug)]
pub struct CapacityScheduler {
    tree: QueueTree,
    apps: BTreeMap<ApplicationId, AppEntry>,
    /// Per queue (every level).
    used: Vec<Resource>,
    containers: Vec<u32>,
    /// Per leaf: AM containers' resources.
    am_used: Vec<Resource>,
    /// Per leaf: user → held (nonzero only).
    user_used: Vec<BTreeMap<String, Resource>>,
}

fn refused(msg: String) -> WireError {
    WireError::new(ErrorCode::BadRequest, msg)
}

impl CapacityScheduler {
    pub fn new(tree: QueueTree) -> Self {
        let n = tree.queues.len();
        Self {
            tree,
            apps: BTreeMap::new(),
            used: vec![Resource::ZERO; n],
            containers: vec![0; n],
            am_used: vec![Resource::ZERO; n],
            user_used: vec![BTreeMap::new(); n],
        }
    }

    pub fn tree(&self) -> &QueueTree {
        &self.tree
    }

    fn apps_in(&self, leaf: usize) -> usize {
        self.apps.values().filter(|a| a.leaf == leaf).count()
    }

    /// The AM share a leaf may hold: `maximum-am-resource-percent` of its guarantee.
    fn am_limit(&self, cluster: &Resource, leaf: usize) -> Resource {
        let q = &self.tree.queues[leaf];
        scale(
            cluster,
            q.absolute.capacity * q.settings.maximum_am_resource_percent,
        )
    }

    fn am_fits(&self, cluster: &Resource, leaf: usize, am: &Resource) -> bool {
        // At least one AM always runs in a queue.
        if self.am_used[leaf] == Resource::ZERO {
            return true;
        }
        self.am_limit(cluster, leaf)
            .fits(&self.am_used[leaf].add(am))
    }

    /// Users of `leaf` holding or asking for something (YARN's active users).
    fn active_users(&self, leaf: usize, demands: &Demands) -> usize {
        let mut users: BTreeSet<&str> = self.user_used[leaf]
            .iter()
            .filter(|(_, r)| **r != Resource::ZERO)
            .map(|(u, _)| u.as_str())
            .collect();
        users.extend(demands.users_in(leaf));
        users.len().max(1)
    }

    /// May `user` in `leaf` take `r` more? YARN's user limit: each active user is promised
    /// the larger of an equal split of the queue's current capacity and
    /// `minimum-user-limit-percent` of it, and nobody holds more than
    /// `user-limit-factor` times the guarantee. A user holding nothing may always start.
    fn user_fits(
        &self,
        cluster: &Resource,
        leaf: usize,
        user: &str,
        r: &Resource,
        active: impl FnOnce() -> usize,
    ) -> bool {
        let held = self.user_used[leaf]
            .get(user)
            .copied()
            .unwrap_or(Resource::ZERO);
        if held == Resource::ZERO {
            return true;
        }
        let active = active();
        let q = &self.tree.queues[leaf];
        let consumed = share(&self.used[leaf], cluster);
        let current = if consumed < q.absolute.capacity {
            q.absolute.capacity
        } else {
            consumed + share(r, cluster)
        };
        let limit =
            (current / active as f64).max(current * q.settings.minimum_user_limit_percent / 100.0);
        let limit = limit.min(q.absolute.capacity * q.settings.user_limit_factor);
        // As YARN: refused once what the user holds is over the limit (so the last
        // container may pass it; with a queue over its guarantee the limit grows with
        // what is consumed, up to the factor).
        share(&held, cluster) <= limit + EPS
    }

    /// Under `maximum-capacity` at every level from the leaf up.
    fn max_fits(&self, cluster: &Resource, leaf: usize, r: &Resource) -> bool {
        self.tree.path_up(leaf).all(|q| {
            share(&self.used[q].add(r), cluster)
                <= self.tree.queues[q].absolute.maximum_capacity + EPS
        })
    }

    /// Queues in the order to serve them: the least used against its guarantee first.
    fn order_children(&self, cluster: &Resource, q: usize) -> Vec<usize> {
        let mut kids = self.tree.queues[q].children.clone();
        let ratio = |c: usize| {
            let g = self.tree.queues[c].absolute.capacity;
            let u = share(&self.used[c], cluster);
            if g <= 0.0 {
                f64::INFINITY
            } else {
                u / g
            }
        };
        kids.sort_by(|a, b| ratio(*a).total_cmp(&ratio(*b)).then(a.cmp(b)));
        kids
    }

    fn pick_in_leaf(&self, cluster: &Resource, leaf: usize, round: Round<'_>) -> Option<Pick> {
        let q = &self.tree.queues[leaf];
        let waiting = round
            .demands
            .in_group(leaf)
            .filter(|d| !round.skips(d.app) && self.apps.contains_key(&d.app));
        let demands = round.demands;
        if q.settings.ordering_policy != OrderingPolicy::Fair {
            // Oldest first: the scan stops at the first app that may have a container.
            return self.first_fitting(cluster, leaf, waiting, demands);
        }
        let mut order: Vec<&Demand> = waiting.collect();
        {
            // The app holding least first (then the oldest).
            order.sort_by(|a, b| {
                let ua = self
                    .apps
                    .get(&a.app)
                    .map_or(0.0, |e| share(&e.used, cluster));
                let ub = self
                    .apps
                    .get(&b.app)
                    .map_or(0.0, |e| share(&e.used, cluster));
                ua.total_cmp(&ub).then(a.app.cmp(&b.app))
            });
        }
        self.first_fitting(cluster, leaf, order.into_iter(), demands)
    }

    /// The first of `order` whose next container the queue's limits allow.
    fn first_fitting<'a>(
        &self,
        cluster: &Resource,
        leaf: usize,
        order: impl Iterator<Item = &'a Demand>,
        demands: &Demands,
    ) -> Option<Pick> {
        // Counted once, and only when a user limit is checked.
        let active = std::cell::OnceCell::new();
        for d in order {
            let Some(entry) = self.apps.get(&d.app) else {
                continue;
            };
            let (r, am) = match (d.am, d.ask) {
                (Some(r), _) => (r, true),
                (None, Some(r)) => (r, false),
                (None, None) => continue,
            };
            if am && !self.am_fits(cluster, leaf, &r) {
                continue;
            }
            if !self.max_fits(cluster, leaf, &r) {
                continue;
            }
            let active = || *active.get_or_init(|| self.active_users(leaf, demands));
            if !self.user_fits(cluster, leaf, &entry.user, &r, active) {
                continue;
            }
            return Some(Pick { app: d.app, am });
        }
        None
    }

    fn pick_under(&self, cluster: &Resource, q: usize, round: Round<'_>) -> Option<Pick> {
        if self.tree.queues[q].is_leaf() {
            return self.pick_in_leaf(cluster, q, round);
        }
        self.order_children(cluster, q)
            .into_iter()
            .find_map(|c| self.pick_under(cluster, c, round))
    }

    fn leaf_of(&self, queue: &str) -> Result<usize, String> {
        let i = self
            .tree
            .find(queue)
            .ok_or_else(|| format!("unknown queue: {queue}"))?;
        if !self.tree.queues[i].is_leaf() {
            return Err(format!(
                "queue {} is a parent queue: applications go to leaf queues",
                self.tree.queues[i].path
            ));
        }
        Ok(i)
    }

    fn add_app(&mut self, app: ApplicationId, leaf: usize, user: &str) {
        self.apps.insert(
            app,
            AppEntry {
                leaf,
                user: user.to_string(),
                used: Resource::ZERO,
            },
        );
    }

    /// Each leaf's guarantee, maximum, use and demand, for preemption.
    fn leaf_states(&self, cluster: &Resource, demands: &[Demand]) -> Vec<preemption::LeafState> {
        let pending = self.pending_by_leaf(demands);
        self.tree
            .leaves()
            .map(|l| preemption::LeafState {
                leaf: l,
                guaranteed: self.tree.queues[l].absolute.capacity,
                maximum: self.tree.queues[l].absolute.maximum_capacity,
                used: share(&self.used[l], cluster),
                demand: share(&self.used[l].add(&pending[l]), cluster),
            })
            .collect()
    }

    /// Pending resources per leaf.
    fn pending_by_leaf(&self, demands: &[Demand]) -> Vec<Resource> {
        let mut pending = vec![Resource::ZERO; self.tree.queues.len()];
        for d in demands {
            if let Some(e) = self.apps.get(&d.app) {
                pending[e.leaf] = pending[e.leaf].add(&d.pending);
            }
        }
        pending
    }

    /// Adds (`add`) or takes back a container's resource on its app, its leaf's AM
    /// share, every queue up to the root, and its user's share of the leaf; a user's
    /// share that falls to zero goes, so the fair-share count only sees active users.
    fn charge(&mut self, app: ApplicationId, resource: Resource, am: bool, add: bool) {
        let Some(e) = self.apps.get_mut(&app) else {
            return;
        };
        let apply = |r: &Resource| {
            if add {
                r.add(&resource)
            } else {
                r.saturating_sub(&resource)
            }
        };
        e.used = apply(&e.used);
        let leaf = e.leaf;
        if am {
            self.am_used[leaf] = apply(&self.am_used[leaf]);
        }
        let mut q = Some(leaf);
        while let Some(i) = q {
            self.used[i] = apply(&self.used[i]);
            self.containers[i] = if add {
                self.containers[i] + 1
            } else {
                self.containers[i].saturating_sub(1)
            };
            q = self.tree.queues[i].parent;
        }
        let u = self.user_used[leaf]
            .entry(e.user.clone())
            .or_insert(Resource::ZERO);
        *u = apply(u);
        if *u == Resource::ZERO {
            self.user_used[leaf].remove(&e.user);
        }
    }
}

impl Scheduler for CapacityScheduler {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Capacity
    }

    fn admit(&mut self, app: ApplicationId, queue: &str, user: &str) -> Result<String, WireError> {
        let leaf = self.leaf_of(queue).map_err(|why| {
            refused(format!(
                "Application {app} submitted by user {user} to {why}"
            ))
        })?;
        let q = &self.tree.queues[leaf];
        if q.settings.state == QueueState::Stopped {
            return Err(refused(format!(
                "Application {app} submitted by user {user} to queue {}, which is STOPPED: it takes no new applications",
                q.path
            )));
        }
        if !self.tree.may_submit(leaf, user) {
            return Err(WireError::new(
                ErrorCode::Unauthorized,
                format!(
                    "User {user} does not have permission to submit {app} to queue {} (acl-submit-applications)",
                    q.path
                ),
            ));
        }
        let n = self.apps_in(leaf);
        if n >= q.settings.maximum_applications as usize {
            return Err(refused(format!(
                "Application {app} submitted by user {user} to queue {}: it already has {n} applications, its maximum-applications",
                q.path
            )));
        }
        let path = q.path.clone();
        self.add_app(app, leaf, user);
        Ok(path)
    }

    fn readmit(&mut self, app: ApplicationId, queue: &str, user: &str) -> Result<String, String> {
        let leaf = self.leaf_of(queue)?;
        self.add_app(app, leaf, user);
        Ok(self.tree.queues[leaf].path.clone())
    }

    fn remove(&mut self, app: ApplicationId) {
        if let Some(e) = self.apps.remove(&app) {
            // Anything still counted goes with it (the core releases every container
            // first, so this is only a guard against drift).
            if e.used != Resource::ZERO {
                for q in self.tree.path_up(e.leaf).collect::<Vec<_>>() {
                    self.used[q] = self.used[q].saturating_sub(&e.used);
                }
                if let Some(u) = self.user_used[e.leaf].get_mut(&e.user) {
                    *u = u.saturating_sub(&e.used);
                }
            }
        }
    }

    fn allocated(&mut self, app: ApplicationId, resource: Resource, am: bool) {
        self.charge(app, resource, am, true);
    }

    fn released(&mut self, app: ApplicationId, resource: Resource, am: bool) {
        if resource != Resource::ZERO {
            self.charge(app, resource, am, false);
        }
    }

    fn group(&self, app: ApplicationId) -> (usize, String) {
        self.apps
            .get(&app)
            .map_or((usize::MAX, String::new()), |e| (e.leaf, e.user.clone()))
    }

    fn pick_in(&self, cluster: Resource, round: Round<'_>) -> Option<Pick> {
        if round.demands.is_empty() {
            return None;
        }
        self.pick_under(&cluster, 0, round)
    }

    fn am_wait_reason(
        &self,
        cluster: Resource,
        app: ApplicationId,
        am: Resource,
    ) -> Option<String> {
        let e = self.apps.get(&app)?;
        let q = &self.tree.queues[e.leaf];
        if !self.am_fits(&cluster, e.leaf, &am) {
            return Some(format!(
                "Application is added to the scheduler and is not yet activated. Queue's AM resource limit exceeded. \
                 Details: queue {}, AM resource request {am}, queue AM resource limit {} (maximum-am-resource-percent {} of its guarantee), queue AM resource usage {}",
                q.path,
                self.am_limit(&cluster, e.leaf),
                q.settings.maximum_am_resource_percent,
                self.am_used[e.leaf]
            ));
        }
        if !self.max_fits(&cluster, e.leaf, &am) {
            return Some(format!(
                "Application is added to the scheduler and is not yet activated: queue {} is at its maximum-capacity ({}%)",
                q.path,
                q.absolute.maximum_capacity * 100.0
            ));
        }
        None
    }

    fn may_administer(&self, app: ApplicationId, user: &str) -> bool {
        self.apps
            .get(&app)
            .is_some_and(|e| self.tree.may_administer(e.leaf, user))
    }

    fn queues(&self, cluster: Resource, demands: &[Demand]) -> Vec<QueueView> {
        let pending_am: BTreeSet<ApplicationId> = demands
            .iter()
            .filter(|d| d.am.is_some())
            .map(|d| d.app)
            .collect();
        let leaf_pending = self.pending_by_leaf(demands);
        let mut queue_pending = vec![Resource::ZERO; self.tree.queues.len()];
        for l in self.tree.leaves() {
            for q in self.tree.path_up(l) {
                queue_pending[q] = queue_pending[q].add(&leaf_pending[l]);
            }
        }
        let mut out = Vec::new();
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            let q = &self.tree.queues[i];
            let in_q: Vec<(&ApplicationId, &AppEntry)> = self
                .apps
                .iter()
                .filter(|(_, e)| self.tree.path_up(e.leaf).any(|a| a == i))
                .collect();
            let pending = in_q
                .iter()
                .filter(|(id, _)| pending_am.contains(id))
                .count() as u32;
            let used_share = share(&self.used[i], &cluster);
            let users: Vec<(String, Resource)> = self.user_used[i]
                .iter()
                .map(|(u, r)| (u.clone(), *r))
                .collect();
            out.push(QueueView {
                path: q.path.clone(),
                name: q.name().to_string(),
                depth: depth as u32,
                leaf: q.is_leaf(),
                capacity: q.settings.capacity,
                maximum_capacity: q.settings.maximum_capacity,
                absolute_capacity: q.absolute.capacity * 100.0,
                absolute_maximum_capacity: q.absolute.maximum_capacity * 100.0,
                used: self.used[i],
                pending: queue_pending[i],
                used_capacity: if q.absolute.capacity > 0.0 {
                    used_share / q.absolute.capacity * 100.0
                } else {
                    0.0
                },
                absolute_used_capacity: used_share * 100.0,
                num_applications: in_q.len() as u32,
                num_active_applications: in_q.len() as u32 - pending,
                num_pending_applications: pending,
                num_containers: self.containers[i],
                am_used: self.am_used[i],
                am_limit: self.am_limit(&cluster, i),
                user_limit_factor: q.settings.user_limit_factor,
                minimum_user_limit_percent: q.settings.minimum_user_limit_percent,
                maximum_applications: q.settings.maximum_applications,
                maximum_am_resource_percent: q.settings.maximum_am_resource_percent,
                ordering_policy: q.settings.ordering_policy.to_string(),
                state: q.settings.state.to_string(),
                users,
            });
            for &c in q.children.iter().rev() {
                stack.push((c, depth + 1));
            }
        }
        out
    }

    fn preemption_targets(
        &self,
        cluster: Resource,
        usable: Resource,
        demands: &[Demand],
        containers: &[Candidate],
    ) -> BTreeSet<ContainerId> {
        let leaves = self.leaf_states(&cluster, demands);
        let leaf_of = |app: &ApplicationId| self.apps.get(app).map(|e| e.leaf);
        let total = share(&usable, &cluster).min(1.0);
        preemption::select(&leaves, total, containers, &cluster, leaf_of)
    }

    fn may_preempt(&self, cluster: Resource, usable: Resource, demands: &[Demand]) -> bool {
        let total = share(&usable, &cluster).min(1.0);
        preemption::starved(&self.leaf_states(&cluster, demands), total)
    }
}

#[cfg(test)]
mod tests {
    use super::super::queue::{QueueConf, QueueDefaults};
    use super::*;

    fn app(n: u32) -> ApplicationId {
        ApplicationId::new(1, n)
    }

    fn sched(queues: &[(&str, f64, f64)], defaults: QueueDefaults) -> CapacityScheduler {
        let confs = queues
            .iter()
            .map(|(n, c, m)| {
                (
                    n.to_string(),
                    QueueConf {
                        capacity: Some(*c),
                        maximum_capacity: Some(*m),
                        ..QueueConf::default()
                    },
                )
            })
            .collect();
        CapacityScheduler::new(QueueTree::build(&confs, defaults).unwrap())
    }

    /// Queues a and b at 50% each, both allowed the whole cluster, with this
    /// user-limit-factor and AM share.
    fn halves(user_limit_factor: f64, am: f64) -> CapacityScheduler {
        let defaults = QueueDefaults {
            user_limit_factor,
            maximum_am_resource_percent: am,
            ..QueueDefaults::default()
        };
        sched(&[("a", 50.0, 100.0), ("b", 50.0, 100.0)], defaults)
    }

    /// [`halves`] with no AM limit and apps 1, 2, ... admitted as (queue, user).
    fn halves_with(user_limit_factor: f64, apps: &[(&str, &str)]) -> CapacityScheduler {
        let mut s = halves(user_limit_factor, 1.0);
        for (i, (queue, user)) in apps.iter().enumerate() {
            s.admit(app(i as u32 + 1), queue, user).unwrap();
        }
        s
    }

    /// Apps 1 and 2 each ask for a 1024 MB executor.
    fn both_ask() -> [Demand; 2] {
        [demand(app(1), false, 1024), demand(app(2), false, 1024)]
    }

    /// The next pick for `ds` on [`CLUSTER`].
    fn next(s: &CapacityScheduler, ds: &[Demand]) -> Option<Pick> {
        s.pick(CLUSTER, ds, &BTreeSet::new())
    }

    fn demand(app: ApplicationId, am: bool, mb: u64) -> Demand {
        let r = Resource::new(mb, 1);
        Demand {
            app,
            am: am.then_some(r),
            ask: (!am).then_some(r),
            pending: r,
        }
    }

    const CLUSTER: Resource = Resource {
        memory_mb: 8192,
        vcores: 16,
    };

    #[test]
    fn unknown_parent_and_stopped_queues_are_refused_by_name() {
        let mut s = halves(1.0, 0.1);
        let e = s.admit(app(1), "nosuchqueue", "alice").unwrap_err();
        assert!(
            e.message.contains("unknown queue: nosuchqueue"),
            "{}",
            e.message
        );
        let e = s.admit(app(1), "root", "alice").unwrap_err();
        assert!(e.message.contains("parent queue"), "{}", e.message);
        assert_eq!(s.admit(app(2), "a", "alice").unwrap(), "root.a");
        assert_eq!(s.admit(app(3), "root.b", "alice").unwrap(), "root.b");
    }

    #[test]
    fn the_queue_below_its_guarantee_is_served_first() {
        let mut s = halves_with(2.0, &[("a", "u1"), ("b", "u2")]);
        s.allocated(app(1), Resource::new(4096, 2), false);
        assert_eq!(next(&s, &both_ask()).unwrap().app, app(2));
    }

    #[test]
    fn am_limit_holds_apps_back_but_one_am_always_runs() {
        let mut s = sched(&[("default", 100.0, 100.0)], QueueDefaults::default());
        for n in 1..=3 {
            s.admit(app(n), "default", "u").unwrap();
        }
        // 10% of 8192 is 819 MB: the first 1024 MB AM runs anyway, the second waits.
        let ds = [demand(app(1), true, 1024)];
        assert!(next(&s, &ds).is_some());
        s.allocated(app(1), Resource::new(1024, 1), true);
        let ds = [demand(app(2), true, 1024)];
        assert_eq!(next(&s, &ds), None);
        let why = s
            .am_wait_reason(CLUSTER, app(2), Resource::new(1024, 1))
            .unwrap();
        assert!(
            why.contains("AM resource limit exceeded") && why.contains("root.default"),
            "{why}"
        );
        s.released(app(1), Resource::new(1024, 1), true);
        assert!(next(&s, &ds).is_some());
    }

    #[test]
    fn a_queue_never_passes_its_maximum_capacity() {
        let mut s = sched(
            &[("a", 50.0, 60.0), ("b", 50.0, 100.0)],
            QueueDefaults {
                user_limit_factor: 10.0,
                maximum_am_resource_percent: 1.0,
                ..QueueDefaults::default()
            },
        );
        s.admit(app(1), "a", "u").unwrap();
        s.allocated(app(1), Resource::new(4096, 1), false);
        let ds = [demand(app(1), false, 1024)];
        assert_eq!(next(&s, &ds), None, "4096+1024 > 60% of 8192");
        let ds = [demand(app(1), false, 512)];
        assert!(next(&s, &ds).is_some());
    }

    #[test]
    fn user_limit_factor_caps_one_user_and_leaves_room_for_another() {
        let mut s = halves_with(1.0, &[("a", "alice"), ("a", "bob")]);
        s.allocated(app(1), Resource::new(4608, 1), false);
        // alice holds more than her guarantee (factor 1): no more for her, bob may start.
        assert_eq!(next(&s, &both_ask()).unwrap().app, app(2));
        let ds = [demand(app(1), false, 1024)];
        assert_eq!(next(&s, &ds), None);
    }

    #[test]
    fn one_user_with_factor_two_fills_an_idle_cluster_from_a_half_queue() {
        let mut s = halves(2.0, 0.5);
        s.admit(app(1), "a", "u").unwrap();
        s.allocated(app(1), Resource::new(1408, 1), true);
        let mut n = 0;
        while s
            .pick(CLUSTER, &[demand(app(1), false, 1408)], &BTreeSet::new())
            .is_some()
            && n < 10
        {
            s.allocated(app(1), Resource::new(1408, 1), false);
            n += 1;
        }
        assert!(n * 1408 + 1408 >= 8192 - 1408, "only {n} executors");
    }

    #[test]
    fn fair_ordering_serves_the_app_holding_least() {
        let confs = [(
            "default".to_string(),
            QueueConf {
                capacity: Some(100.0),
                ordering_policy: Some(OrderingPolicy::Fair),
                maximum_am_resource_percent: Some(1.0),
                ..QueueConf::default()
            },
        )]
        .into_iter()
        .collect();
        let mut s =
            CapacityScheduler::new(QueueTree::build(&confs, QueueDefaults::default()).unwrap());
        s.admit(app(1), "default", "u").unwrap();
        s.admit(app(2), "default", "u").unwrap();
        s.allocated(app(1), Resource::new(2048, 1), false);
        let ds = [demand(app(1), false, 1024), demand(app(2), false, 1024)];
        assert_eq!(next(&s, &ds).unwrap().app, app(2));
    }
}
