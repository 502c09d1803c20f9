//! Faults injected into the transport by tests (the filters of TiKV's test cluster):
//! a call this process makes to a peer address is dropped, delayed, sent twice, or
//! refused while the peer is cut off. Nothing is injected unless a test installs a
//! [`FaultPlan`]; a daemon then pays one atomic load per call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// It goes through.
    Pass,
    /// The request is lost: the caller sees its connection fail.
    Drop,
    /// It goes through after this long.
    Delay(Duration),
    /// The request is sent twice (the answer to the second is returned): every
    /// request must be safe to repeat.
    Duplicate,
    /// The peer is cut off: nothing reaches it until the partition heals.
    Partition,
}

/// Decides each call by the address called (`host:port`, as the caller names it).
pub trait FaultPlan: Send + Sync {
    fn on_call(&self, to: &str) -> Fault;
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
static PLAN: RwLock<Option<Arc<dyn FaultPlan>>> = RwLock::new(None);

/// Makes every call of this process go through `plan` (until [`clear`]).
pub fn install(plan: Arc<dyn FaultPlan>) {
    *PLAN.write().expect("fault plan lock") = Some(plan);
    ACTIVE.store(true, Ordering::SeqCst);
}

/// No more faults.
pub fn clear() {
    ACTIVE.store(false, Ordering::SeqCst);
    *PLAN.write().expect("fault plan lock") = None;
}

/// The fault for a call to `to` now.
pub fn decide(to: &str) -> Fault {
    if !ACTIVE.load(Ordering::Relaxed) {
        return Fault::Pass;
    }
    match PLAN.read().expect("fault plan lock").as_ref() {
        Some(p) => p.on_call(to),
        None => Fault::Pass,
    }
}
