//! Decommissioning executors that hold shuffle output (Spark's shuffle-block migration,
//! `BlockManagerDecommissioner`): before an executor the allocation manager lets go
//! leaves, the map outputs it serves itself move to a live peer, or, when none is left,
//! to fallback storage (the node's shuffle service, or
//! `spark.storage.decommission.fallbackStorage.path`). The map-output tracker then
//! points at their new place, and only then is the executor stopped. So an idle
//! executor can go at once without its shuffle data going with it, which is what
//! shuffle tracking otherwise keeps it alive for.
//!
//! A migration that fails (the copy fails, or the peer doing it is lost) stops the
//! executor anyway: its outputs go with it and their map tasks re-run when a stage
//! needs them, as without migration.

use super::{DriverCore, Effect, Out};
use crate::allocation::RemovalKind;
use crate::ids::ExecutorId;
use crate::plan::MapLocation;
use common::protocol::{MigrateOutput, MigratedTo, ShuffleMigration};
use std::collections::BTreeSet;

/// `spark.storage.decommission.*` for shuffle blocks (on when the conf turns migration
/// on: see [`crate::sparkconf::SparkConf::shuffle_migration`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShuffleMigrationConfig {
    /// `spark.storage.decommission.fallbackStorage.path`; `None`: the node's shuffle
    /// service serves a leaving executor's files when no peer is left.
    pub fallback_path: Option<String>,
}

/// A migration under way, by the executor whose outputs move.
#[derive(Debug)]
pub(crate) struct Migration {
    /// Who copies: a peer, or the leaving executor itself (fallback storage).
    worker: ExecutorId,
    /// Why the executor goes: its removal reason once it has stopped.
    reason: String,
}

impl DriverCore {
    /// Lets an executor go the way the allocation manager decided: killed, or, when
    /// it is decommissioned and migration is on, after its map outputs have moved.
    /// `leaving` are the executors going in the same round: none of them is a peer.
    pub(super) fn release_executor(
        &mut self,
        id: &ExecutorId,
        reason: String,
        kind: RemovalKind,
        leaving: &BTreeSet<ExecutorId>,
        out: &mut Out,
    ) {
        let migration = match (&self.conf.shuffle_migration, kind) {
            (Some(conf), RemovalKind::Decommission) => conf.clone(),
            _ => return self.executors.stop(id, reason, out),
        };
        if self.migrations.contains_key(id) {
            return;
        }
        let Some(own_server) = self.executors.info(id).map(|e| e.shuffle_server.clone()) else {
            return self.executors.stop(id, reason, out);
        };
        let outputs: Vec<MigrateOutput> = self
            .map_outputs
            .served_by(id, &own_server)
            .into_iter()
            .map(|(shuffle, loc)| MigrateOutput {
                shuffle_id: shuffle.get(),
                map_id: loc.map_id,
                sizes: loc.sizes,
            })
            .collect();
        if outputs.is_empty() {
            return self.executors.stop(id, reason, out);
        }
        self.executors.decommission(id);
        let peer = self.executors.migration_peer(|p| {
            p != id && !leaving.contains(p) && !self.migrations.contains_key(p)
        });
        let (worker, how) = match peer {
            Some(p) => (
                p,
                ShuffleMigration::FetchFrom {
                    source: id.to_string(),
                    server: own_server,
                },
            ),
            None => (
                id.clone(),
                match migration.fallback_path {
                    Some(dir) => ShuffleMigration::CopyTo { dir },
                    None => ShuffleMigration::ServeFromNodeService,
                },
            ),
        };
        out.push(Effect::MigrateShuffle {
            worker: worker.clone(),
            source: id.clone(),
            how,
            outputs,
        });
        self.migrations
            .insert(id.clone(), Migration { worker, reason });
    }

