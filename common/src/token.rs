//! Tokens the RM signs and others verify: container tokens (checked by NMs
//! before they start anything) and AMRM tokens (checked by the RM on AM calls).

use crate::ids::{AppAttemptId, ApplicationId, ContainerId, NodeId};
use crate::resource::Resource;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// What a container token vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerTokenIdentifier {
    pub container_id: ContainerId,
    pub app: ApplicationId,
    pub node_id: NodeId,
    pub resource: Resource,
    pub user: String,
    /// Milliseconds since the epoch after which the token is no good.
    pub expiry_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerToken {
    pub identifier: ContainerTokenIdentifier,
    pub mac: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error(
        "container token for {container_id} has a bad signature (not issued by this cluster's RM)"
    )]
    BadSignature { container_id: ContainerId },
    #[error("container token for {container_id} expired at {expiry_ms} (now {now_ms})")]
    Expired {
        container_id: ContainerId,
        expiry_ms: u64,
        now_ms: u64,
    },
    #[error("container token for {container_id} is for node {token_node}, not {this_node}")]
    WrongNode {
        container_id: ContainerId,
        token_node: NodeId,
        this_node: NodeId,
    },
    #[error("container token names application {token_app} but container {container_id}")]
    Inconsistent {
        container_id: ContainerId,
        token_app: ApplicationId,
    },
}

/// The RM's secret, shared with NMs when they register.
#[derive(Clone)]
pub struct TokenKey {
    key: hmac::Key,
    raw: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn generate() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let raw: [u8; 32] = ring::rand::generate(&rng)
            .expect("system randomness")
            .expose();
        Self::from_bytes(&raw)
    }

    pub fn from_bytes(raw: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, raw),
            raw: raw.to_vec(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.raw
    }

    pub fn sign_container(&self, identifier: ContainerTokenIdentifier) -> ContainerToken {
        let body = postcard::to_stdvec(&identifier).expect("identifier encodes");
        let mac = hmac::sign(&self.key, &body).as_ref().to_vec();
        ContainerToken { identifier, mac }
    }

    /// Checks signature, expiry, node and self-consistency.
    pub fn verify_container(
        &self,
        token: &ContainerToken,
        this_node: &NodeId,
        now_ms: u64,
    ) -> Result<(), TokenError> {
        let id = &token.identifier;
        let body = postcard::to_stdvec(id).expect("identifier encodes");
        hmac::verify(&self.key, &body, &token.mac).map_err(|_| TokenError::BadSignature {
            container_id: id.container_id,
        })?;
        if id.container_id.app() != id.app {
            return Err(TokenError::Inconsistent {
                container_id: id.container_id,
                token_app: id.app,
            });
        }
        if &id.node_id != this_node {
            return Err(TokenError::WrongNode {
                container_id: id.container_id,
                token_node: id.node_id.clone(),
                this_node: this_node.clone(),
            });
        }
        if now_ms > id.expiry_ms {
            return Err(TokenError::Expired {
                container_id: id.container_id,
                expiry_ms: id.expiry_ms,
                now_ms,
            });
        }
        Ok(())
    }

    /// The AMRM token for an attempt: what the AM presents on every RM call.
    pub fn amrm_token(&self, attempt: AppAttemptId) -> String {
        hex::encode(hmac::sign(&self.key, format!("amrm:{attempt}").as_bytes()))
    }

    pub fn verify_amrm(&self, attempt: AppAttemptId, token: &str) -> bool {
        let Ok(mac) = hex::decode(token) else {
            return false;
        };
        hmac::verify(&self.key, format!("amrm:{attempt}").as_bytes(), &mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(node: &str, expiry_ms: u64) -> ContainerTokenIdentifier {
        let app = ApplicationId::new(1, 1);
        ContainerTokenIdentifier {
            container_id: app.attempt(1).container(2),
            app,
            node_id: NodeId(node.into()),
            resource: Resource::new(1024, 1),
            user: "u".into(),
            expiry_ms,
        }
    }

    #[test]
    fn container_token_checks() {
        let k = TokenKey::generate();
        let node = NodeId("n1:1".into());
        let t = k.sign_container(ident("n1:1", 100));
        k.verify_container(&t, &node, 50).unwrap();
        assert!(matches!(
            k.verify_container(&t, &node, 101),
            Err(TokenError::Expired { .. })
        ));
        assert!(matches!(
            k.verify_container(&t, &NodeId("n2:1".into()), 50),
            Err(TokenError::WrongNode { .. })
        ));
        let other = TokenKey::generate();
        assert!(matches!(
            other.verify_container(&t, &node, 50),
            Err(TokenError::BadSignature { .. })
        ));
        let mut forged = t.clone();
        forged.identifier.resource.memory_mb = 1 << 20;
        assert!(matches!(
            k.verify_container(&forged, &node, 50),
            Err(TokenError::BadSignature { .. })
        ));
    }

    #[test]
    fn amrm_token_checks() {
        let k = TokenKey::generate();
        let a = ApplicationId::new(1, 1).attempt(1);
        let t = k.amrm_token(a);
        assert!(k.verify_amrm(a, &t));
        assert!(!k.verify_amrm(a.app.attempt(2), &t));
        assert!(!k.verify_amrm(a, "zz"));
    }
}
