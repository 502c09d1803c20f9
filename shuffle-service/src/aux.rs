//! What a node manager holds: the shuffle service it hosts in-process (aux
//! mode, the default), or the address of a standalone one beside it.

use crate::client::{FetchError, ShuffleClient};
use crate::server::{self, Handle, ServerConfig, ServerError};
use common::tls::TlsIdentity;
use common::ApplicationId;
use std::path::Path;

/// The admin token a standalone service accepts `RegisterApp` and `AppFinished` with: derived
/// from the node's private key file, which the NM and the service on the
/// same host both read (containers get a different key). No extra secret to
/// distribute.
pub fn admin_token_from_key(key_file: &Path) -> std::io::Result<String> {
    let key = std::fs::read(key_file)?;
    let mut material = b"spindle-shuffle-admin/1\0".to_vec();
    material.extend_from_slice(&key);
    Ok(common::staging::sha256_bytes(&material))
}

enum Kind {
    InProcess(Handle),
    Standalone {
        client: ShuffleClient,
        /// Where the NM reaches it (loopback when it binds all interfaces).
        address: String,
        admin_token: String,
    },
}

/// A node's shuffle service, as its NM sees it.
pub struct NodeService {
    kind: Kind,
    port: u16,
}

fn split(address: &str) -> Result<(&str, u16), ServerError> {
    let bad = || {
        ServerError::Config(format!(
            "shuffle service address {address:?} is not host:port"
        ))
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    Ok((host, port.parse().map_err(|_| bad())?))
}

impl NodeService {
    /// Aux mode: starts the service in this process on `address` (port 0
    /// picks a free one), serving dirs under `local_dir` and keeping its
    /// registrations in `local_dir/shuffle.redb`.
    pub async fn start_in_process(
        address: &str,
        identity: &TlsIdentity,
        local_dir: &Path,
    ) -> Result<Self, ServerError> {
        let handle = server::start(ServerConfig {
            address: address.to_string(),
            identity: identity.clone(),
            allowed_roots: vec![local_dir.to_path_buf()],
            state_dir: Some(local_dir.to_path_buf()),
            admin_token: None,
        })
        .await?;
        let port = handle.addr().port();
        Ok(Self {
            kind: Kind::InProcess(handle),
            port,
        })
    }

    /// Standalone mode: a `shuffle-service` process on this host at
    /// `address` (its fixed port), told about finished apps with the admin
    /// token derived from `key_file` (see [`admin_token_from_key`]).
    pub fn standalone(
        address: &str,
        identity: &TlsIdentity,
        key_file: &Path,
    ) -> Result<Self, ServerError> {
        let (host, port) = split(address)?;
        if port == 0 {
            return Err(ServerError::Config(format!(
                "shuffle service address {address:?}: a standalone service needs a fixed port"
            )));
        }
        let host = match host.trim_start_matches('[').trim_end_matches(']') {
            "" | "0.0.0.0" | "::" => "127.0.0.1",
            h => h,
        };
        let admin_token = admin_token_from_key(key_file)
            .map_err(|e| ServerError::Config(format!("reading {}: {e}", key_file.display())))?;
        Ok(Self {
            kind: Kind::Standalone {
                client: ShuffleClient::new(identity)?,
                address: format!("{host}:{port}"),
                admin_token,
            },
            port,
        })
    }

    /// The port executors reach the service on (the bound one in aux mode).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The in-process server, in aux mode.
    pub fn handle(&self) -> Option<&Handle> {
        match &self.kind {
            Kind::InProcess(h) => Some(h),
            Kind::Standalone { .. } => None,
        }
    }

    /// Registers an app's secret (from a container token the NM verified), so
    /// that the app's executors, and only they, can register their dirs.
    pub async fn register_app(&self, app: ApplicationId, secret: &str) -> Result<(), FetchError> {
        match &self.kind {
            Kind::InProcess(h) => {
                h.register_app(app, secret)
                    .await
                    .map_err(|error| FetchError::Refused {
                        server: h.addr().to_string(),
                        block: None,
                        error,
                    })
            }
            Kind::Standalone {
                client,
                address,
                admin_token,
            } => client.register_app(address, app, secret, admin_token).await,
        }
    }

    /// The app ended: its shuffle files are deleted and the service forgets
    /// it. Failures are logged (the NM removes the app's directories anyway).
    pub async fn app_finished(&self, app: ApplicationId) {
        let r = match &self.kind {
            Kind::InProcess(h) => h.app_finished(app).await.map_err(|e| e.to_string()),
            Kind::Standalone {
                client,
                address,
                admin_token,
            } => client
                .app_finished(address, app, admin_token)
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = r {
            tracing::warn!(app_id = %app, error = %e, "cannot tell the shuffle service that the application ended");
        }
    }

    pub async fn shutdown(&self) {
        if let Kind::InProcess(h) = &self.kind {
            h.shutdown().await;
        }
    }
}
