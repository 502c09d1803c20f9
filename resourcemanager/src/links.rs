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

    /// An application's tracking URL: the RM's web proxy, which forwards to its AM's
    /// UI while it runs and serves its history view after it ends.
    pub fn proxy_url(&self, app: &str) -> String {
        format!("{}/proxy/{app}/", self.base)
    }

    /// A report as clients see it: the tracking URL is the proxy's (the AM's own
    /// address carries a token that only the RM's proxy is given). Before an AM has
    /// registered there is none, as in YARN (`UNASSIGNED`).
    pub fn public_report(&self, mut r: ApplicationReport) -> ApplicationReport {
        if !r.tracking_url.is_empty() || r.state.is_terminal() {
            r.tracking_url = self.proxy_url(&r.id.to_string());
        }
        r
    }
}
