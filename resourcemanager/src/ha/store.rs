//! The RM's state in etcd for an HA pair: the same records as the redb store, one key
//! each under `PREFIX/state/`:
//!
//! - `meta/format`, `meta/cluster-ts`, `meta/next-seq`: decimal numbers;
//! - `apps/<application id>`: the JSON [`AppRecord`];
//! - `keys/master-keys`: the JSON [`KeysRecord`].
//!
//! Every write is a transaction fenced on the leader key's create revision: an RM that
//! lost the election (its lease lapsed while it was paused, say) cannot overwrite what
//! the new active one wrote.

use super::etcd::{Compare, Etcd, Op};
use crate::state::{AppRecord, NodeRecord};
use crate::store::{Changes, Recovered, StoreError, STORE_FORMAT};

/// Most operations in one transaction (etcd refuses more than 128 by default).
const OPS_PER_TXN: usize = 100;

pub struct EtcdStore {
    etcd: Etcd,
    prefix: String,
    /// The leader key and its create revision while this RM holds it; `None` in
    /// tests that use the store alone.
    fence: Option<(Vec<u8>, i64)>,
}

impl EtcdStore {
    pub fn new(etcd: Etcd, prefix: &str, fence: Option<(Vec<u8>, i64)>) -> Self {
        Self {
            etcd,
            prefix: prefix.trim_end_matches('/').to_string(),
            fence,
        }
    }

    pub fn describe(&self) -> String {
        format!("etcd:{}/state/", self.prefix)
    }

    fn key(&self, k: &str) -> Vec<u8> {
        format!("{}/state/{k}", self.prefix).into_bytes()
    }

    fn err(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Etcd {
            prefix: self.prefix.clone(),
            reason: reason.to_string(),
        }
    }

    fn record_err(&self, key: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Record {
            path: self.describe().into(),
            key: key.to_string(),
            reason: e.to_string(),
        }
    }

    /// Puts each of `records` (JSON) at `dir/<name>` and deletes `dir/<name>` of `gone`.
    fn records<'a, T: serde::Serialize + 'a>(
        &self,
        ops: &mut Vec<Op>,
        dir: &str,
        records: impl Iterator<Item = (String, &'a T)>,
        gone: impl Iterator<Item = String>,
    ) -> Result<(), StoreError> {
        for (name, r) in records {
            ops.push(Op::Put {
                key: self.key(&format!("{dir}/{name}")),
                value: serde_json::to_vec(r).map_err(|e| self.err(e))?,
                lease: 0,
            });
        }
        for name in gone {
            ops.push(Op::Delete {
                key: self.key(&format!("{dir}/{name}")),
            });
        }
        Ok(())
    }

    /// What the previous active RM left; `None` for a new cluster.
    pub async fn load(&self) -> Result<Option<Recovered>, StoreError> {
        let base = self.key("");
        let kvs = self
            .etcd
            .range_prefix(&base)
            .await
            .map_err(|e| self.err(e))?;
        let mut cluster_ts = None;
        let mut next_seq = 1;
        let mut apps = Vec::new();
        let mut keys = None;
        let mut nodes = Vec::new();
        for kv in kvs {
            let name = String::from_utf8_lossy(&kv.key[base.len()..]).to_string();
            let number = || -> Result<u64, StoreError> {
                String::from_utf8_lossy(&kv.value)
                    .parse()
                    .map_err(|e| self.record_err(&name, e))
            };
            match name.as_str() {
                "meta/format" => {
                    let found = number()?;
                    if found > STORE_FORMAT {
                        return Err(StoreError::Format {
                            path: self.describe().into(),
                            found,
                        });
                    }
                }
                "meta/cluster-ts" => cluster_ts = Some(number()?),
                "meta/next-seq" => next_seq = number()? as u32,
                "keys/master-keys" => {
                    keys = Some(
                        serde_json::from_slice(&kv.value).map_err(|e| self.record_err(&name, e))?,
                    )
                }
                n if n.starts_with("apps/") => {
                    let rec: AppRecord =
                        serde_json::from_slice(&kv.value).map_err(|e| self.record_err(&name, e))?;
                    apps.push(rec);
                }
                n if n.starts_with("nodes/") => {
                    let rec: NodeRecord =
                        serde_json::from_slice(&kv.value).map_err(|e| self.record_err(&name, e))?;
                    nodes.push(rec);
                }
                // A newer RM's key: ignored, as the redb store ignores unknown tables.
                _ => {}
            }
        }
        let Some(cluster_ts) = cluster_ts else {
            return Ok(None);
        };
        apps.sort_by_key(|a| a.id);
        Ok(Some(Recovered::of(cluster_ts, next_seq, apps, keys, nodes)))
    }

    /// Writes the sequence, the changed apps' records and the keys, and deletes the
    /// forgotten apps, fenced; in transactions of at most [`OPS_PER_TXN`] operations,
    /// the sequence first.
    pub async fn save(&self, cluster_ts: u64, changes: &Changes) -> Result<(), StoreError> {
        let put = |k: &str, value: Vec<u8>| Op::Put {
            key: self.key(k),
            value,
            lease: 0,
        };
        let mut ops = vec![
            put("meta/format", STORE_FORMAT.to_string().into_bytes()),
            put("meta/cluster-ts", cluster_ts.to_string().into_bytes()),
            put("meta/next-seq", changes.next_seq.to_string().into_bytes()),
        ];
        let apps = changes.apps.iter().map(|a| (a.id.to_string(), a));
        let gone = changes.removed.iter().map(ToString::to_string);
        self.records(&mut ops, "apps", apps, gone)?;
        let nodes = changes.nodes.iter().map(|n| (n.node_id.to_string(), n));
        let gone = changes.nodes_removed.iter().map(ToString::to_string);
        self.records(&mut ops, "nodes", nodes, gone)?;
        if let Some(k) = &changes.keys {
            ops.push(put(
                "keys/master-keys",
                serde_json::to_vec(k).map_err(|e| self.err(e))?,
            ));
        }
        let compare: Vec<Compare> = self
            .fence
            .iter()
            .map(|(key, revision)| Compare::CreateRevision {
                key: key.clone(),
                revision: *revision,
            })
            .collect();
        for chunk in ops.chunks(OPS_PER_TXN) {
            let out = self
                .etcd
                .txn(&compare, chunk, &[])
                .await
                .map_err(|e| self.err(e))?;
            if !out.succeeded {
                return Err(StoreError::Fenced {
                    prefix: self.prefix.clone(),
                });
            }
        }
        Ok(())
    }
}
