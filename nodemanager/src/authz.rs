//! Who may send which `spindle-nm/1` request: the NM's one authorization table
//! (DESIGN.md, "Trust model"), checked before any handler runs.
//!
//! | request | right |
//! |---|---|
//! | `StartContainer`, `StopContainer` | a valid container token for that container, whatever the certificate |
//! | `GetContainerStatus`, `ReadLog` | a container token of the container's application; or the certificate of a user who may view the application (its owner, or a user of this NM's `admin-acl`); or the RM's certificate |
//!
//! The NM learns an application's user from the container tokens it starts its
//! containers with (the identifier's `user`, signed by the RM).

use common::identity::{check_user_name, Role};
use common::protocol::{ErrorCode, NmRequest, WireError};
use common::token::ContainerToken;
use common::{ApplicationId, ContainerId};

/// The right a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NmRight {
    /// A valid container token for the container the request names.
    ContainerToken,
    /// The right to view the container's application.
    ViewApp,
}

/// The table: the right each request needs.
pub fn right(req: &NmRequest) -> NmRight {
    match req {
        NmRequest::StartContainer { .. } | NmRequest::StopContainer { .. } => {
            NmRight::ContainerToken
        }
        NmRequest::GetContainerStatus { .. } | NmRequest::ReadLog { .. } => NmRight::ViewApp,
    }
}

/// What the checks need to know from the node manager.
pub trait Gate {
    /// Checks a token's signature, node and self-consistency, and its expiry unless
    /// `allow_expired`; the error is typed (`InvalidToken`, `TokenExpired`, `WrongNode`).
    fn verify(&self, token: &ContainerToken, allow_expired: bool) -> Result<(), WireError>;
    /// The user of an application this node has started containers of.
    fn owner(&self, app: ApplicationId) -> Option<String>;
    /// Is `user` in this node's `admin-acl`?
    fn is_admin(&self, user: &str) -> bool;
}

fn refused(message: String) -> WireError {
    WireError::new(ErrorCode::Unauthorized, message)
}

/// Checks `req` from `peer` against the table.
pub fn authorize(peer: &Role, req: &NmRequest, gate: &impl Gate) -> Result<(), WireError> {
    match req {
        NmRequest::StartContainer { token, .. } => {
            gate.verify(token, false)?;
            // Signed by the RM, which checked it; this node joins it into paths.
            check_user_name(&token.identifier.user).map_err(|e| {
                WireError::new(
                    ErrorCode::InvalidToken,
                    format!("container token for {}: {e}", token.identifier.container_id),
                )
            })
        }
        NmRequest::StopContainer {
            container_id,
            token,
        } => {
            gate.verify(token, true)?;
            if token.identifier.container_id != *container_id {
                return Err(WireError::new(
                    ErrorCode::InvalidToken,
                    format!(
                        "the token is for {}, not {container_id}",
                        token.identifier.container_id
                    ),
                ));
            }
            Ok(())
        }
        NmRequest::GetContainerStatus {
            container_id,
            token,
        }
        | NmRequest::ReadLog {
            container_id,
            token,
            ..
        } => may_view(peer, req.kind(), *container_id, token.as_ref(), gate),
    }
}

