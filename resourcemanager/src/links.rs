//! How the RM's web server is reached: the base of links and of finished
//! applications' tracking URLs (the web server is optional; the RM's client
//! service and the web server both read this).

use common::protocol::ApplicationReport;
use std::path::PathBuf;

/// How the RM's web server is reached, for links and tracking URLs.
#[derive(Debug, Clone)]
pub struct Links {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// `scheme://host:port`, no trailing slash.
    pub base: String,
    /// Where finished applications' event logs are (`history-dir`).
    pub history_dir: Option<PathBuf>,
}

impl Links {
    /// The event log of `app` in the history dir, when it is there.
    pub fn event_log(&self, app: &str) -> Option<PathBuf> {
        let p = self.history_dir.as_ref()?.join(format!("{app}.jsonl"));
        p.is_file().then_some(p)
    }

    /// What a finished application's tracking URL becomes: the RM's history
    /// view of its UI when its event log is here, else its RM page.
    pub fn finished_tracking_url(&self, app: &str) -> String {
        if self.event_log(app).is_some() {
            format!("{}/cluster/app/{app}/history/", self.base)
        } else {
            format!("{}/cluster/app/{app}", self.base)
        }
    }

    /// A report as clients see it: a finished application's tracking URL
    /// points to the RM (its AM's server is gone).
    pub fn public_report(&self, mut r: ApplicationReport) -> ApplicationReport {
        if r.state.is_terminal() {
            r.tracking_url = self.finished_tracking_url(&r.id.to_string());
        }
        r
    }
}
