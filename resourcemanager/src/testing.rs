//! Fixtures shared by the crate's unit tests.

use crate::state::{Limits, Now, RmState};
use common::protocol::{AppSubmission, LaunchSpec};
use common::Resource;

/// Both clocks at `ms` (for tests that do not step the wall clock).
pub(crate) fn at(ms: u64) -> Now {
    Now {
        mono_ms: ms,
        wall_ms: ms,
    }
}

/// An RM of cluster `cluster_ts`: 4096 MB and 4 vcores at most per container, 2 AM
/// attempts, nodes expire after 5 s, tokens after a minute, keys roll daily.
pub(crate) fn rm_state(cluster_ts: u64) -> RmState {
    let mut rm = RmState::new(
        cluster_ts,
        Limits {
            max_allocation: Resource::new(4096, 4),
            max_am_attempts: 2,
            nm_expiry_ms: 5000,
            token_expiry_ms: 60_000,
            key_roll_ms: 86_400_000,
        },
        at(0),
    );
    // Lifecycle tests run several apps on small nodes: no AM share limit.
    rm.set_scheduler(open_scheduler()).unwrap();
    rm
}

/// The capacity scheduler with one `default` queue and no AM share limit.
pub(crate) fn open_scheduler() -> Box<dyn crate::scheduler::Scheduler> {
    let tree = crate::scheduler::QueueTree::build(
        &Default::default(),
        crate::scheduler::QueueDefaults {
            maximum_am_resource_percent: 1.0,
            ..Default::default()
        },
    )
    .unwrap();
    Box::new(crate::scheduler::CapacityScheduler::new(tree))
}

/// An application `t` in the default queue whose 512 MB, 1 vcore AM runs `true`.
pub(crate) fn submission() -> AppSubmission {
    AppSubmission {
        name: "t".into(),
        queue: "default".into(),
        user: "u".into(),
        app_type: "TEST".into(),
        am_resource: Resource::new(512, 1),
        am_launch: LaunchSpec {
            command: vec!["true".into()],
            ..Default::default()
        },
        max_attempts: None,
        acls: Default::default(),
    }
}
