//! RM high availability: two or more RMs elect an active one through an etcd lease
//! ([`election`]); the active keeps its state in etcd ([`store`]); a standby answers
//! every call with `NotActive` naming the active RM, so clients, NMs and AMs fail over
//! to it ([`common::failover`]).
//!
//! Becoming active is the work-preserving restart path: load the state the previous
//! active wrote, restore its keys, recover its applications, serve. NMs re-register
//! with their containers and AMs re-subscribe on their attempt, as after a restart.
//! Losing the lease stops serving at once: the gate turns back to a standby before the
//! lease can have lapsed in etcd (see [`election::Election::tick`]).

pub mod election;
pub mod etcd;
pub mod store;

pub use store::EtcdStore;

use crate::config::RmConfig;
use crate::service::{self, Bound, Rm, RmError, RmHandle};
use crate::store::Backend;
use common::clock::mono_ms;
use common::protocol::{RmRequest, RmResponse, WireError};
use common::transport::{self, Incoming, Service};
use election::{Campaign, Election, Role, Step};
use etcd::{Compare, Etcd, EtcdError, Op};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// An active RM's parts; [`Active::stop`] ends them when it steps down or stops.
pub(crate) struct Active {
    pub(crate) rm: Arc<Rm>,
    pub(crate) writer: tokio::task::JoinHandle<()>,
    /// Timers and the web server.
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
    pub(crate) web_url: Option<String>,
    /// The HA lease it holds: revoked on a graceful stop, so a standby takes over at once.
    pub(crate) lease: Option<(Etcd, i64)>,
}

impl Active {
    /// Ends its timers, web server and writer at once, leaving its lease to lapse.
    pub(crate) fn kill(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.writer.abort();
    }
    /// Ends its timers, web server and writer; gives up its lease within `bound`.
    pub(crate) async fn stop(self, bound: Duration) {
        for t in &self.tasks {
            t.abort();
        }
        self.writer.abort();
        if let Some((etcd, lease)) = self.lease {
            match tokio::time::timeout(bound, etcd.revoke(lease)).await {
                Ok(Ok(())) => tracing::info!(lease, "leadership given up"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot revoke the leader lease; it lapses by itself")
                }
                Err(_) => {
                    tracing::warn!("etcd did not answer the lease revocation; it lapses by itself")
                }
            }
        }
    }
}

enum Serving {
    Active(Arc<Rm>),
    Standby { leader: Option<String> },
}

/// What answers on the RM's endpoint: the active RM, or a standby's `NotActive`.
pub(crate) struct Gate {
    serving: RwLock<Serving>,
    active: Mutex<Option<Active>>,
}

impl Gate {
    pub(crate) fn standby() -> Self {
        Self {
            serving: RwLock::new(Serving::Standby { leader: None }),
            active: Mutex::new(None),
        }
    }

    pub(crate) fn activate(&self, active: Active) {
        *self.serving.write().unwrap_or_else(|e| e.into_inner()) =
            Serving::Active(active.rm.clone());
        *self.active.lock().unwrap_or_else(|e| e.into_inner()) = Some(active);
    }

    /// Stops answering as the active RM (at once: the next request is refused) and
    /// hands back its parts, for the caller to stop.
    pub(crate) fn step_down(&self, leader: Option<String>) -> Option<Active> {
        *self.serving.write().unwrap_or_else(|e| e.into_inner()) = Serving::Standby { leader };
        self.active.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// A standby learns who leads.
    fn set_leader(&self, leader: Option<String>) {
        let mut s = self.serving.write().unwrap_or_else(|e| e.into_inner());
        if let Serving::Standby { leader: l } = &mut *s {
            *l = leader;
        }
    }

    pub(crate) fn rm(&self) -> Option<Arc<Rm>> {
        match &*self.serving.read().unwrap_or_else(|e| e.into_inner()) {
            Serving::Active(rm) => Some(rm.clone()),
            Serving::Standby { .. } => None,
        }
    }

    pub(crate) fn leader(&self) -> Option<String> {
        match &*self.serving.read().unwrap_or_else(|e| e.into_inner()) {
            Serving::Active(_) => None,
            Serving::Standby { leader } => leader.clone(),
        }
    }
}

impl Service for Gate {
    type Req = RmRequest;
    type Resp = RmResponse;

    async fn handle(self: Arc<Self>, inc: Incoming<RmRequest>) {
        match self.rm() {
            Some(rm) => rm.handle(inc).await,
            None => {
                let e = WireError::not_active(self.leader().as_deref());
                inc.reply(&RmResponse::Error(e)).await
            }
        }
    }

    fn handshake_failed(&self) {
        daemon::metrics::tls_handshake_failed("rpc");
    }
}

/// The leader key's value: who leads, and where clients reach it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Leader {
    id: String,
    address: String,
}

fn leader_of(value: &[u8]) -> Option<String> {
    serde_json::from_slice::<Leader>(value)
        .ok()
        .map(|l| l.address)
}

/// Longest one election call to etcd may take: well within a renewal period.
fn call_bound(ttl: Duration) -> Duration {
    (ttl / 3).clamp(Duration::from_millis(200), Duration::from_secs(2))
}

/// Longest a state load or write may take.
const STORE_CALL_BOUND: Duration = Duration::from_secs(5);

