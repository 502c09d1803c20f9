//! What the state store keeps of the core, and recovery from it after a
//! restart. Times in records are wall-clock milliseconds (they are shown to
//! people and outlive the process); durations are plain milliseconds.

use super::{Age, App, AttemptRecord, Now, RmState};
use common::protocol::{AppSubmission, FinalApplicationStatus, YarnApplicationState as AppState};
use common::token::AppSecret;
use common::ApplicationId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An application as the state store keeps it: everything its report shows
/// except live containers (those are re-learnt from the nodes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub id: ApplicationId,
    pub submission: AppSubmission,
    /// The application's secret (the store file is readable by the RM only).
    /// Empty in records written before secrets were kept: a new one is made.
    #[serde(default)]
    pub secret: AppSecret,
    pub state: AppState,
    pub final_status: FinalApplicationStatus,
    pub diagnostics: String,
    pub tracking_url: String,
    pub am_host: String,
    pub start_ms: u64,
    pub finish_ms: u64,
    pub progress: f32,
    pub max_attempts: u32,
    pub memory_ms: u128,
    pub vcore_ms: u128,
    pub next_container: u64,
    pub attempts: Vec<AttemptRecord>,
    /// The leaf queue's full path (empty in records written before queues).
    #[serde(default)]
    pub queue_path: String,
    /// What preemption took from it.
    #[serde(default)]
    pub preempted: common::protocol::PreemptedReport,
}

/// Diagnostics of an attempt that was running when the RM stopped.
pub const RESTART_DIAGNOSTICS: &str =
    "Attempt ended because the ResourceManager restarted; a new attempt replaces it (not counted as a failure)";

impl RmState {
    /// The next application sequence number.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Records of the apps changed since the last call (the store writes these).
    pub fn take_dirty(&mut self) -> Vec<AppRecord> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .filter_map(|id| self.apps.get(&id).map(|a| record_of(id, a)))
            .collect()
    }

    /// Records of every app.
    pub fn export_apps(&self) -> Vec<AppRecord> {
        self.apps.iter().map(|(id, a)| record_of(*id, a)).collect()
    }

    /// Takes back the apps of a previous run (non-work-preserving recovery,
    /// like YARN's RM restart without work preservation): finished apps come
    /// back as they were; an unfinished app whose AM had been placed gets its
    /// attempt ended with [`RESTART_DIAGNOSTICS`] and a new attempt that
    /// waits for a node (not counted towards the attempt limit); one still
    /// waiting for its AM keeps waiting. The changed apps are marked dirty.
    /// An unfinished app's elapsed time continues from its stored wall-clock
    /// start (read once, here) on this process's monotonic clock.
    pub fn recover(&mut self, next_seq: u32, records: Vec<AppRecord>, now: Now) {
        for r in records {
            let id = r.id;
            self.next_seq = self.next_seq.max(next_seq).max(id.seq + 1);
            let mut app = App {
                submission: r.submission,
                secret: if r.secret.is_empty() {
                    self.dirty.insert(id);
                    AppSecret::generate()
                } else {
                    r.secret
                },
                state: r.state,
                final_status: r.final_status,
                diagnostics: r.diagnostics,
                tracking_url: r.tracking_url,
                am_host: r.am_host,
                start_wall_ms: r.start_ms,
                finish_wall_ms: r.finish_ms,
                age: Age::recovered(r.start_ms, now),
                progress: r.progress,
                attempts: r.attempts,
                max_attempts: r.max_attempts,
                asks: BTreeMap::new(),
                containers: BTreeMap::new(),
                memory_ms: r.memory_ms,
                vcore_ms: r.vcore_ms,
                next_container: r.next_container,
                queue_path: r.queue_path,
                preempted: r.preempted,
            };
            let placed = app.current().is_some_and(|a| a.am_container.is_some());
            if !app.state.is_terminal() && (placed || app.attempts.is_empty()) {
                if let Some(a) = app.current_mut() {
                    a.finish_wall_ms = now.wall_ms;
                    a.diagnostics = RESTART_DIAGNOSTICS.into();
                    a.ended_by_restart = true;
                }
                app.state = AppState::ACCEPTED;
                app.tracking_url.clear();
                app.am_host.clear();
                app.progress = 0.0;
                app.attempts.push(AttemptRecord::new(
                    id.attempt(app.attempts.len() as u32 + 1),
                    now.wall_ms,
                ));
                tracing::info!(app_id = %id, "recovered application gets a new attempt");
                self.dirty.insert(id);
            }
            if !app.state.is_terminal() {
                match self
                    .scheduler
                    .readmit(id, &app.submission.queue, &app.submission.user)
                {
                    Ok(path) => app.queue_path = path,
                    Err(why) => {
                        // Its queue is gone from the config: it cannot run here.
                        tracing::warn!(app_id = %id, reason = %why, "recovered application has no queue: FAILED");
                        app.state = AppState::FAILED;
                        app.final_status = FinalApplicationStatus::FAILED;
                        app.diagnostics = format!(
                            "Application {id} recovered into a queue that no longer exists: {why}"
                        );
                        app.finish_wall_ms = now.wall_ms;
                        self.dirty.insert(id);
                    }
                }
            }
            self.apps.insert(id, app);
        }
    }
}

fn record_of(id: ApplicationId, a: &App) -> AppRecord {
    AppRecord {
        id,
        submission: a.submission.clone(),
        secret: a.secret.clone(),
        state: a.state,
        final_status: a.final_status,
        diagnostics: a.diagnostics.clone(),
        tracking_url: a.tracking_url.clone(),
        am_host: a.am_host.clone(),
        start_ms: a.start_wall_ms,
        finish_ms: a.finish_wall_ms,
        progress: a.progress,
        max_attempts: a.max_attempts,
        memory_ms: a.memory_ms,
        vcore_ms: a.vcore_ms,
        next_container: a.next_container,
        attempts: a.attempts.clone(),
        queue_path: a.queue_path.clone(),
        preempted: a.preempted,
    }
}
