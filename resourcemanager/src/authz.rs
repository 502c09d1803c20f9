//! Who may send which `spindle-rm/1` request: the RM's one authorization table
//! (DESIGN.md, "Trust model"). The transport hands every request its peer's
//! [`Role`], from the certificate the cluster CA signed; [`authorize`] checks
//! it against the table before any handler runs.
//!
//! | request | right |
//! |---|---|
//! | `Submit`, `GetApplication`, `ListApplications`, `Kill`, `ListNodes`, `ListQueues`, `HasFile`, `UploadFile` | a user certificate `user:NAME`; a submission's `user` must be NAME |
//! | `DecommissionNode`, `RecommissionNode` | a user certificate; the user must be in the RM's `admin-acl` (checked by the core) |
//! | `RegisterNode`, `NodeHeartbeat`, `UnregisterNode` | the certificate of the node the request names (`node:HOST:PORT` = its node id) |
//! | `FetchFile` | a node certificate (localization) |
//! | `RegisterAm`, `SubscribeAm`, `Allocate`, `FinishAm` | an AMRM token of a live attempt (checked by the core), with any certificate that names a role |
//!
//! Beyond the table: which applications a user may view or kill is the app's
//! ACLs (the core's `check_view`/`check_modify`), and a node may report only
//! containers placed on it (`RmState::check_reported`). A certificate that
//! names no role ([`Role::Unknown`]) gets nothing; a container certificate gets
//! only what its AMRM token gives.

use common::identity::{check_user_name, Role};
use common::protocol::{ErrorCode, RmRequest, WireError};

/// The right a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RmRight {
    /// A user certificate: client calls, made as the user it names.
    User,
    /// The certificate of the node the request names, and no other.
    ThisNode,
    /// Any node certificate.
    Node,
    /// An AMRM token for a live attempt, whatever the certificate (but one naming a role).
    AmToken,
}

/// The table: the right each request needs.
pub fn right(req: &RmRequest) -> RmRight {
    match req {
        RmRequest::HasFile { .. }
        | RmRequest::UploadFile { .. }
        | RmRequest::Submit(_)
        | RmRequest::GetApplication { .. }
        | RmRequest::ListApplications { .. }
        | RmRequest::Kill { .. }
        | RmRequest::ListNodes
        | RmRequest::ListQueues
        | RmRequest::CreateWebToken { .. }
        | RmRequest::DecommissionNode { .. }
        | RmRequest::RecommissionNode { .. } => RmRight::User,
        RmRequest::RegisterNode { .. }
        | RmRequest::NodeHeartbeat { .. }
        | RmRequest::UnregisterNode { .. } => RmRight::ThisNode,
        RmRequest::FetchFile { .. } => RmRight::Node,
        RmRequest::RegisterAm { .. }
        | RmRequest::SubscribeAm { .. }
        | RmRequest::Allocate { .. }
        | RmRequest::FinishAm { .. } => RmRight::AmToken,
    }
}

fn refused(message: String) -> WireError {
    WireError::new(ErrorCode::Unauthorized, message)
}

/// Checks `req` from `peer` against the table. The error names the missing right and who
/// the peer is, e.g. "RegisterNode needs the certificate of node h:1; this is user alice".
pub fn authorize(peer: &Role, req: &RmRequest) -> Result<(), WireError> {
    let kind = req.kind();
    match (right(req), peer) {
        (RmRight::User, Role::User(name)) => match req {
            RmRequest::Submit(sub) => check_submitter(name, &sub.user),
            _ => Ok(()),
        },
        (RmRight::User, _) => Err(refused(format!(
            "{kind} needs a user certificate (user:NAME); this is {peer}"
        ))),
        (RmRight::ThisNode, _) => {
            let named = match req {
                RmRequest::RegisterNode { node_id, .. }
                | RmRequest::NodeHeartbeat { node_id, .. }
                | RmRequest::UnregisterNode { node_id, .. } => Some(node_id),
                _ => None,
            };
            match (peer, named) {
                (Role::Node(id), Some(named)) if id == named => Ok(()),
                (_, Some(named)) => Err(refused(format!(
                    "{kind} needs the certificate of node {named}; this is {peer}"
                ))),
                (_, None) => Err(refused(format!(
                    "{kind} needs the certificate of the node it names; this is {peer}"
                ))),
            }
        }
        (RmRight::Node, Role::Node(_)) => Ok(()),
        (RmRight::Node, _) => Err(refused(format!(
            "{kind} needs a node certificate (node:HOST:PORT); this is {peer}"
        ))),
        (RmRight::AmToken, Role::Unknown(_)) => Err(refused(format!(
            "{kind} needs an AMRM token presented with a cluster certificate that names a role; this is {peer}"
        ))),
        // The token itself is checked by the core, against the live attempt.
        (RmRight::AmToken, _) => Ok(()),
    }
}