/// Starts an RM of an HA pair: it binds its address and answers as a standby until it
/// wins the election.
pub(crate) async fn start(config: &RmConfig) -> Result<RmHandle, RmError> {
    let bound = service::bind(config).await?;
    let ttl = config.ha_lease_ttl;
    let etcd = Etcd::new(&config.etcd_endpoints, call_bound(ttl))?;
    let store_etcd = Etcd::new(&config.etcd_endpoints, STORE_CALL_BOUND)?;
    let gate = Arc::new(Gate::standby());
    let id = if config.ha_id.is_empty() {
        bound.advertised.clone()
    } else {
        config.ha_id.clone()
    };
    tracing::info!(addr = %bound.addr, advertised = %bound.advertised, ha_id = %id, etcd = %config.etcd_endpoints.join(","), "resource manager listening as a standby; campaigning");
    let serve = tokio::spawn(transport::serve(bound.endpoint.clone(), gate.clone()));
    let me = Leader {
        id,
        address: bound.advertised.clone(),
    };
    let driver = Driver {
        config: config.clone(),
        bound: bound.clone(),
        gate: gate.clone(),
        etcd,
        store_etcd,
        leader_key: format!("{}/leader", config.ha_prefix.trim_end_matches('/')).into_bytes(),
        me,
    };
    let election = tokio::spawn(driver.run());
    Ok(RmHandle::new(&bound, gate, None, vec![serve, election]))
}

struct Driver {
    config: RmConfig,
    bound: Bound,
    gate: Arc<Gate>,
    etcd: Etcd,
    store_etcd: Etcd,
    leader_key: Vec<u8>,
    me: Leader,
}

impl Driver {
    async fn run(self) {
        let mut election = Election::new(self.config.ha_lease_ttl);
        let mut warned = false;
        loop {
            let sent = mono_ms();
            match election.role().clone() {
                Role::Standby { .. } => match self.campaign().await {
                    Ok(outcome) => {
                        warned = false;
                        if let Campaign::Lost { leader } = &outcome {
                            self.gate.set_leader(leader.clone());
                        }
                        if let Some(Step::BecomeActive { lease, revision }) =
                            election.campaigned(outcome, sent)
                        {
                            if let Err(e) = self.become_active(lease, revision, sent).await {
                                tracing::error!(error = %e, "cannot become the active resource manager; standing by");
                                election.step_down("activation failed");
                                let _ = self.etcd.revoke(lease).await;
                            }
                        }
                    }
                    Err(e) => {
                        if !warned {
                            tracing::warn!(error = %e, "cannot campaign in etcd; retrying");
                            warned = true;
                        }
                    }
                },
                Role::Active { lease, .. } => {
                    let alive = match self.etcd.keep_alive(lease).await {
                        Ok(alive) => Some(alive),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot renew the leader lease");
                            None
                        }
                    };
                    if let Some(step) = election.renewed(alive, sent) {
                        self.step_down(step).await;
                    }
                }
            }
            if let Some(step) = election.tick(mono_ms()) {
                self.step_down(step).await;
            }
            tokio::time::sleep(election.interval()).await;
        }
    }

    /// Looks at the leader key; takes it when no one holds it.
    async fn campaign(&self) -> Result<Campaign, EtcdError> {
        if let Some(kv) = self.etcd.get(&self.leader_key).await? {
            return Ok(Campaign::Lost {
                leader: leader_of(&kv.value),
            });
        }
        let lease = self.etcd.grant(self.config.ha_lease_ttl).await?;
        let value = serde_json::to_vec(&self.me).expect("json");
        let out = self
            .etcd
            .txn(
                &[Compare::CreateRevision {
                    key: self.leader_key.clone(),
                    revision: 0,
                }],
                &[Op::Put {
                    key: self.leader_key.clone(),
                    value,
                    lease,
                }],
                &[Op::Get {
                    key: self.leader_key.clone(),
                }],
            )
            .await;
        match out {
            Ok(out) if out.succeeded => Ok(Campaign::Won {
                lease,
                revision: out.revision,
            }),
            Ok(out) => {
                let _ = self.etcd.revoke(lease).await;
                Ok(Campaign::Lost {
                    leader: out.found.first().and_then(|kv| leader_of(&kv.value)),
                })
            }
            Err(e) => {
                let _ = self.etcd.revoke(lease).await;
                Err(e)
            }
        }
    }

    async fn become_active(&self, lease: i64, revision: i64, since: u64) -> Result<(), RmError> {
        tracing::info!(lease, revision, "won the election: loading state from etcd");
        let store = EtcdStore::new(
            self.store_etcd.clone(),
            &self.config.ha_prefix,
            Some((self.leader_key.clone(), revision)),
        );
        let active = service::activate(
            &self.config,
            &self.bound,
            Backend::Etcd(Arc::new(store)),
            Some((self.etcd.clone(), lease)),
        )
        .await?;
        let web = active.web_url.clone().unwrap_or_default();
        self.gate.activate(active);
        tracing::info!(
            took_ms = mono_ms().saturating_sub(since),
            web = %web,
            "active: serving as the resource manager"
        );
        Ok(())
    }

    async fn step_down(&self, step: Step) {
        let Step::StepDown { reason } = step else {
            return;
        };
        if let Some(active) = self.gate.step_down(None) {
            tracing::error!(%reason, "lost the leadership: stopped serving, standing by");
            active.stop(call_bound(self.config.ha_lease_ttl)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_value_names_the_address() {
        let v = serde_json::to_vec(&Leader {
            id: "rm1".into(),
            address: "h:8032".into(),
        })
        .unwrap();
        assert_eq!(leader_of(&v).as_deref(), Some("h:8032"));
        assert_eq!(leader_of(b"garbage"), None);
    }

    #[test]
    fn election_calls_fit_in_a_renewal_period() {
        assert_eq!(call_bound(Duration::from_secs(3)), Duration::from_secs(1));
        assert_eq!(
            call_bound(Duration::from_millis(300)),
            Duration::from_millis(200)
        );
    }
}
