//! How a plan splits into stages at its shuffles (shared by `LocalRunner`
//! and the driver's DAG scheduler).
//!
//! A plan's shuffle dependencies are the `deps` of its `Source::Shuffled`
//! (only the source can be shuffled: ops are narrow). Each dependency is a
//! shuffle map stage: its tasks run `dep.parent` (which may itself start
//! with a shuffled source, i.e. have dependencies of its own) on every
//! parent partition with `Action::ShuffleWrite(dep.write)`; map task `m`
//! computes parent partition `m` and writes map output `m`. A stage can run
//! once the map outputs of all its own dependencies exist; its `inputs` list
//! them, by shuffle id, in map id order.

use am_core::ids::ShuffleId;
use am_core::plan::{Action, MapLocation, Plan, ShuffleDep, Source, StageSpec};
use std::collections::BTreeMap;

/// The plan's direct shuffle dependencies (its source's), empty if none.
pub fn shuffle_deps(plan: &Plan) -> &[ShuffleDep] {
    match &plan.source {
        Source::Shuffled { deps, .. } => deps,
        Source::Range { .. } | Source::Parallelize { .. } => &[],
    }
}

/// Every shuffle dependency of the plan, transitively, parents before the
/// stages that read them, each shuffle once (the order to run map stages in).
pub fn all_shuffle_deps(plan: &Plan) -> Vec<&ShuffleDep> {
    fn visit<'a>(plan: &'a Plan, seen: &mut Vec<ShuffleId>, out: &mut Vec<&'a ShuffleDep>) {
        for dep in shuffle_deps(plan) {
            if seen.contains(&dep.write.shuffle_id) {
                continue;
            }
            visit(&dep.parent, seen, out);
            seen.push(dep.write.shuffle_id);
            out.push(dep);
        }
    }
    let (mut seen, mut out) = (Vec::new(), Vec::new());
    visit(plan, &mut seen, &mut out);
    out
}

/// The number of map tasks (map outputs) of a shuffle dependency.
pub fn map_tasks(dep: &ShuffleDep) -> u32 {
    dep.parent.num_partitions()
}

/// The shuffle map stage of `dep`: `inputs` are the map outputs of the
/// parent plan's own dependencies (empty if it has none).
pub fn map_stage(dep: &ShuffleDep, inputs: BTreeMap<ShuffleId, Vec<MapLocation>>) -> StageSpec {
    StageSpec {
        plan: (*dep.parent).clone(),
        action: Action::ShuffleWrite(dep.write.clone()),
        inputs,
    }
}