/// A submission is made as the user its certificate names, and that name must be one a
/// node can use in paths and as an OS user.
fn check_submitter(cert_user: &str, submitted: &str) -> Result<(), WireError> {
    check_user_name(submitted).map_err(|e| {
        WireError::new(
            ErrorCode::BadRequest,
            format!("Submit refused: the application's {e}"),
        )
    })?;
    if submitted != cert_user {
        return Err(refused(format!(
            "Submit as user {submitted} needs the certificate of user {submitted}; this is user {cert_user}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::submission;
    use common::protocol::FinalApplicationStatus;
    use common::{ApplicationId, NodeId, Resource};
    use strum::EnumCount;

    /// One of each request, about node `h:1` and made as user `alice` where it matters.
    fn every_request() -> Vec<RmRequest> {
        let app = ApplicationId::new(1, 1);
        let attempt = app.attempt(1);
        let node = NodeId("h:1".into());
        let sub = common::protocol::AppSubmission {
            user: "alice".into(),
            ..submission()
        };
        let all = vec![
            RmRequest::HasFile { sha256: "0".into() },
            RmRequest::UploadFile {
                sha256: "0".into(),
                size: 1,
            },
            RmRequest::Submit(sub),
            RmRequest::GetApplication { app },
            RmRequest::ListApplications { states: vec![] },
            RmRequest::Kill { app },
            RmRequest::ListNodes,
            RmRequest::CreateWebToken { ttl_ms: 1 },
            RmRequest::RegisterNode {
                node_id: node.clone(),
                address: "h:1".into(),
                http_address: String::new(),
                capability: Resource::new(1024, 1),
                running: vec![],
                apps: vec![],
                isolation: Default::default(),
            },
            RmRequest::NodeHeartbeat {
                node_id: node,
                statuses: vec![],
                token_keys_version: 0,
                health: None,
            },
            RmRequest::FetchFile { sha256: "0".into() },
            RmRequest::RegisterAm {
                attempt,
                token: "t".into(),
                host: "h".into(),
                tracking_url: String::new(),
            },
            RmRequest::SubscribeAm {
                attempt,
                token: "t".into(),
            },
            RmRequest::Allocate {
                attempt,
                token: "t".into(),
                asks: vec![],
                releases: vec![],
                progress: 0.0,
            },
            RmRequest::FinishAm {
                attempt,
                token: "t".into(),
                final_status: FinalApplicationStatus::SUCCEEDED,
                diagnostics: String::new(),
                tracking_url: String::new(),
            },
            RmRequest::ListQueues,
            RmRequest::DecommissionNode {
                node_id: NodeId("h:1".into()),
                timeout_ms: Some(1000),
            },
            RmRequest::RecommissionNode {
                node_id: NodeId("h:1".into()),
            },
            RmRequest::UnregisterNode {
                node_id: NodeId("h:1".into()),
                message: "stopping".into(),
            },
        ];
        // Every variant is here once: a new one must be added to the list, or this fails.
        let kinds: std::collections::BTreeSet<&str> = all.iter().map(RmRequest::kind).collect();
        assert_eq!(
            (kinds.len(), all.len()),
            (RmRequest::COUNT, RmRequest::COUNT)
        );
        all
    }

    fn every_role() -> Vec<Role> {
        vec![
            Role::Node(NodeId("h:1".into())),
            Role::Node(NodeId("h:2".into())),
            Role::User("alice".into()),
            Role::User("bob".into()),
            Role::ResourceManager,
            Role::Container,
            Role::Unknown("spindle-node".into()),
        ]
    }

    /// The expected answer for each (request, role): the table written out by hand.
    fn expected(req: &RmRequest, role: &Role) -> bool {
        let node_h1 = matches!(role, Role::Node(n) if n.0 == "h:1");
        match req.kind() {
            "Submit" => *role == Role::User("alice".into()),
            "HasFile" | "UploadFile" | "GetApplication" | "ListApplications" | "Kill"
            | "ListNodes" | "ListQueues" | "CreateWebToken" | "DecommissionNode"
            | "RecommissionNode" => matches!(role, Role::User(_)),
            "RegisterNode" | "NodeHeartbeat" | "UnregisterNode" => node_h1,
            "FetchFile" => matches!(role, Role::Node(_)),
            "RegisterAm" | "SubscribeAm" | "Allocate" | "FinishAm" => {
                !matches!(role, Role::Unknown(_))
            }
            other => panic!("no expectation for {other}"),
        }
    }

    #[test]
    fn the_table_every_request_from_every_role() {
        let mut refusals = 0;
        for req in every_request() {
            for role in every_role() {
                let got = authorize(&role, &req);
                assert_eq!(
                    got.is_ok(),
                    expected(&req, &role),
                    "{} from {role}: {got:?}",
                    req.kind()
                );
                if let Err(e) = got {
                    refusals += 1;
                    assert_eq!(e.code, ErrorCode::Unauthorized, "{e}");
                    assert!(e.message.starts_with(req.kind()), "{e}");
                    assert!(e.message.contains(&format!("this is {role}")), "{e}");
                }
            }
        }
        assert!(refusals > 40, "{refusals}");
    }

    #[test]
    fn refusals_name_the_missing_right() {
        let reg = &every_request()[8];
        let e = authorize(&Role::User("alice".into()), reg).unwrap_err();
        assert_eq!(
            e.message,
            "RegisterNode needs the certificate of node h:1; this is user alice"
        );
        let e = authorize(&Role::Node(NodeId("h:2".into())), reg).unwrap_err();
        assert_eq!(
            e.message,
            "RegisterNode needs the certificate of node h:1; this is node h:2"
        );
        let e = authorize(&Role::Container, &RmRequest::ListNodes).unwrap_err();
        assert_eq!(
            e.message,
            "ListNodes needs a user certificate (user:NAME); this is a container"
        );
    }

    #[test]
    fn a_submission_is_made_as_the_certificates_user_with_a_usable_name() {
        let as_user = |user: &str| {
            RmRequest::Submit(common::protocol::AppSubmission {
                user: user.into(),
                ..submission()
            })
        };
        let alice = Role::User("alice".into());
        authorize(&alice, &as_user("alice")).unwrap();
        let e = authorize(&alice, &as_user("bob")).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert_eq!(
            e.message,
            "Submit as user bob needs the certificate of user bob; this is user alice"
        );
        for bad in ["../alice", "a/b", "..", "", "/root"] {
            let e = authorize(&alice, &as_user(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{bad}: {e}");
            assert!(e.message.contains("is not valid"), "{e}");
        }
    }
}
