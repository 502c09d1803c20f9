//! Who may see and change an application: its owner, its view and modify ACLs,
//! the RM's `admin-acl` and its queue's administer ACL.

use super::{err, unknown_app, App, Now, RmState};
use common::protocol::{
    AppAcls, ApplicationReport, ErrorCode, WireError, YarnApplicationState as AppState,
};
use common::ApplicationId;

impl RmState {
    pub(super) fn is_admin(&self, user: &str) -> bool {
        self.admins.contains(user) || self.admins.contains("*")
    }

    /// May `user` view `app`? Its owner, an admin, its view ACL; and every user while
    /// the app's ACLs are off (`spark.acls.enable` unset), as YARN shows them.
    pub(super) fn may_view(&self, app: &App, user: &str) -> bool {
        let sub = &app.submission;
        !sub.acls.private
            || sub.user == user
            || self.is_admin(user)
            || AppAcls::names(&sub.acls.view_users, user)
    }

    /// `user` may view `app_id`, or the refusal naming who may.
    pub fn check_view(&self, app_id: ApplicationId, user: &str) -> Result<(), WireError> {
        let app = self.apps.get(&app_id).ok_or_else(|| unknown_app(app_id))?;
        if self.may_view(app, user) {
            return Ok(());
        }
        Err(err(
            ErrorCode::Unauthorized,
            format!(
                "user {user} may not view application {app_id}: it is private (spark.acls.enable), visible to its owner {}, its view ACL and the RM's admin-acl",
                app.submission.user
            ),
        ))
    }

    /// `user` may modify (kill) `app_id`: its owner, its modify ACL or an admin; or the
    /// refusal naming who may (`what` is the change, e.g. "kill").
    pub fn check_modify(
        &self,
        app_id: ApplicationId,
        user: &str,
        what: &str,
    ) -> Result<(), WireError> {
        let app = self.apps.get(&app_id).ok_or_else(|| unknown_app(app_id))?;
        let sub = &app.submission;
        if sub.user == user
            || self.is_admin(user)
            || AppAcls::names(&sub.acls.modify_users, user)
            || self.scheduler.may_administer(app_id, user)
        {
            return Ok(());
        }
        if !self.may_view(app, user) {
            // Nothing about a private app to someone who may not see it, beyond the refusal.
            return self.check_view(app_id, user);
        }
        Err(err(
            ErrorCode::Unauthorized,
            format!(
                "user {user} may not {what} application {app_id}: only its owner {}, its modify ACL (spark.modify.acls) and the RM's admin-acl may",
                sub.user
            ),
        ))
    }

    /// [`Self::report`] for `user`, who must be allowed to view the app.
    pub fn report_for(
        &self,
        app_id: ApplicationId,
        user: &str,
        now: Now,
    ) -> Result<ApplicationReport, WireError> {
        self.check_view(app_id, user)?;
        self.report(app_id, now)
    }

    /// [`Self::list`] of the apps `user` may view.
    pub fn list_for(&self, states: &[AppState], user: &str, now: Now) -> Vec<ApplicationReport> {
        self.apps
            .iter()
            .filter(|(_, a)| states.is_empty() || states.contains(&a.state))
            .filter(|(_, a)| self.may_view(a, user))
            .map(|(id, a)| self.make_report(*id, a, now))
            .collect()
    }
}
