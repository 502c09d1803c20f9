//! How many finished applications the RM keeps (YARN's
//! `yarn.resourcemanager.max-completed-applications`): beyond the bound the oldest go,
//! from memory and from the state store, so that a long-running RM's memory stays
//! bounded. Their event logs stay in the history directory.

use super::RmState;
use common::ApplicationId;

/// The default bound (YARN's).
pub const MAX_COMPLETED_APPS: usize = 1000;

impl RmState {
    /// Keeps at most `max` finished applications (the oldest beyond it are forgotten;
    /// at least the one that just ended is kept).
    pub fn set_max_completed_apps(&mut self, max: usize) {
        self.max_completed = max.max(1);
        self.trim_completed();
    }

    /// `app` ended: it is the newest finished app.
    pub(super) fn completed(&mut self, app: ApplicationId) {
        self.completed.push_back(app);
        self.trim_completed();
    }

    /// Forgets the oldest finished apps beyond the bound.
    pub(super) fn trim_completed(&mut self) {
        while self.completed.len() > self.max_completed {
            let Some(old) = self.completed.pop_front() else {
                break;
            };
            if self.apps.get(&old).is_some_and(|a| a.state.is_terminal()) {
                self.forget_app(old);
                self.dirty.remove(&old);
                self.removed.insert(old);
            }
        }
    }

    /// Apps forgotten since the last call (the store deletes their records).
    pub fn take_removed(&mut self) -> Vec<ApplicationId> {
        std::mem::take(&mut self.removed).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{at, rm_state, submission};
    use common::protocol::YarnApplicationState as AppState;

    /// With room for 2 finished apps, the third to end pushes the first out (of the list
    /// and of the store); running apps are never forgotten; recovery applies the bound.
    #[test]
    fn only_the_newest_finished_apps_are_kept() {
        let mut rm = rm_state(1000);
        rm.set_max_completed_apps(2);
        let ids: Vec<_> = (0..4)
            .map(|i| rm.submit(submission(), at(i)).unwrap().0)
            .collect();
        for (i, id) in ids.iter().take(3).enumerate() {
            rm.kill(*id, "u", at(10 + i as u64)).unwrap();
        }
        rm.take_dirty();
        assert!(rm.report(ids[0], at(20)).is_err());
        assert_eq!(rm.report(ids[1], at(20)).unwrap().state, AppState::KILLED);
        assert_eq!(rm.report(ids[3], at(20)).unwrap().state, AppState::ACCEPTED);
        assert_eq!(rm.take_removed(), vec![ids[0]]);
        assert!(rm.take_removed().is_empty());
        assert_eq!(rm.list(&[], at(20)).len(), 3);
        // The next process, with room for one, keeps the newest finished app.
        let mut rm2 = rm_state(1000);
        rm2.set_max_completed_apps(1);
        rm2.recover(rm.next_seq(), rm.export_apps(), at(30));
        assert_eq!(rm2.list(&[], at(30)).len(), 2);
        assert!(rm2.report(ids[1], at(30)).is_err());
        assert_eq!(rm2.take_removed(), vec![ids[1]]);
    }
}