    /// `reporter` finished moving `source`'s map outputs (or failed to): the tracker
    /// points at their new place, and `source` is stopped.
    pub fn on_shuffle_migrated(
        &mut self,
        reporter: &ExecutorId,
        source: &ExecutorId,
        result: Result<MigratedTo, String>,
        now_ms: u64,
    ) -> Vec<Effect> {
        let mut out = Out::default();
        if self
            .migrations
            .get(source)
            .is_none_or(|m| m.worker != *reporter)
        {
            // Not a migration we asked this executor for (or one already given up).
            return self.finish(out, now_ms);
        }
        let m = self.migrations.remove(source).expect("checked above");
        let own_server = self
            .executors
            .info(source)
            .map(|e| e.shuffle_server.clone())
            .unwrap_or_default();
        let reason = match result {
            Ok(to) => {
                let host = self
                    .executors
                    .info(reporter)
                    .map(|e| e.host.clone())
                    .unwrap_or_default();
                let moved =
                    self.map_outputs
                        .move_served_by(source, &own_server, |loc| MapLocation {
                            executor: reporter.clone(),
                            host: host.clone(),
                            server: to.server.clone(),
                            dir: to.dir.clone(),
                            ..loc
                        });
                let place = if reporter == source {
                    if to.server.is_empty() {
                        format!("fallback storage {}", to.dir)
                    } else {
                        format!("the node's shuffle service {}", to.server)
                    }
                } else {
                    format!("executor {reporter}")
                };
                format!(
                    "{} (decommissioned: {moved} shuffle outputs migrated to {place})",
                    m.reason
                )
            }
            Err(e) => format!(
                "{} (decommissioned: shuffle migration failed: {e})",
                m.reason
            ),
        };
        self.executors.stop(source, reason, &mut out);
        self.finish(out, now_ms)
    }

    /// An executor is gone: a migration from it is over (its outputs went with it),
    /// and one it was copying for fails, so that executor stops without its outputs.
    pub(super) fn migrations_lost(&mut self, gone: &ExecutorId, out: &mut Out) {
        self.migrations.remove(gone);
        let failed: Vec<ExecutorId> = self
            .migrations
            .iter()
            .filter(|(_, m)| m.worker == *gone)
            .map(|(source, _)| source.clone())
            .collect();
        for source in failed {
            let m = self.migrations.remove(&source).expect("listed above");
            let reason = format!(
                "{} (decommissioned: shuffle migration failed: peer {gone} was lost)",
                m.reason
            );
            self.executors.stop(&source, reason, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{drain, ex, shuffle_job, two_executors};
    use super::*;
    use crate::driver::effect::testing::launches;
    use crate::ids::{JobId, ShuffleId};
    use crate::plan::{Action, StageSpec};

    /// Two executors ("1" serving from svc1, "2" from svc2) after a job whose 4 map
    /// outputs they hold, with migration on.
    fn after_a_shuffle(fallback: Option<&str>) -> DriverCore {
        let mut d = two_executors(false);
        d.conf.shuffle_migration = Some(ShuffleMigrationConfig {
            fallback_path: fallback.map(str::to_owned),
        });
        let fx = d.submit_job(JobId(0), shuffle_job(4, 2), 0);
        drain(&mut d, fx, 2);
        d
    }

    fn release(d: &mut DriverCore, leaving: &[&str]) -> Vec<Effect> {
        let leaving: BTreeSet<ExecutorId> = leaving.iter().map(|e| ex(e)).collect();
        let mut out = Out::default();
        for id in &leaving {
            let kind = RemovalKind::Decommission;
            d.release_executor(id, "idle timeout".into(), kind, &leaving, &mut out);
        }
        out.effects
    }

    fn migrations(fx: &[Effect]) -> Vec<(ExecutorId, ExecutorId, ShuffleMigration, usize)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::MigrateShuffle {
                    worker,
                    source,
                    how,
                    outputs,
                } => Some((worker.clone(), source.clone(), how.clone(), outputs.len())),
                _ => None,
            })
            .collect()
    }

