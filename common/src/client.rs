//! Typed clients: a user's view of the RM, an AM's view of the RM (YARN's
//! AMRMClient) and of node managers (NMClient).

use crate::launch::{AmLaunch, ContainerEnv, EnvError, SecretsDir};
use crate::protocol::{
    AmEvent, AppSubmission, ApplicationReport, Container, ErrorCode, FinalApplicationStatus,
    LaunchSpec, LocalResource, NmRequest, NmResponse, NodeReport, ResourceAsk, RmRequest,
    RmResponse, WireError, YarnApplicationState, ALPN_NM, ALPN_RM,
};
use crate::staging::sha256_file;
use crate::tls::{TlsFiles, TlsIdentity};
use crate::transport::{self, Client, Profile, TransportError};
use crate::{AppAttemptId, ApplicationId, ContainerId, NodeId, Resource};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

fn unexpected(addr: &str, what: &str, got: impl std::fmt::Debug) -> TransportError {
    TransportError::Remote {
        addr: addr.to_string(),
        error: WireError::new(
            ErrorCode::Internal,
            format!("unexpected answer to {what}: {got:?}"),
        ),
    }
}

/// A client of the RM's client service.
pub struct RmClient {
    client: Client,
    bulk: Client,
}

impl RmClient {
    pub fn connect(identity: &TlsIdentity, rm_address: &str) -> Result<Self, TransportError> {
        Self::connect_any(identity, &[rm_address.to_string()])
    }

    /// A client of an RM HA pair (or more): it talks to the active one and fails over.
    pub fn connect_any(
        identity: &TlsIdentity,
        rm_addresses: &[String],
    ) -> Result<Self, TransportError> {
        Ok(Self {
            client: Client::with_addresses(
                transport::client_endpoint(identity, ALPN_RM, Profile::Control)?,
                rm_addresses.iter().cloned(),
            ),
            bulk: Client::with_addresses(
                transport::client_endpoint(identity, ALPN_RM, Profile::Bulk)?,
                rm_addresses.iter().cloned(),
            ),
        })
    }

    /// The RM address in use now.
    pub fn addr(&self) -> String {
        self.client.addr()
    }

    pub async fn call(&self, req: &RmRequest) -> Result<RmResponse, TransportError> {
        self.client.call(req).await
    }

