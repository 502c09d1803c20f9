//! The NM's side of container tokens, as plain data: the keys it verifies with
//! (the last set the RM sent: previous, current and next container-token keys),
//! and the tokens it has started containers with, so that a token starts its
//! container once. Time is passed in (wall-clock ms: token expiry crosses hosts).

use common::token::{ContainerToken, ContainerTokenVerifier, NodeTokenKeys, TokenError};
use common::{ContainerId, NodeId};
use std::collections::{BTreeSet, HashSet};

/// Why a token was not accepted: the RM's keys have not arrived yet, or the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this node has not registered with the resource manager yet")]
    NotRegistered,
    #[error(transparent)]
    Token(#[from] TokenError),
}

#[derive(Debug, Default)]
pub struct NodeTokens {
    verifier: Option<ContainerTokenVerifier>,
    /// The RM's wall clock at this NM's last registration: tokens issued
    /// earlier are for containers the RM gave up when the node registered.
    registered_ms: u64,
    /// Containers started here whose token has not expired.
    started: HashSet<ContainerId>,
    /// The same, by expiry, to forget them once their token is no good.
    by_expiry: BTreeSet<(u64, ContainerId)>,
}

impl NodeTokens {
    /// The keys and the registration time of a `NodeRegistered` reply.
    pub fn registered(&mut self, keys: NodeTokenKeys, registered_ms: u64) {
        self.verifier = Some(keys.into());
        self.registered_ms = self.registered_ms.max(registered_ms);
    }

    /// New keys from a heartbeat reply (a key was made or retired).
    pub fn update(&mut self, keys: NodeTokenKeys) {
        self.verifier = Some(keys.into());
    }

    /// The version of the keys held (0: none yet), for the heartbeat.
    pub fn version(&self) -> u64 {
        self.verifier.as_ref().map_or(0, |v| v.version())
    }

    fn verifier(&self) -> Result<&ContainerTokenVerifier, Refused> {
        self.verifier.as_ref().ok_or(Refused::NotRegistered)
    }

    /// Checks a token for stopping its container (an expired one will do).
    pub fn check(
        &self,
        token: &ContainerToken,
        this_node: &NodeId,
        now_ms: u64,
        allow_expired: bool,
    ) -> Result<(), Refused> {
        match self.verifier()?.verify(token, this_node, now_ms) {
            Err(TokenError::Expired { .. }) if allow_expired => Ok(()),
            r => r.map_err(Refused::from),
        }
    }

    /// Checks a token for starting its container and remembers it: the same
    /// container is not started again with it (until it expires, after which
    /// it is refused for that). Signature, node, expiry and key are checked
    /// first, so a forged token cannot take a container id.
    pub fn admit(
        &mut self,
        token: &ContainerToken,
        this_node: &NodeId,
        now_ms: u64,
    ) -> Result<(), Refused> {
        self.forget_expired(now_ms);
        self.verifier()?.verify(token, this_node, now_ms)?;
        let id = &token.identifier;
        if id.issued_ms < self.registered_ms {
            return Err(TokenError::IssuedBeforeRegistration {
                container_id: id.container_id,
                issued_ms: id.issued_ms,
                registered_ms: self.registered_ms,
            }
            .into());
        }
        if !self.started.insert(id.container_id) {
            return Err(TokenError::Replayed {
                container_id: id.container_id,
            }
            .into());
        }
        self.by_expiry.insert((id.expiry_ms, id.container_id));
        Ok(())
    }

    /// Forgets started containers whose token expired before `now_ms`.
    fn forget_expired(&mut self, now_ms: u64) {
        while let Some(&(expiry, c)) = self.by_expiry.first() {
            if expiry >= now_ms {
                break;
            }
            self.by_expiry.pop_first();
            self.started.remove(&c);
        }
    }

