//! Task and stage bookkeeping of the allocation manager (Spark's
//! `ExecutorAllocationManager.ExecutorAllocationListener`): pending, running and
//! speculative tasks per stage attempt, unschedulable task sets and placement hints.
//!
//! Every executor of this manager belongs to the default resource profile, so the
//! per-profile set of stage attempts is a single set here.

use std::collections::{BTreeMap, BTreeSet};

use super::event::{StageAttempt, TaskIndex};

/// Placement hints of one stage attempt: tasks with a locality preference, and how many
/// tasks would like each host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PlacementHints {
    pub(crate) num_tasks_pending: i64,
    pub(crate) host_to_local_task_count: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ExecutorAllocationListener {
    pub(crate) stage_attempt_to_num_tasks: BTreeMap<StageAttempt, i64>,
    /// Running tasks per stage attempt, speculative ones included. Kept after the attempt
    /// completes while its (zombie) tasks still run.
    pub(crate) stage_attempt_to_num_running_task: BTreeMap<StageAttempt, i64>,
    /// Indices of non-speculative tasks started (and not failed).
    pub(crate) stage_attempt_to_task_indices: BTreeMap<StageAttempt, BTreeSet<TaskIndex>>,
    /// Indices of running speculative tasks.
    pub(crate) stage_attempt_to_speculative_task_indices:
        BTreeMap<StageAttempt, BTreeSet<TaskIndex>>,
    /// Indices of speculative tasks submitted but not started.
    pub(crate) stage_attempt_to_pending_speculative_tasks:
        BTreeMap<StageAttempt, BTreeSet<TaskIndex>>,
    /// Stage attempts of the default resource profile that still matter.
    pub(crate) resource_profile_stage_attempts: BTreeSet<StageAttempt>,
    pub(crate) unschedulable_task_sets: BTreeSet<StageAttempt>,
    pub(crate) stage_attempt_to_executor_placement_hints: BTreeMap<StageAttempt, PlacementHints>,
}

impl ExecutorAllocationListener {
    /// Drops a stage attempt from its profile once nothing refers to it any more.
    pub(crate) fn remove_stage_from_resource_profile_if_unused(&mut self, sa: StageAttempt) {
        if !self.stage_attempt_to_num_running_task.contains_key(&sa)
            && !self.stage_attempt_to_num_tasks.contains_key(&sa)
            && !self
                .stage_attempt_to_pending_speculative_tasks
                .contains_key(&sa)
            && !self.stage_attempt_to_task_indices.contains_key(&sa)
            && !self
                .stage_attempt_to_speculative_task_indices
                .contains_key(&sa)
        {
            self.resource_profile_stage_attempts.remove(&sa);
        }
    }

    fn pending_task_sum(&self, sa: &StageAttempt) -> i64 {
        let total = self
            .stage_attempt_to_num_tasks
            .get(sa)
            .copied()
            .unwrap_or(0);
        let started = self
            .stage_attempt_to_task_indices
            .get(sa)
            .map_or(0, |s| s.len() as i64);
        total - started
    }

    fn pending_speculative_task_sum(&self, sa: &StageAttempt) -> i64 {
        self.stage_attempt_to_pending_speculative_tasks
            .get(sa)
            .map_or(0, |s| s.len() as i64)
    }

    /// Non-speculative tasks not yet started, over the profile's stage attempts.
    pub(crate) fn pending_tasks(&self) -> i64 {
        self.resource_profile_stage_attempts
            .iter()
            .map(|sa| self.pending_task_sum(sa))
            .sum()
    }

    /// Speculative tasks submitted but not started, over the profile's stage attempts.
    pub(crate) fn pending_speculative_tasks(&self) -> i64 {
        self.resource_profile_stage_attempts
            .iter()
            .map(|sa| self.pending_speculative_task_sum(sa))
            .sum()
    }

    /// Unschedulable task sets among the profile's stage attempts.
    pub(crate) fn pending_unschedulable_task_sets(&self) -> i64 {
        self.resource_profile_stage_attempts
            .iter()
            .filter(|sa| self.unschedulable_task_sets.contains(sa))
            .count() as i64
    }

    pub(crate) fn has_pending_tasks(&self) -> bool {
        self.resource_profile_stage_attempts
            .iter()
            .any(|sa| self.pending_speculative_task_sum(sa) > 0 || self.pending_task_sum(sa) > 0)
    }

    /// Running tasks of the profile's stage attempts.
    pub(crate) fn total_running_tasks_per_resource_profile(&self) -> i64 {
        self.resource_profile_stage_attempts
            .iter()
            .map(|sa| {
                self.stage_attempt_to_num_running_task
                    .get(sa)
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Running tasks of every stage attempt, zombie and unknown ones included.
    pub(crate) fn total_running_tasks(&self) -> i64 {
        self.stage_attempt_to_num_running_task.values().sum()
    }

    /// The sums of all stage attempts' placement hints.
    pub(crate) fn executor_placement_hints(&self) -> PlacementHints {
        let mut total = PlacementHints::default();
        for hints in self.stage_attempt_to_executor_placement_hints.values() {
            total.num_tasks_pending += hints.num_tasks_pending;
            for (host, count) in &hints.host_to_local_task_count {
                *total
                    .host_to_local_task_count
                    .entry(host.clone())
                    .or_insert(0) += count;
            }
        }
        total
    }
}
