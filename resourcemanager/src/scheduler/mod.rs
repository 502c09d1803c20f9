//! Scheduling policy behind a seam: the RM core ([`crate::state::RmState`]) keeps
//! nodes, applications and containers; a [`Scheduler`] decides which application
//! gets the next container, whether an application may enter a queue, and (for
//! capacity scheduling) which containers to take back. FIFO and capacity are the
//! two implementations, chosen by `scheduler` in `resourcemanager.toml`.
//!
//! Both are pure: no I/O, no clock. The core tells them what it allocated and
//! released, and asks them for decisions with the demand of the moment.

pub mod capacity;
pub mod demands;
pub mod fifo;
pub mod preemption;
pub mod queue;

use common::protocol::WireError;
use common::{ApplicationId, Resource};
use std::collections::BTreeSet;

pub use capacity::CapacityScheduler;

/// One placement round as a scheduler sees it: what every app waits for, and the
/// apps already found to fit no node this round.
#[derive(Clone, Copy)]
pub struct Round<'a> {
    pub demands: &'a Demands,
    pub skipped: &'a BTreeSet<ApplicationId>,
}

impl Round<'_> {
    /// Whether `app` is passed over for the rest of the round.
    pub fn skips(&self, app: ApplicationId) -> bool {
        self.skipped.contains(&app)
    }
}
pub use demands::Demands;
pub use fifo::FifoScheduler;
pub use queue::{
    OrderingPolicy, QueueConf, QueueConfigError, QueueDefaults, QueueState, QueueTree,
};

/// What an application waits for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    pub app: ApplicationId,
    /// Its AM container, not yet allocated.
    pub am: Option<Resource>,
    /// The resource of the container its next ask wants (registered apps only).
    pub ask: Option<Resource>,
    /// Everything it asks for (AM included), for preemption and the queue views.
    pub pending: Resource,
}

/// A scheduler's choice: give `app` a container (its AM when `am`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub app: ApplicationId,
    pub am: bool,
}

/// Which policy, for REST (`schedulerInfo.type`) and the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerKind {
    Fifo,
    Capacity,
}

/// A queue's state of the moment (the wire type: REST, UI and CLI read the same).
pub use common::protocol::QueueReport as QueueView;

/// The seam between the RM's lifecycle state machine and a scheduling policy.
pub trait Scheduler: Send + Sync {
    fn kind(&self) -> SchedulerKind;

    /// Admits a new application for `user` into the queue it names (a leaf's short name
    /// or a full path) and returns the leaf's full path, or refuses, naming the queue.
    fn admit(&mut self, app: ApplicationId, queue: &str, user: &str) -> Result<String, WireError>;

    /// Re-admits an application that was already running (recovery, reload): no ACL,
    /// state or size check; fails only when its queue is gone.
    fn readmit(&mut self, app: ApplicationId, queue: &str, user: &str) -> Result<String, String>;

    /// The application ended: it leaves its queue.
    fn remove(&mut self, app: ApplicationId);

    fn allocated(&mut self, app: ApplicationId, resource: Resource, am: bool);
    fn released(&mut self, app: ApplicationId, resource: Resource, am: bool);

    /// Where `app` is filed among [`Demands`] (its leaf queue; FIFO has one group), and
    /// its user.
    fn group(&self, app: ApplicationId) -> (usize, String);

    /// The next container to give in `round` (oldest app first, passing over the apps
    /// it skips); `None`: nothing more this round.
    fn pick_in(&self, cluster: Resource, round: Round<'_>) -> Option<Pick>;

    /// [`Self::pick_in`] for a plain list of demands.
    fn pick(
        &self,
        cluster: Resource,
        demands: &[Demand],
        skipped: &BTreeSet<ApplicationId>,
    ) -> Option<Pick> {
        let demands = Demands::of(demands, |a| self.group(a));
        self.pick_in(
            cluster,
            Round {
                demands: &demands,
                skipped,
            },
        )
    }

    /// Why an app that waits for its AM is held back, when its queue's limits hold it.
    fn am_wait_reason(&self, cluster: Resource, app: ApplicationId, am: Resource)
        -> Option<String>;

    /// May `user` administer the queue `app` is in (kill apps there)?
    fn may_administer(&self, app: ApplicationId, user: &str) -> bool;

    /// Every queue, depth first (FIFO: one `default`).
    fn queues(&self, cluster: Resource, demands: &[Demand]) -> Vec<QueueView>;

    /// Containers to take back, from the apps' live containers (see [`preemption`]);
    /// empty where the policy does not preempt. `usable` is what the cluster can really
    /// hold of the waiting containers: what is in use plus the free room of nodes where
    /// one of them fits (free room split over nodes in pieces too small is not room).
    fn preemption_targets(
        &self,
        cluster: Resource,
        usable: Resource,
        demands: &[Demand],
        containers: &[preemption::Candidate],
    ) -> BTreeSet<common::ContainerId>;

    /// Whether [`Self::preemption_targets`] could choose anything now (some queue waits
    /// below what it should have): when not, the core need not list the containers.
    fn may_preempt(&self, _cluster: Resource, _usable: Resource, _demands: &[Demand]) -> bool {
        true
    }
}

/// Dominant share of `r` in `cluster` (the dominant-resource calculator).
pub fn share(r: &Resource, cluster: &Resource) -> f64 {
    let m = if cluster.memory_mb == 0 {
        0.0
    } else {
        r.memory_mb as f64 / cluster.memory_mb as f64
    };
    let v = if cluster.vcores == 0 {
        0.0
    } else {
        r.vcores as f64 / cluster.vcores as f64
    };
    m.max(v)
}

/// `cluster` scaled by `f` (rounded down).
pub fn scale(cluster: &Resource, f: f64) -> Resource {
    Resource::new(
        (cluster.memory_mb as f64 * f).floor() as u64,
        (cluster.vcores as f64 * f).floor() as u32,
    )
}
