//! What the state store keeps of the core, and recovery from it after a
//! restart. Times in records are wall-clock milliseconds (they are shown to
//! people and outlive the process); durations are plain milliseconds.

use super::{Age, App, AttemptRecord, Now, RmState};
use common::protocol::{AppSubmission, FinalApplicationStatus, YarnApplicationState as AppState};
use common::token::{
    AmrmTokenKeys, AppSecret, ContainerTokenKeys, RollSchedule, StoredKeyError, StoredKeyRing,
};
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

/// Diagnostics of an attempt whose AM container no node reported within the node
/// expiry after an RM restart.
pub const RESTART_DIAGNOSTICS: &str =
    "AM container not reported by any node after the ResourceManager restarted; a new attempt replaces it (not counted as a failure)";

/// How long after a restart re-registering nodes bring containers back (at most the node
/// expiry): nodes that were up re-register within a second or two, and an attempt whose
/// AM container none reports by then gets a new attempt instead of waiting out a long
/// expiry (its AM may have ended while the RM was down, its end lost with the RM).
const RECOVERY_WAIT_MS: u64 = 15_000;

/// How many container ids a recovered app skips: the previous run may have handed out
/// ids after the app's last save (allocations are not saved one by one); a container
/// a node reports moves the next id past itself too.
const CONTAINER_ID_GAP: u64 = 1000;

/// The master keys as the state store keeps them, so that the tokens of running apps
/// (AMRM tokens, container tokens at the NMs) stay valid across a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeysRecord {
    pub container: StoredKeyRing,
    pub amrm: StoredKeyRing,
}

impl RmState {
    /// The master keys, when they changed (or were never saved) since the last call.
    /// The clocks are read (`now`) only when there is something to export: this runs
    /// after every state change.
    pub fn take_dirty_keys(&mut self, now: impl FnOnce() -> Now) -> Option<KeysRecord> {
        std::mem::take(&mut self.keys_dirty).then(|| self.export_keys(now()))
    }

    /// The master keys, as the store keeps them.
    pub fn export_keys(&self, now: Now) -> KeysRecord {
        KeysRecord {
            container: self.container_keys.export(now.mono_ms),
            amrm: self.amrm_keys.export(now.mono_ms),
        }
    }

    /// Takes back the master keys of a previous run.
    pub fn restore_keys(&mut self, keys: &KeysRecord, now: Now) -> Result<(), StoredKeyError> {
        let schedule = RollSchedule {
            period_ms: self.limits.key_roll_ms,
            activation_delay_ms: self.limits.key_activation_ms(),
        };
        self.container_keys = ContainerTokenKeys::restore(schedule, &keys.container, now.mono_ms)?;
        self.amrm_keys = AmrmTokenKeys::restore(self.limits.key_roll_ms, &keys.amrm, now.mono_ms)?;
        self.keys_dirty = true;
        Ok(())
    }

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

    /// Takes back the apps of a previous run, work-preserving as YARN's RM restart:
    /// finished apps come back as they were; an unfinished app keeps its attempt and
    /// its containers come back as nodes re-register with them (for 15 s, or the node
    /// expiry when shorter; see [`Self::expire_recovery`]); one still waiting for its AM keeps
    /// waiting. The changed apps are marked dirty. An unfinished app's elapsed time
    /// continues from its stored wall-clock start (read once, here) on this
    /// process's monotonic clock.
    pub fn recover(&mut self, next_seq: u32, records: Vec<AppRecord>, now: Now) {
        let wait = self.limits.nm_expiry_ms.min(RECOVERY_WAIT_MS);
        self.recovering_until_ms = now.mono_ms.saturating_add(wait);
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
            if !app.state.is_terminal() {
                if app.attempts.is_empty() {
                    app.attempts
                        .push(AttemptRecord::new(id.attempt(1), now.wall_ms));
                    self.dirty.insert(id);
                } else if app.current().is_some_and(|a| a.am_container.is_some()) {
                    // Work-preserving (YARN's): the attempt goes on; its containers come
                    // back as their nodes re-register. Ids the previous run handed out
                    // after its last save are skipped.
                    app.next_container += CONTAINER_ID_GAP;
                    self.dirty.insert(id);
                    tracing::info!(app_id = %id, "recovered application keeps its attempt");
                }
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
        // The bound applies to what the previous run kept: oldest finished first.
        let mut finished: Vec<(u64, ApplicationId)> = self
            .apps
            .iter()
            .filter(|(_, a)| a.state.is_terminal())
            .map(|(id, a)| (a.finish_wall_ms, *id))
            .collect();
        finished.sort();
        self.completed = finished.into_iter().map(|(_, id)| id).collect();
        self.trim_completed();
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