    fn stops(fx: &[Effect]) -> Vec<(ExecutorId, String)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::StopExecutor { executor, reason } => {
                    Some((executor.clone(), reason.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The map tasks a second job over the same shuffle launches.
    fn map_reruns(d: &mut DriverCore) -> usize {
        let fx = d.submit_job(JobId(1), shuffle_job(4, 2), 50);
        launches(&fx)
            .iter()
            .filter_map(|(_, t)| t.stage.as_ref())
            .map(|b| postcard::from_bytes::<StageSpec>(b).unwrap())
            .filter(|s| matches!(s.action, Action::ShuffleWrite(_)))
            .count()
    }

    #[test]
    fn a_leaving_executor_hands_its_outputs_to_a_peer_then_stops() {
        let mut d = after_a_shuffle(None);
        let mine = d.map_outputs.served_by(&ex("1"), "svc1").len();
        assert!(mine > 0);
        let fx = release(&mut d, &["1"]);
        let m = migrations(&fx);
        let fetch = ShuffleMigration::FetchFrom {
            source: "1".into(),
            server: "svc1".into(),
        };
        assert_eq!(m, [(ex("2"), ex("1"), fetch, mine)]);
        assert!(stops(&fx).is_empty(), "it stays until its outputs moved");
        assert!(d.executors.offers().iter().all(|(e, _)| *e != ex("1")));
        // Another executor's word, or a second release, changes nothing.
        let to = MigratedTo {
            server: "svc2".into(),
            dir: "/d2".into(),
        };
        assert!(stops(&d.on_shuffle_migrated(&ex("1"), &ex("1"), Ok(to.clone()), 10)).is_empty());
        assert!(migrations(&release(&mut d, &["1"])).is_empty());
        let fx = d.on_shuffle_migrated(&ex("2"), &ex("1"), Ok(to), 10);
        let s = stops(&fx);
        assert_eq!(s.len(), 1);
        assert!(
            s[0].1
                .contains(&format!("{mine} shuffle outputs migrated to executor 2")),
            "{s:?}"
        );
        d.on_executor_disconnected(&ex("1"), 20);
        assert_eq!(d.map_outputs.served_by(&ex("2"), "svc2").len(), 4);
        assert!(d.map_outputs.is_complete(ShuffleId(7)));
        assert_eq!(map_reruns(&mut d), 0, "nothing was lost");
    }

    #[test]
    fn with_no_peer_left_outputs_go_to_fallback_storage() {
        let mut d = after_a_shuffle(None);
        let fx = release(&mut d, &["1", "2"]);
        let m = migrations(&fx);
        assert_eq!(m.len(), 2);
        for (worker, source, how, _) in &m {
            assert_eq!(worker, source, "each moves its own");
            assert_eq!(*how, ShuffleMigration::ServeFromNodeService);
        }
        for e in ["1", "2"] {
            let to = MigratedTo {
                server: "node-svc".into(),
                dir: format!("/d{e}"),
            };
            let fx = d.on_shuffle_migrated(&ex(e), &ex(e), Ok(to), 10);
            assert!(stops(&fx)[0]
                .1
                .contains("the node's shuffle service node-svc"));
            d.on_executor_disconnected(&ex(e), 20);
        }
        assert!(d.map_outputs.is_complete(ShuffleId(7)));
        assert_eq!(map_reruns(&mut d), 0);

        // A fallback path is used instead when set.
        let mut d = after_a_shuffle(Some("/shared/fallback"));
        let m = migrations(&release(&mut d, &["1", "2"]));
        assert!(m.iter().all(|(_, _, how, _)| *how
            == ShuffleMigration::CopyTo {
                dir: "/shared/fallback".into()
            }));
    }

    #[test]
    fn a_failed_or_orphaned_migration_stops_the_executor_and_maps_rerun() {
        // The copy fails.
        let mut d = after_a_shuffle(None);
        release(&mut d, &["1"]);
        let fx = d.on_shuffle_migrated(&ex("2"), &ex("1"), Err("disk full".into()), 10);
        assert!(stops(&fx)[0]
            .1
            .contains("shuffle migration failed: disk full"));
        d.on_executor_disconnected(&ex("1"), 20);
        assert!(!d.map_outputs.is_complete(ShuffleId(7)));
        assert!(map_reruns(&mut d) > 0);

        // The peer doing the copy is lost.
        let mut d = after_a_shuffle(None);
        release(&mut d, &["1"]);
        let fx = d.on_executor_disconnected(&ex("2"), 10);
        let s = stops(&fx);
        assert_eq!(s.len(), 1, "{fx:?}");
        assert_eq!(s[0].0, ex("1"));
        assert!(s[0].1.contains("peer 2 was lost"), "{s:?}");
        // Its late word is ignored.
        let late = MigratedTo {
            server: "svc2".into(),
            dir: "/d2".into(),
        };
        assert!(stops(&d.on_shuffle_migrated(&ex("2"), &ex("1"), Ok(late), 15)).is_empty());
    }

    #[test]
    fn without_migration_or_outputs_executors_just_stop() {
        let mut d = after_a_shuffle(None);
        d.conf.shuffle_migration = None;
        let fx = release(&mut d, &["1"]);
        assert!(migrations(&fx).is_empty());
        assert_eq!(stops(&fx).len(), 1);
        // Killing (not decommissioning) never migrates.
        let mut d = after_a_shuffle(None);
        let mut out = Out::default();
        let leaving = BTreeSet::from([ex("1")]);
        d.release_executor(
            &ex("1"),
            "idle".into(),
            RemovalKind::Kill,
            &leaving,
            &mut out,
        );
        assert_eq!(stops(&out.effects).len(), 1);
        // An executor without outputs goes at once.
        let mut d = two_executors(false);
        d.conf.shuffle_migration = Some(ShuffleMigrationConfig::default());
        assert_eq!(stops(&release(&mut d, &["1"])).len(), 1);
    }
}
