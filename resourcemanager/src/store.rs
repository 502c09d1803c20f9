//! The RM state store: applications, the id sequence, the master keys and node
//! decommissions in a redb file (`state-dir/rm-state.redb`), so that an RM restart keeps the applications
//! running (their tokens still verify) and never hands out an id twice. An HA pair
//! keeps the same records in etcd instead ([`Backend::Etcd`], `crate::ha`).
//!
//! [`RmState`](crate::state::RmState) stays I/O-free: it marks the apps it
//! changes, the service takes their records under the state lock and hands
//! them to one writer task ([`Persister`]), which commits them in batches.
//! Requests that YARN answers only once the store has the change (submit,
//! kill, unregister) wait for a [`Persister::barrier`].

use crate::state::{AppRecord, KeysRecord, NodeRecord};
use common::{ApplicationId, NodeId};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The store's file name inside the RM's `state-dir`.
pub const STATE_FILE: &str = "rm-state.redb";

/// Application id → JSON-encoded [`AppRecord`].
const APPS: TableDefinition<&str, &[u8]> = TableDefinition::new("applications");
/// `master-keys` → JSON-encoded [`KeysRecord`].
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// Node id → JSON-encoded [`NodeRecord`] (DECOMMISSIONING or DECOMMISSIONED nodes).
const NODES: TableDefinition<&str, &[u8]> = TableDefinition::new("nodes");
/// `cluster-ts`, `next-seq`, `format`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const FORMAT: u64 = 1;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("state store {path}: {reason}")]
    Db { path: PathBuf, reason: String },
    #[error("state store {path}: record {key}: {reason}")]
    Record {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error("state store {path}: format {found} is newer than this resource manager understands ({FORMAT})")]
    Format { path: PathBuf, found: u64 },
    #[error("state store in etcd under {prefix}: {reason}")]
    Etcd { prefix: String, reason: String },
    /// Another RM became active: this one may no longer write.
    #[error("state store in etcd under {prefix}: this resource manager is no longer the active one; write refused")]
    Fenced { prefix: String },
}

/// The store's format version (both backends).
pub(crate) const STORE_FORMAT: u64 = FORMAT;

/// Where the RM keeps its state: the single RM's redb file, or etcd for an HA pair
/// (the same records).
#[derive(Clone)]
pub enum Backend {
    Redb(Arc<StateStore>),
    Etcd(Arc<crate::ha::EtcdStore>),
}

impl Backend {
    /// Where it is, for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            Self::Redb(s) => s.path().display().to_string(),
            Self::Etcd(s) => s.describe(),
        }
    }

    pub async fn load(&self) -> Result<Option<Recovered>, StoreError> {
        match self {
            Self::Redb(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.load())
                    .await
                    .unwrap_or_else(|e| Err(s_join(e)))
            }
            Self::Etcd(s) => s.load().await,
        }
    }

    pub async fn save(&self, cluster_ts: u64, changes: Changes) -> Result<(), StoreError> {
        match self {
            Self::Redb(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.save(cluster_ts, &changes))
                    .await
                    .unwrap_or_else(|e| Err(s_join(e)))
            }
            Self::Etcd(s) => s.save(cluster_ts, &changes).await,
        }
    }
}

fn s_join(e: tokio::task::JoinError) -> StoreError {
    StoreError::Db {
        path: PathBuf::from(STATE_FILE),
        reason: format!("state task failed: {e}"),
    }
}

/// What a previous run left: its cluster timestamp and what it saved (nothing
/// `removed`; no `keys` from a store written before keys were kept: fresh keys).
#[derive(Debug, PartialEq)]
pub struct Recovered {
    pub cluster_ts: u64,
    pub saved: Changes,
}

impl Recovered {
    /// What a store read back: no app is `removed`.
    pub fn of(
        cluster_ts: u64,
        next_seq: u32,
        apps: Vec<AppRecord>,
        keys: Option<KeysRecord>,
        nodes: Vec<NodeRecord>,
    ) -> Self {
        Self {
            cluster_ts,
            saved: Changes {
                next_seq,
                apps,
                keys: keys.map(Box::new),
                nodes,
                ..Default::default()
            },
        }
    }
}