/// A container token of the container's app (expired ones too: they still prove it), a
/// user who may view the app, or the RM.
pub fn may_view(
    peer: &Role,
    kind: &str,
    container_id: ContainerId,
    token: Option<&ContainerToken>,
    gate: &impl Gate,
) -> Result<(), WireError> {
    let app = container_id.app();
    if let Some(token) = token {
        gate.verify(token, true)?;
        if token.identifier.app != app {
            return Err(refused(format!(
                "{kind} of {container_id} needs a container token of {app}; this one is of {}",
                token.identifier.app
            )));
        }
        return Ok(());
    }
    let owner = gate.owner(app);
    match peer {
        Role::ResourceManager => return Ok(()),
        Role::User(u) if owner.as_deref() == Some(u.as_str()) || gate.is_admin(u) => return Ok(()),
        _ => {}
    }
    let who = match owner {
        Some(owner) => format!("its owner {owner} or a user of this node's admin-acl"),
        None => "a user of this node's admin-acl (this node has started no container of it, so it does not know its owner)".into(),
    };
    Err(refused(format!(
        "{kind} of {container_id} needs a container token of {app}, the certificate of a user who may view it ({who}) or the RM's; this is {peer}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::protocol::LaunchSpec;
    use common::token::{AppSecret, ContainerTokenIdentifier, KeyId};
    use common::{NodeId, Resource};

    /// Tokens whose mac is `ok` verify; application 1 belongs to alice; root is an admin.
    struct Fake;

    impl Gate for Fake {
        fn verify(&self, token: &ContainerToken, _: bool) -> Result<(), WireError> {
            if token.mac == b"ok" {
                Ok(())
            } else {
                Err(WireError::new(ErrorCode::InvalidToken, "bad signature"))
            }
        }
        fn owner(&self, app: ApplicationId) -> Option<String> {
            (app == ApplicationId::new(1, 1)).then(|| "alice".into())
        }
        fn is_admin(&self, user: &str) -> bool {
            user == "root"
        }
    }

    fn container(app_seq: u32, n: u64) -> ContainerId {
        ApplicationId::new(1, app_seq).attempt(1).container(n)
    }

    fn token(c: ContainerId, good: bool) -> ContainerToken {
        ContainerToken {
            identifier: ContainerTokenIdentifier {
                container_id: c,
                app: c.app(),
                node_id: NodeId("h:1".into()),
                resource: Resource::new(128, 1),
                user: "alice".into(),
                issued_ms: 0,
                expiry_ms: u64::MAX,
                app_secret: AppSecret::default(),
            },
            key_id: KeyId(1),
            mac: if good { b"ok".to_vec() } else { b"no".to_vec() },
        }
    }

    /// What a request carries: a token of the container itself, of another container of
    /// its app, of another app's container, a bad token, or none.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Carries {
        OwnToken,
        AppToken,
        OtherAppToken,
        BadToken,
        Nothing,
    }

    const ALL: [Carries; 5] = [
        Carries::OwnToken,
        Carries::AppToken,
        Carries::OtherAppToken,
        Carries::BadToken,
        Carries::Nothing,
    ];

    /// Each request about container 2 of application 1 (alice's), carrying `what`; `None`
    /// where the request cannot carry it (start and stop always carry a token).
    fn every_request(what: Carries) -> Vec<Option<NmRequest>> {
        let c = container(1, 2);
        let t = match what {
            Carries::OwnToken => Some(token(c, true)),
            Carries::AppToken => Some(token(container(1, 3), true)),
            Carries::OtherAppToken => Some(token(container(2, 2), true)),
            Carries::BadToken => Some(token(c, false)),
            Carries::Nothing => None,
        };
        let all = vec![
            t.clone().map(|token| NmRequest::StartContainer {
                token,
                launch: LaunchSpec::default(),
            }),
            t.clone().map(|token| NmRequest::StopContainer {
                container_id: c,
                token,
            }),
            Some(NmRequest::GetContainerStatus {
                container_id: c,
                token: t.clone(),
            }),
            Some(NmRequest::ReadLog {
                container_id: c,
                file: "stdout".into(),
                offset: 0,
                max_bytes: 1,
                token: t,
            }),
        ];
        // Every variant once, in this order: a new one must be added here and to the table.
        let index = |r: &NmRequest| match r {
            NmRequest::StartContainer { .. } => 0,
            NmRequest::StopContainer { .. } => 1,
            NmRequest::GetContainerStatus { .. } => 2,
            NmRequest::ReadLog { .. } => 3,
        };
        for (i, r) in all.iter().enumerate() {
            if let Some(r) = r {
                assert_eq!(index(r), i);
            }
        }
        all
    }

    fn every_role() -> Vec<Role> {
        vec![
            Role::Node(NodeId("h:1".into())),
            Role::User("alice".into()),
            Role::User("bob".into()),
            Role::User("root".into()),
            Role::ResourceManager,
            Role::Container,
            Role::Unknown("x".into()),
        ]
    }

    /// The table written out by hand: `None` allowed, else the error code.
    fn expected(req: &NmRequest, what: Carries, role: &Role) -> Option<ErrorCode> {
        let viewer = matches!(role, Role::ResourceManager)
            || matches!(role, Role::User(u) if u == "alice" || u == "root");
        match (right(req), what) {
            (_, Carries::BadToken) => Some(ErrorCode::InvalidToken),
            (NmRight::ContainerToken, Carries::OwnToken) => None,
            // Starting takes any valid token (it names its container); stopping only its own.
            (NmRight::ContainerToken, _) if req.kind() == "StartContainer" => None,
            (NmRight::ContainerToken, _) => Some(ErrorCode::InvalidToken),
            (NmRight::ViewApp, Carries::OwnToken | Carries::AppToken) => None,
            (NmRight::ViewApp, Carries::OtherAppToken) => Some(ErrorCode::Unauthorized),
            (NmRight::ViewApp, Carries::Nothing) if viewer => None,
            (NmRight::ViewApp, Carries::Nothing) => Some(ErrorCode::Unauthorized),
        }
    }

    #[test]
    fn the_table_every_request_from_every_role_with_every_credential() {
        let mut checked = 0;
        for what in ALL {
            for req in every_request(what).into_iter().flatten() {
                for role in every_role() {
                    let got = authorize(&role, &req, &Fake).err().map(|e| e.code);
                    assert_eq!(
                        got,
                        expected(&req, what, &role),
                        "{} carrying {what:?} from {role}",
                        req.kind()
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, (4 * 4 + 2) * 7);
    }

    #[test]
    fn a_refusal_names_the_right_and_the_peer() {
        let req = NmRequest::ReadLog {
            container_id: container(1, 2),
            file: "stdout".into(),
            offset: 0,
            max_bytes: 1,
            token: None,
        };
        let e = authorize(&Role::User("bob".into()), &req, &Fake).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "ReadLog of {} needs a container token of {}, the certificate of a user who may view it (its owner alice or a user of this node's admin-acl) or the RM's; this is user bob",
                container(1, 2),
                ApplicationId::new(1, 1)
            )
        );
        let req = NmRequest::GetContainerStatus {
            container_id: container(7, 2),
            token: None,
        };
        let e = authorize(&Role::Container, &req, &Fake).unwrap_err();
        assert!(e.message.contains("does not know its owner"), "{e}");
        assert!(e.message.ends_with("this is a container"), "{e}");
    }

    #[test]
    fn a_token_naming_an_unusable_user_starts_nothing() {
        let mut t = token(container(1, 2), true);
        t.identifier.user = "../root".into();
        let req = NmRequest::StartContainer {
            token: t,
            launch: LaunchSpec::default(),
        };
        let e = authorize(&Role::Container, &req, &Fake).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidToken);
        assert!(e.message.contains("is not valid"), "{e}");
    }
}