    /// How many started containers are remembered.
    pub fn remembered(&self) -> usize {
        self.started.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::token::{
        AppSecret, ContainerTokenIdentifier, ContainerTokenKeys, KeyId, MasterKey, RollSchedule,
    };
    use common::{ApplicationId, Resource};

    const NODE: &str = "n1:1";

    fn node() -> NodeId {
        NodeId(NODE.into())
    }

    fn ident(container: u64, issued_ms: u64, expiry_ms: u64) -> ContainerTokenIdentifier {
        let app = ApplicationId::new(1, 1);
        ContainerTokenIdentifier {
            container_id: app.attempt(1).container(container),
            app,
            node_id: node(),
            resource: Resource::new(128, 1),
            user: "u".into(),
            issued_ms,
            expiry_ms,
            app_secret: AppSecret::new("s"),
        }
    }

    /// RM keys rolling every 1000 ms (monotonic), the next one made 100 ms ahead.
    fn rm_keys() -> ContainerTokenKeys {
        ContainerTokenKeys::new(
            RollSchedule {
                period_ms: 1000,
                activation_delay_ms: 100,
            },
            0,
        )
    }

    fn token_err(r: Result<(), Refused>) -> TokenError {
        match r {
            Err(Refused::Token(e)) => e,
            other => panic!("expected a token error, got {other:?}"),
        }
    }

    #[test]
    fn nothing_is_accepted_before_registration() {
        let keys = rm_keys();
        let mut nm = NodeTokens::default();
        assert_eq!(nm.version(), 0);
        let t = keys.sign(ident(2, 0, 100));
        assert_eq!(nm.admit(&t, &node(), 50), Err(Refused::NotRegistered));
        nm.registered(keys.for_nodes(), 0);
        assert_eq!(nm.version(), keys.version());
        nm.admit(&t, &node(), 50).unwrap();
    }

    #[test]
    fn a_token_starts_its_container_once_until_it_expires() {
        let keys = rm_keys();
        let mut nm = NodeTokens::default();
        nm.registered(keys.for_nodes(), 0);
        let t = keys.sign(ident(2, 0, 100));
        nm.admit(&t, &node(), 10).unwrap();
        assert!(matches!(
            token_err(nm.admit(&t, &node(), 20)),
            TokenError::Replayed { .. }
        ));
        // Still refused at its expiry; after it, refused as expired, and forgotten.
        assert!(matches!(
            token_err(nm.admit(&t, &node(), 100)),
            TokenError::Replayed { .. }
        ));
        assert!(matches!(
            token_err(nm.admit(&t, &node(), 101)),
            TokenError::Expired { .. }
        ));
        assert_eq!(nm.remembered(), 0);
        // Stopping with it still works, expired or not.
        nm.check(&t, &node(), 20, false).unwrap();
        nm.check(&t, &node(), 500, true).unwrap();
        // Another container's token is its own.
        nm.admit(&keys.sign(ident(3, 0, 1000)), &node(), 101)
            .unwrap();
        assert_eq!(nm.remembered(), 1);
    }

    #[test]
    fn a_forged_token_does_not_take_a_container_id() {
        let keys = rm_keys();
        let mut nm = NodeTokens::default();
        nm.registered(keys.for_nodes(), 0);
        let forged = MasterKey::generate(KeyId(1)).sign_container(ident(2, 0, 100));
        assert!(matches!(
            token_err(nm.admit(&forged, &node(), 10)),
            TokenError::BadSignature { .. }
        ));
        let mut tampered = keys.sign(ident(2, 0, 100));
        tampered.identifier.resource.memory_mb = 1 << 20;
        assert!(matches!(
            token_err(nm.admit(&tampered, &node(), 10)),
            TokenError::BadSignature { .. }
        ));
        nm.admit(&keys.sign(ident(2, 0, 100)), &node(), 10).unwrap();
    }

    #[test]
    fn tokens_issued_before_the_registration_are_refused() {
        let keys = rm_keys();
        let mut nm = NodeTokens::default();
        nm.registered(keys.for_nodes(), 5000);
        let e = token_err(nm.admit(&keys.sign(ident(2, 4999, 9000)), &node(), 5001));
        assert!(
            matches!(
                e,
                TokenError::IssuedBeforeRegistration {
                    issued_ms: 4999,
                    registered_ms: 5000,
                    ..
                }
            ),
            "{e}"
        );
        nm.admit(&keys.sign(ident(3, 5000, 9000)), &node(), 5001)
            .unwrap();
    }

    /// The NM follows the RM's keys through heartbeats: a token of the previous
    /// key is accepted, one of the key before it is not.
    #[test]
    fn keys_older_than_the_previous_are_refused() {
        let mut keys = rm_keys();
        let mut nm = NodeTokens::default();
        nm.registered(keys.for_nodes(), 0);
        let far = u64::MAX;
        let by_1 = keys.sign(ident(2, 0, far));
        let by_1_later = keys.sign(ident(3, 0, far));
        // The heartbeat before 900 brings nothing new; at 900 key 2 arrives.
        let heartbeat = |keys: &ContainerTokenKeys, nm: &mut NodeTokens| {
            if nm.version() != keys.version() {
                nm.update(keys.for_nodes());
            }
        };
        keys.poll(900);
        heartbeat(&keys, &mut nm);
        keys.poll(1000);
        heartbeat(&keys, &mut nm);
        let by_2 = keys.sign(ident(4, 0, far));
        assert_eq!(by_2.key_id, KeyId(2));
        nm.admit(&by_1, &node(), 1500).unwrap();
        nm.admit(&by_2, &node(), 1500).unwrap();
        keys.poll(1900);
        heartbeat(&keys, &mut nm);
        keys.poll(2000);
        heartbeat(&keys, &mut nm);
        let e = token_err(nm.admit(&by_1_later, &node(), 2000));
        assert!(
            matches!(
                e,
                TokenError::UnknownKey {
                    key_id: KeyId(1),
                    ..
                }
            ),
            "{e}"
        );
        assert!(nm.check(&by_1, &node(), 2000, true).is_err());
        nm.check(&by_2, &node(), 2000, true).unwrap();
    }
}