pub struct StateStore {
    db: Database,
    path: PathBuf,
}

impl StateStore {
    /// Opens (or creates) `dir/rm-state.redb`. A second RM on the same
    /// directory is refused (the file is locked).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(STATE_FILE);
        let fail = |reason: String| StoreError::Db {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
        let db = Database::create(&path).map_err(|e| fail(e.to_string()))?;
        // It holds the applications' secrets.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail(format!("restricting {} to its owner: {e}", path.display())))?;
        Ok(Self { db, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// The previous run's state; `None` for a new store.
    pub fn load(&self) -> Result<Option<Recovered>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        let get = |k: &str| -> Result<Option<u64>, StoreError> {
            Ok(meta.get(k).map_err(|e| self.err(e))?.map(|v| v.value()))
        };
        if let Some(found) = get("format")? {
            if found > FORMAT {
                return Err(StoreError::Format {
                    path: self.path.clone(),
                    found,
                });
            }
        }
        let Some(cluster_ts) = get("cluster-ts")? else {
            return Ok(None);
        };
        let next_seq = get("next-seq")?.unwrap_or(1) as u32;
        let mut apps = self.read_all::<AppRecord>(&txn, APPS)?;
        apps.sort_by_key(|a| a.id);
        let nodes = self.read_all::<NodeRecord>(&txn, NODES)?;
        let keys = match txn.open_table(KEYS) {
            Ok(table) => match table.get("master-keys").map_err(|e| self.err(e))? {
                Some(v) => {
                    Some(
                        serde_json::from_slice(v.value()).map_err(|e| StoreError::Record {
                            path: self.path.clone(),
                            key: "master-keys".into(),
                            reason: e.to_string(),
                        })?,
                    )
                }
                None => None,
            },
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(self.err(e)),
        };
        Ok(Some(Recovered::of(cluster_ts, next_seq, apps, keys, nodes)))
    }

    /// Every record of `table`, decoded; none when the table is not there yet.
    fn read_all<T: serde::de::DeserializeOwned>(
        &self,
        txn: &redb::ReadTransaction,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, StoreError> {
        let table = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Record {
                    path: self.path.clone(),
                    key: k.value().to_string(),
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Writes the sequence and these apps' records in one transaction.
    pub fn save(&self, cluster_ts: u64, changes: &Changes) -> Result<(), StoreError> {
        let Changes {
            next_seq,
            apps,
            removed,
            keys,
            nodes,
            nodes_removed,
        } = changes;
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            for (k, v) in [
                ("format", FORMAT),
                ("cluster-ts", cluster_ts),
                ("next-seq", u64::from(*next_seq)),
            ] {
                meta.insert(k, v).map_err(|e| self.err(e))?;
            }
            let mut table = txn.open_table(APPS).map_err(|e| self.err(e))?;
            for a in apps {
                let bytes = serde_json::to_vec(a).map_err(|e| self.err(e))?;
                table
                    .insert(a.id.to_string().as_str(), bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            for id in removed {
                table
                    .remove(id.to_string().as_str())
                    .map_err(|e| self.err(e))?;
            }
            if let Some(k) = keys {
                let bytes = serde_json::to_vec(k).map_err(|e| self.err(e))?;
                let mut table = txn.open_table(KEYS).map_err(|e| self.err(e))?;
                table
                    .insert("master-keys", bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            let mut table = txn.open_table(NODES).map_err(|e| self.err(e))?;
            for n in nodes {
                let bytes = serde_json::to_vec(n).map_err(|e| self.err(e))?;
                table
                    .insert(n.node_id.0.as_str(), bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            for id in nodes_removed {
                table.remove(id.0.as_str()).map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }
}

/// What changed since the last save: the id sequence, apps written again, apps
/// forgotten (`max-completed-applications`), the master keys when they rolled, and
/// node decommissions begun, ended or taken back (recommissioned).
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub next_seq: u32,
    pub apps: Vec<AppRecord>,
    pub removed: Vec<ApplicationId>,
    pub keys: Option<Box<KeysRecord>>,
    pub nodes: Vec<NodeRecord>,
    pub nodes_removed: Vec<NodeId>,
}

impl Changes {
    /// Whether there is anything to write besides the sequence.
    pub fn any(&self) -> bool {
        !self.apps.is_empty()
            || !self.removed.is_empty()
            || self.keys.is_some()
            || !self.nodes.is_empty()
            || !self.nodes_removed.is_empty()
    }
}

enum Msg {
    Save(Changes),
    Barrier(oneshot::Sender<()>),
}

/// The handle the service writes through; cheap to clone.
#[derive(Clone)]
pub struct Persister {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Persister {
    /// Starts the writer task for `store`. Records sent through the returned
    /// handle are committed in order, batched while a commit is under way.
    pub fn spawn(store: Backend, cluster_ts: u64) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(writer(store, cluster_ts, rx));
        (Self { tx }, task)
    }

    /// Queues records; call it under the state lock so the queue order is the
    /// order of the changes.
    pub fn save(&self, changes: Changes) {
        let _ = self.tx.send(Msg::Save(changes));
    }

    /// Resolves once everything queued before it is committed (or the writer is gone).
    pub async fn barrier(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn writer(store: Backend, cluster_ts: u64, mut rx: mpsc::UnboundedReceiver<Msg>) {
    while let Some(first) = rx.recv().await {
        let mut latest: BTreeMap<ApplicationId, AppRecord> = BTreeMap::new();
        let mut removed: BTreeSet<ApplicationId> = BTreeSet::new();
        let mut next_seq = None;
        let mut keys = None;
        let mut nodes: BTreeMap<NodeId, Option<NodeRecord>> = BTreeMap::new();
        let mut waiters = Vec::new();
        let mut msg = Some(first);
        while let Some(m) = msg {
            match m {
                Msg::Save(c) => {
                    next_seq = Some(c.next_seq);
                    for a in c.apps {
                        removed.remove(&a.id);
                        latest.insert(a.id, a);
                    }
                    for id in c.removed {
                        latest.remove(&id);
                        removed.insert(id);
                    }
                    keys = c.keys.or(keys);
                    for n in c.nodes {
                        nodes.insert(n.node_id.clone(), Some(n));
                    }
                    for id in c.nodes_removed {
                        nodes.insert(id, None);
                    }
                }
                Msg::Barrier(w) => waiters.push(w),
            }
            msg = rx.try_recv().ok();
        }
        if let Some(n) = next_seq {
            let (written, gone): (Vec<_>, Vec<_>) =
                nodes.into_iter().partition(|(_, r)| r.is_some());
            let changes = Changes {
                next_seq: n,
                apps: latest.into_values().collect(),
                removed: removed.into_iter().collect(),
                keys,
                nodes: written.into_iter().filter_map(|(_, r)| r).collect(),
                nodes_removed: gone.into_iter().map(|(id, _)| id).collect(),
            };
            let count = changes.apps.len();
            match store.save(cluster_ts, changes).await {
                Ok(()) => tracing::debug!(apps = count, "state saved"),
                Err(e) => tracing::error!(error = %e, "cannot save resource manager state"),
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AttemptRecord;
    use crate::testing::submission;
    use common::protocol::{
        AppSubmission, FinalApplicationStatus, NodeState, YarnApplicationState,
    };
    use common::{ApplicationId, Resource};

    fn changes(next_seq: u32, apps: Vec<AppRecord>) -> Changes {
        Changes {
            next_seq,
            apps,
            ..Default::default()
        }
    }

    fn record(seq: u32) -> AppRecord {
        let id = ApplicationId {
            cluster_ts: 42,
            seq,
        };
        AppRecord {
            id,
            submission: AppSubmission {
                name: format!("app-{seq}"),
                am_resource: Resource::new(128, 1),
                ..submission()
            },
            secret: common::token::AppSecret::new(format!("secret-{seq}")),
            state: YarnApplicationState::FINISHED,
            final_status: FinalApplicationStatus::SUCCEEDED,
            diagnostics: "done".into(),
            tracking_url: String::new(),
            am_host: "h".into(),
            start_ms: 1,
            finish_ms: 2,
            progress: 1.0,
            max_attempts: 2,
            memory_ms: 1 << 70,
            vcore_ms: 3,
            next_container: 4,
            attempts: vec![AttemptRecord {
                id: id.attempt(1),
                am_container: Some(id.attempt(1).container(1)),
                am_node: None,
                registered: true,
                unregistered: true,
                start_wall_ms: 1,
                finish_wall_ms: 2,
                diagnostics: String::new(),
                ended_by_restart: false,
                preempted: false,
            }],
            queue_path: "root.default".into(),
            preempted: Default::default(),
        }
    }

    #[test]
    fn saves_and_loads_across_reopen() {
        let d = tempfile::tempdir().unwrap();
        {
            let s = StateStore::open(d.path()).unwrap();
            assert_eq!(s.load().unwrap(), None);
            s.save(42, &changes(3, vec![record(1), record(2)])).unwrap();
            let mut changed = record(2);
            changed.diagnostics = "changed".into();
            s.save(42, &changes(4, vec![changed])).unwrap();
        }
        let s = StateStore::open(d.path()).unwrap();
        let r = s.load().unwrap().unwrap();
        assert_eq!(r.cluster_ts, 42);
        assert_eq!(r.saved.next_seq, 4);
        assert_eq!(r.saved.apps.len(), 2);
        assert_eq!(r.saved.apps[0], record(1));
        assert_eq!(r.saved.apps[1].diagnostics, "changed");
        assert_eq!(r.saved.keys, None);
        // A forgotten app goes; the master keys are kept.
        let keys = crate::testing::rm_state(42).export_keys(crate::testing::at(0));
        s.save(
            42,
            &Changes {
                next_seq: 4,
                removed: vec![record(1).id],
                keys: Some(Box::new(keys.clone())),
                ..Default::default()
            },
        )
        .unwrap();
        let r = s.load().unwrap().unwrap().saved;
        assert_eq!(r.apps.len(), 1);
        assert_eq!(r.apps[0].id, record(2).id);
        assert_eq!(r.keys, Some(Box::new(keys)));
    }

    #[test]
    fn node_decommissions_are_kept_until_taken_back() {
        let d = tempfile::tempdir().unwrap();
        let s = StateStore::open(d.path()).unwrap();
        let node = |id: &str, state| NodeRecord {
            node_id: NodeId(id.into()),
            address: id.into(),
            http_address: String::new(),
            capability: Resource::new(4096, 4),
            state,
            timeout_ms: 60_000,
            deadline_wall_ms: 123,
            apps: vec![record(1).id],
        };
        let a = node("a:1", NodeState::DECOMMISSIONING);
        let b = node("b:1", NodeState::DECOMMISSIONED);
        s.save(
            42,
            &Changes {
                next_seq: 1,
                nodes: vec![a.clone(), b.clone()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.load().unwrap().unwrap().saved.nodes, vec![a.clone(), b]);
        s.save(
            42,
            &Changes {
                next_seq: 1,
                nodes_removed: vec![NodeId("b:1".into())],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.load().unwrap().unwrap().saved.nodes, vec![a]);
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let _first = StateStore::open(d.path()).unwrap();
        let e = StateStore::open(d.path()).err().expect("locked");
        assert!(e.to_string().contains(STATE_FILE), "{e}");
    }

    #[tokio::test]
    async fn persister_commits_in_order_before_the_barrier() {
        let d = tempfile::tempdir().unwrap();
        let store = Arc::new(StateStore::open(d.path()).unwrap());
        let (p, task) = Persister::spawn(Backend::Redb(store.clone()), 42);
        for i in 0..50 {
            let mut r = record(1);
            r.diagnostics = format!("v{i}");
            p.save(changes(2, vec![r]));
        }
        p.barrier().await;
        let r = store.load().unwrap().unwrap();
        assert_eq!(r.saved.apps[0].diagnostics, "v49");
        drop(p);
        task.await.unwrap();
    }
}