    /// Stages a file with the RM (skipped when the RM already has its content).
    pub async fn stage_file(
        &self,
        path: &Path,
        name: &str,
        executable: bool,
    ) -> Result<LocalResource, TransportError> {
        let p = path.to_path_buf();
        let (sha256, size) = tokio::task::spawn_blocking(move || sha256_file(&p))
            .await
            .expect("hashing task")
            .map_err(|e| TransportError::Resolve {
                addr: path.display().to_string(),
                reason: format!("cannot read: {e}"),
            })?;
        let resource = LocalResource {
            name: name.to_string(),
            sha256: sha256.clone(),
            size,
            executable,
        };
        if let RmResponse::HasFile(true) = self
            .call(&RmRequest::HasFile {
                sha256: sha256.clone(),
            })
            .await?
        {
            return Ok(resource);
        }
        // The control client found the active RM: the bulk one follows it.
        let active = self.addr();
        if self.bulk.addr() != active {
            let moved = TransportError::Remote {
                addr: self.bulk.addr(),
                error: WireError::not_active(Some(&active)),
            };
            self.bulk.failed(&self.bulk.addr(), &moved);
        }
        let (conn, addr) = self.bulk.connect_current().await?;
        let (mut send, mut recv) = transport::open(&conn, &addr).await?;
        transport::write(&mut send, &addr, &RmRequest::UploadFile { sha256, size }).await?;
        // The RM may have the content by now: another upload of it, which it had this
        // one wait for, finished.
        let first = transport::read_response::<RmResponse>(&mut recv, &addr).await;
        if let Err(e) = &first {
            // A standby: the next try goes to the active one.
            self.bulk.failed(&addr, e);
        }
        match first? {
            RmResponse::SendFile => {}
            RmResponse::HasFile(true) => {
                let _ = send.finish();
                return Ok(resource);
            }
            other => return Err(unexpected(&addr, "UploadFile", other)),
        }
        let mut f = tokio::fs::File::open(path)
            .await
            .map_err(|e| TransportError::Connection {
                addr: addr.clone(),
                reason: format!("reading {}: {e}", path.display()),
            })?;
        tokio::io::copy(&mut f, &mut send)
            .await
            .map_err(|e| TransportError::Connection {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        let _ = send.finish();
        let _: RmResponse = transport::read_response(&mut recv, &addr).await?;
        Ok(resource)
    }

    pub async fn submit(&self, sub: AppSubmission) -> Result<ApplicationId, TransportError> {
        match self.call(&RmRequest::Submit(sub)).await? {
            RmResponse::Submitted(id) => Ok(id),
            other => Err(unexpected(&self.addr(), "Submit", other)),
        }
    }

    pub async fn report(&self, app: ApplicationId) -> Result<ApplicationReport, TransportError> {
        match self.call(&RmRequest::GetApplication { app }).await? {
            RmResponse::Application(r) => Ok(*r),
            other => Err(unexpected(&self.addr(), "GetApplication", other)),
        }
    }

    pub async fn list(
        &self,
        states: Vec<YarnApplicationState>,
    ) -> Result<Vec<ApplicationReport>, TransportError> {
        match self.call(&RmRequest::ListApplications { states }).await? {
            RmResponse::Applications(r) => Ok(r),
            other => Err(unexpected(&self.addr(), "ListApplications", other)),
        }
    }

    pub async fn kill(&self, app: ApplicationId) -> Result<(), TransportError> {
        self.call(&RmRequest::Kill { app }).await.map(|_| ())
    }

    /// A bearer token for the RM's web, for this client's user: (token, expiry ms).
    pub async fn web_token(&self, ttl_ms: u64) -> Result<(String, u64), TransportError> {
        match self.call(&RmRequest::CreateWebToken { ttl_ms }).await? {
            RmResponse::WebToken { token, expiry_ms } => Ok((token, expiry_ms)),
            other => Err(unexpected(&self.addr(), "CreateWebToken", other)),
        }
    }

    pub async fn queues(&self) -> Result<Vec<crate::protocol::QueueReport>, TransportError> {
        match self.call(&RmRequest::ListQueues).await? {
            RmResponse::Queues(q) => Ok(q),
            other => Err(unexpected(&self.addr(), "ListQueues", other)),
        }
    }

    pub async fn nodes(&self) -> Result<Vec<NodeReport>, TransportError> {
        match self.call(&RmRequest::ListNodes).await? {
            RmResponse::Nodes(n) => Ok(n),
            other => Err(unexpected(&self.addr(), "ListNodes", other)),
        }
    }

    /// Decommissions `node_id` gracefully (`None`: the RM's default timeout).
    pub async fn decommission(
        &self,
        node_id: NodeId,
        timeout_ms: Option<u64>,
    ) -> Result<(), TransportError> {
        let req = RmRequest::DecommissionNode {
            node_id,
            timeout_ms,
        };
        self.call(&req).await.map(|_| ())
    }

    /// Takes `node_id` back into service.
    pub async fn recommission(&self, node_id: NodeId) -> Result<(), TransportError> {
        let req = RmRequest::RecommissionNode { node_id };
        self.call(&req).await.map(|_| ())
    }
}

/// What an AM finds in its container's environment.
#[derive(Debug, Clone)]
pub struct AmEnv {
    pub rm_address: String,
    /// Every RM of an HA pair (the active one first when launched); just
    /// `rm_address` without HA.
    pub rm_addresses: Vec<String>,
    pub attempt: AppAttemptId,
    pub token: String,
    pub container_id: ContainerId,
    pub tls: TlsFiles,
    pub nm_host: String,
    /// When the RM allocated this AM's container (wall clock, ms; 0 when unknown).
    pub allocated_wall_ms: u64,
    /// The application's secret, made by the RM (executors present it).
    pub app_secret: String,
}

impl AmEnv {
    /// Reads what the NM ([`ContainerEnv`]) and the RM ([`AmLaunch`]) put in an AM
    /// container's environment, and its AMRM token from its credential files.
    pub fn from_env() -> Result<Self, EnvError> {
        let vars = crate::launch::ProcessEnv;
        let container = ContainerEnv::from_vars(&vars)?;
        let am = AmLaunch::from_vars(&vars, &SecretsDir(container.secrets_dir.clone()))?;
        Ok(Self {
            rm_addresses: am.addresses(),
            rm_address: am.rm_address,
            attempt: container.attempt(),
            token: am.amrm_token,
            container_id: container.container_id,
            tls: container.tls,
            nm_host: container.nm_host,
            allocated_wall_ms: am.allocated_wall_ms,
            app_secret: am.app_secret,
        })
    }
}

/// An AM's client of the RM (YARN's AMRMClient), with allocations pushed.
pub struct AmRmClient {
    client: Client,
    attempt: AppAttemptId,
    /// The AMRM token; replaced when the RM pushes a new one after its key rolled.
    token: Arc<Mutex<String>>,
}

impl AmRmClient {
    /// `rm_addresses`: the RM, or every RM of an HA pair (it fails over between them).
    pub fn new(
        identity: &TlsIdentity,
        rm_addresses: &[String],
        attempt: AppAttemptId,
        token: String,
    ) -> Result<Self, TransportError> {
        Ok(Self {
            client: Client::with_addresses(
                transport::client_endpoint(identity, ALPN_RM, Profile::Control)?,
                rm_addresses.iter().cloned(),
            ),
            attempt,
            token: Arc::new(Mutex::new(token)),
        })
    }

    pub fn attempt(&self) -> AppAttemptId {
        self.attempt
    }

    /// The AMRM token presented now.
    pub fn token(&self) -> String {
        self.token.lock().expect("token lock").clone()
    }

    /// Registers; returns the maximum container the RM will allocate.
    pub async fn register(
        &self,
        host: &str,
        tracking_url: &str,
    ) -> Result<Resource, TransportError> {
        let req = RmRequest::RegisterAm {
            attempt: self.attempt,
            token: self.token(),
            host: host.to_string(),
            tracking_url: tracking_url.to_string(),
        };
        match self.client.call(&req).await? {
            RmResponse::AmRegistered { maximum, .. } => Ok(maximum),
            other => Err(unexpected(&self.client.addr(), "RegisterAm", other)),
        }
    }

    /// Opens the push stream; events arrive on the returned channel until the RM closes it.
    /// A new AMRM token pushed on it ([`AmEvent::AmrmToken`]) replaces the client's.
    pub async fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<AmEvent>, TransportError> {
        let (conn, addr) = self.client.connect_current().await?;
        let (mut send, mut recv) = transport::open(&conn, &addr).await?;
        let req = RmRequest::SubscribeAm {
            attempt: self.attempt,
            token: self.token(),
        };
        transport::write(&mut send, &addr, &req).await?;
        if let Err(e) = transport::read_response::<RmResponse>(&mut recv, &addr).await {
            // A standby (or a lost RM): the next subscription goes elsewhere.
            self.client.failed(&addr, &e);
            return Err(e);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let token = self.token.clone();
        tokio::spawn(async move {
            while let Ok(RmResponse::AmEvent(ev)) =
                transport::read_response::<RmResponse>(&mut recv, &addr).await
            {
                if let AmEvent::AmrmToken { token: new } = &ev {
                    // Every later call presents the token signed with the new key.
                    *token.lock().expect("token lock") = new.clone();
                }
                if tx.send(ev).is_err() {
                    break;
                }
            }
            drop(send);
        });
        Ok(rx)
    }

    /// Sets the outstanding asks (total-count semantics) and releases containers.
    pub async fn allocate(
        &self,
        asks: Vec<ResourceAsk>,
        releases: Vec<ContainerId>,
        progress: f32,
    ) -> Result<(), TransportError> {
        let req = RmRequest::Allocate {
            attempt: self.attempt,
            token: self.token(),
            asks,
            releases,
            progress,
        };
        self.client.call::<_, RmResponse>(&req).await.map(|_| ())
    }

    pub async fn finish(
        &self,
        status: FinalApplicationStatus,
        diagnostics: &str,
        tracking_url: &str,
    ) -> Result<(), TransportError> {
        let req = RmRequest::FinishAm {
            attempt: self.attempt,
            token: self.token(),
            final_status: status,
            diagnostics: diagnostics.to_string(),
            tracking_url: tracking_url.to_string(),
        };
        self.client.call::<_, RmResponse>(&req).await.map(|_| ())
    }
}

/// An AM's client of node managers (YARN's NMClient).
pub struct NmClient {
    endpoint: quinn::Endpoint,
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

impl NmClient {
    pub fn new(identity: &TlsIdentity) -> Result<Self, TransportError> {
        Ok(Self {
            endpoint: transport::client_endpoint(identity, ALPN_NM, Profile::Control)?,
            clients: Mutex::new(HashMap::new()),
        })
    }

    fn client(&self, addr: &str) -> Arc<Client> {
        self.clients
            .lock()
            .expect("clients lock")
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(Client::new(self.endpoint.clone(), addr)))
            .clone()
    }

    /// Warms the connection to a node so the first launch does not pay the handshake.
    pub async fn warm(&self, addr: &str) -> Result<(), TransportError> {
        self.client(addr).connection().await.map(|_| ())
    }

    pub async fn start(
        &self,
        container: &Container,
        launch: LaunchSpec,
    ) -> Result<u32, TransportError> {
        let c = self.client(&container.node_address);
        let req = NmRequest::StartContainer {
            token: container.token.clone(),
            launch,
        };
        match c.call(&req).await? {
            NmResponse::Started { pid } => Ok(pid),
            other => Err(unexpected(&c.addr(), "StartContainer", other)),
        }
    }

    /// Reads a chunk of a container's log from the NM at `node_address`.
    pub async fn read_log(
        &self,
        node_address: &str,
        container_id: ContainerId,
        file: &str,
        offset: u64,
    ) -> Result<(Vec<u8>, u64), TransportError> {
        let c = self.client(node_address);
        let req = NmRequest::ReadLog {
            container_id,
            file: file.to_string(),
            offset,
            max_bytes: 1 << 20,
            token: None,
        };
        match c.call(&req).await? {
            NmResponse::Log { data, size } => Ok((data, size)),
            other => Err(unexpected(&c.addr(), "ReadLog", other)),
        }
    }

    pub async fn stop(&self, container: &Container) -> Result<(), TransportError> {
        let c = self.client(&container.node_address);
        let req = NmRequest::StopContainer {
            container_id: container.id,
            token: container.token.clone(),
        };
        c.call::<_, NmResponse>(&req).await.map(|_| ())
    }
}
