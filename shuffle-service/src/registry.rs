//! Registered applications and executors: each app's secret and each
//! executor's shuffle dirs, in memory, and in redb (`state-dir/shuffle.redb`)
//! when the service has a state dir, so a restarted service still serves them.
//!
//! An app's secret is set by its node manager ([`Registry::register_app`],
//! from a container token the RM signed), never by the first executor that
//! comes: executors register only for apps registered so, with that secret.

use common::protocol::{ErrorCode, WireError};
use common::ApplicationId;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

/// The store's file name inside the state dir.
pub const STATE_FILE: &str = "shuffle.redb";

/// Application id → JSON-encoded [`App`].
const APPS: TableDefinition<&str, &[u8]> = TableDefinition::new("applications");

#[derive(Debug, thiserror::Error)]
#[error("shuffle service state store {path}: {reason}")]
pub struct StoreError {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct App {
    pub(crate) secret: String,
    /// Executor id → its shuffle dirs (canonical).
    pub(crate) executors: BTreeMap<String, Vec<PathBuf>>,
}

struct Store {
    db: Database,
    path: PathBuf,
}

pub(crate) struct Registry {
    apps: RwLock<HashMap<ApplicationId, App>>,
    /// Serializes writers, so the last commit holds the latest state; `None`
    /// inside for an in-memory registry or once closed.
    store: Mutex<Option<Store>>,
}

fn unregistered_app(app: ApplicationId) -> WireError {
    WireError::new(
        ErrorCode::Unauthorized,
        format!(
            "{app} is not registered with this shuffle service: its node manager registers it when it starts one of the app's containers on this node"
        ),
    )
}

fn unknown_app(app: ApplicationId) -> WireError {
    WireError::new(
        ErrorCode::UnknownApplication,
        format!("{app} has no executor registered with this shuffle service"),
    )
}

/// Constant-time comparison, so timing does not reveal a secret's prefix.
fn same_secret(a: &str, b: &str) -> bool {
    common::token::same_bytes(a.as_bytes(), b.as_bytes())
}

fn check_secret(app: ApplicationId, entry: &App, secret: &str) -> Result<(), WireError> {
    if secret.is_empty() {
        return Err(WireError::new(
            ErrorCode::Unauthorized,
            format!("no secret presented for {app}"),
        ));
    }
    if !same_secret(&entry.secret, secret) {
        return Err(WireError::new(
            ErrorCode::Unauthorized,
            format!("wrong secret for {app}"),
        ));
    }
    Ok(())
}

impl Registry {
    /// An in-memory registry (`None`) or one kept in `state_dir/shuffle.redb`.
    pub(crate) fn open(state_dir: Option<&Path>) -> Result<Self, StoreError> {
        let Some(dir) = state_dir else {
            return Ok(Self {
                apps: RwLock::new(HashMap::new()),
                store: Mutex::new(None),
            });
        };
        let path = dir.join(STATE_FILE);
        let fail = |reason: String| StoreError {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("creating {}: {e}", dir.display())))?;
        let db = Database::create(&path).map_err(|e| fail(e.to_string()))?;
        // It holds app secrets.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        let mut apps = HashMap::new();
        let txn = db.begin_read().map_err(|e| fail(e.to_string()))?;
        match txn.open_table(APPS) {
            Ok(table) => {
                for row in table.iter().map_err(|e| fail(e.to_string()))? {
                    let (k, v) = row.map_err(|e| fail(e.to_string()))?;
                    let key = k.value().to_string();
                    let (Ok(id), Ok(app)) = (
                        key.parse::<ApplicationId>(),
                        serde_json::from_slice::<App>(v.value()),
                    ) else {
                        tracing::warn!(path = %path.display(), record = %key, "skipping an unreadable record");
                        continue;
                    };
                    apps.insert(id, app);
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        drop(txn);
        if !apps.is_empty() {
            tracing::info!(apps = apps.len(), path = %path.display(), "recovered registered executors");
        }
        Ok(Self {
            apps: RwLock::new(apps),
            store: Mutex::new(Some(Store { db, path })),
        })
    }

    /// Writes `app`'s current entry (or its absence). Blocking.
    fn persist(&self, app: ApplicationId) -> Result<(), WireError> {
        let store = self.store.lock().expect("store lock");
        let Some(store) = store.as_ref() else {
            return Ok(());
        };
        let entry = self.apps.read().expect("apps lock").get(&app).cloned();
        let fail = |e: &dyn std::fmt::Display| {
            tracing::error!(path = %store.path.display(), error = %e, "cannot write the state store");
            WireError::new(
                ErrorCode::Internal,
                format!("shuffle service state store: {e}"),
            )
        };
        let txn = store.db.begin_write().map_err(|e| fail(&e))?;
        {
            let mut table = txn.open_table(APPS).map_err(|e| fail(&e))?;
            let key = app.to_string();
            match entry {
                Some(entry) => {
                    let bytes = serde_json::to_vec(&entry).map_err(|e| fail(&e))?;
                    table
                        .insert(key.as_str(), bytes.as_slice())
                        .map_err(|e| fail(&e))?;
                }
                None => {
                    table.remove(key.as_str()).map_err(|e| fail(&e))?;
                }
            }
        }
        txn.commit().map_err(|e| fail(&e))
    }

    /// Registers an app's secret (its node manager does, from a verified
    /// container token): again with the same secret is a no-op, with another
    /// refused. Returns whether it was new. Blocking (writes the store).
    pub(crate) fn register_app(&self, app: ApplicationId, secret: &str) -> Result<bool, WireError> {
        if secret.is_empty() {
            return Err(WireError::new(
                ErrorCode::BadRequest,
                format!("an empty secret for {app}"),
            ));
        }
        {
            let mut apps = self.apps.write().expect("apps lock");
            if let Some(entry) = apps.get(&app) {
                return if same_secret(&entry.secret, secret) {
                    Ok(false)
                } else {
                    Err(WireError::new(
                        ErrorCode::Unauthorized,
                        format!("{app} is already registered with another secret"),
                    ))
                };
            }
            apps.insert(
                app,
                App {
                    secret: secret.to_string(),
                    executors: BTreeMap::new(),
                },
            );
        }
        self.persist(app)?;
        Ok(true)
    }

    /// Registers (or re-registers) an executor's dirs, for an app registered
    /// with [`Self::register_app`] and its secret. Blocking (writes the store).
    pub(crate) fn register(
        &self,
        app: ApplicationId,
        executor_id: &str,
        secret: &str,
        dirs: Vec<PathBuf>,
    ) -> Result<(), WireError> {
        if secret.is_empty() {
            return Err(WireError::new(
                ErrorCode::Unauthorized,
                format!("no secret presented for {app}"),
            ));
        }
        {
            let mut apps = self.apps.write().expect("apps lock");
            let entry = apps.get_mut(&app).ok_or_else(|| unregistered_app(app))?;
            check_secret(app, entry, secret)?;
            if entry.executors.get(executor_id) == Some(&dirs) {
                return Ok(());
            }
            entry.executors.insert(executor_id.to_string(), dirs);
        }
        self.persist(app)
    }

    /// Checks an executor's registration before its dirs are looked at: the
    /// app must be registered and the secret must be its secret.
    pub(crate) fn authorize_registration(
        &self,
        app: ApplicationId,
        secret: &str,
    ) -> Result<(), WireError> {
        let apps = self.apps.read().expect("apps lock");
        let entry = apps.get(&app).ok_or_else(|| unregistered_app(app))?;
        check_secret(app, entry, secret)
    }

    /// Checks the secret presented for a registered app ([`unknown_app`] otherwise).
    pub(crate) fn authorize(&self, app: ApplicationId, secret: &str) -> Result<(), WireError> {
        let apps = self.apps.read().expect("apps lock");
        let entry = apps.get(&app).ok_or_else(|| unknown_app(app))?;
        check_secret(app, entry, secret)
    }

    /// The dirs of one executor, after checking the app's secret.
    pub(crate) fn executor_dirs(
        &self,
        app: ApplicationId,
        secret: &str,
        executor_id: &str,
    ) -> Result<Vec<PathBuf>, WireError> {
        let apps = self.apps.read().expect("apps lock");
        let entry = apps.get(&app).ok_or_else(|| unknown_app(app))?;
        check_secret(app, entry, secret)?;
        entry.executors.get(executor_id).cloned().ok_or_else(|| {
            WireError::new(
                ErrorCode::UnknownApplication,
                format!(
                    "executor {executor_id:?} of {app} is not registered with this shuffle service"
                ),
            )
        })
    }

    /// Every dir the app registered (deduplicated).
    pub(crate) fn app_dirs(&self, app: ApplicationId) -> Vec<PathBuf> {
        let apps = self.apps.read().expect("apps lock");
        let mut dirs: Vec<PathBuf> = apps
            .get(&app)
            .map(|a| a.executors.values().flatten().cloned().collect())
            .unwrap_or_default();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Forgets the app. Blocking (writes the store).
    pub(crate) fn forget(&self, app: ApplicationId) -> Result<bool, WireError> {
        let known = self.apps.write().expect("apps lock").remove(&app).is_some();
        if known {
            self.persist(app)?;
        }
        Ok(known)
    }

    /// Closes the store (its file lock goes with it); later changes stay in memory.
    pub(crate) fn close(&self) {
        self.store.lock().expect("store lock").take();
    }

    /// (applications, executors) registered.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let apps = self.apps.read().expect("apps lock");
        (apps.len(), apps.values().map(|a| a.executors.len()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(seq: u32) -> ApplicationId {
        ApplicationId { cluster_ts: 1, seq }
    }

    #[test]
    fn the_apps_registration_sets_the_secret() {
        let r = Registry::open(None).unwrap();
        assert!(r.register_app(app(1), "s1").unwrap());
        r.register(app(1), "1", "s1", vec!["/a".into()]).unwrap();
        r.register(app(1), "2", "s1", vec!["/b".into()]).unwrap();
        let e = r.register(app(1), "3", "other", vec![]).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        let e = r.register(app(2), "1", "", vec![]).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert_eq!(
            r.executor_dirs(app(1), "s1", "2").unwrap(),
            vec![PathBuf::from("/b")]
        );
        assert_eq!(
            r.executor_dirs(app(1), "nope", "2").unwrap_err().code,
            ErrorCode::Unauthorized
        );
        assert_eq!(
            r.executor_dirs(app(1), "s1", "9").unwrap_err().code,
            ErrorCode::UnknownApplication
        );
        assert_eq!(
            r.authorize(app(3), "s1").unwrap_err().code,
            ErrorCode::UnknownApplication
        );
        assert_eq!(r.counts(), (1, 2));
        assert!(r.forget(app(1)).unwrap());
        assert!(!r.forget(app(1)).unwrap());
    }

    #[test]
    fn executors_register_only_for_an_app_its_node_manager_registered() {
        let r = Registry::open(None).unwrap();
        // Not first-come: an executor (of any app) cannot claim an app id.
        let e = r
            .register(app(1), "1", "mine", vec!["/a".into()])
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("not registered"), "{}", e.message);
        assert_eq!(r.counts(), (0, 0));
        assert!(r.register_app(app(1), "victim").unwrap());
        // Again with the same secret: nothing new; with another: refused.
        assert!(!r.register_app(app(1), "victim").unwrap());
        let e = r.register_app(app(1), "mine").unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert_eq!(
            r.register_app(app(2), "").unwrap_err().code,
            ErrorCode::BadRequest
        );
        let e = r
            .register(app(1), "1", "mine", vec!["/a".into()])
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        r.register(app(1), "1", "victim", vec!["/a".into()])
            .unwrap();
        assert_eq!(r.counts(), (1, 1));
    }

    #[test]
    fn survives_reopen() {
        let d = tempfile::tempdir().unwrap();
        {
            let r = Registry::open(Some(d.path())).unwrap();
            r.register_app(app(1), "s").unwrap();
            r.register_app(app(2), "t").unwrap();
            r.register(app(1), "1", "s", vec!["/a".into()]).unwrap();
            r.register(app(2), "1", "t", vec!["/b".into()]).unwrap();
            r.forget(app(2)).unwrap();
        }
        let r = Registry::open(Some(d.path())).unwrap();
        assert_eq!(r.counts(), (1, 1));
        assert_eq!(r.app_dirs(app(1)), vec![PathBuf::from("/a")]);
        assert!(r.authorize(app(1), "s").is_ok());
        assert!(r.authorize(app(2), "t").is_err());
    }
}
