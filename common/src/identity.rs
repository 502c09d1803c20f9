//! Who a peer is: the role its certificate names (DESIGN.md, "Trust model"). A
//! certificate is a role, and every handler checks it:
//!
//! | subject common name | role |
//! |---|---|
//! | `node:HOST:PORT` | the node manager of that node id, and only that one |
//! | `user:NAME` | a user making client calls as NAME |
//! | `rm` | the resource manager |
//! | `container` | a container: no rights by itself; it acts through tokens |
//!
//! Anything else is [`Role::Unknown`] and gets nothing.

use crate::ids::NodeId;
use std::fmt;

/// The subject common name of the resource manager's certificate.
pub const RM_COMMON_NAME: &str = "rm";
/// The subject common name of the certificate NMs hand to containers.
pub const CONTAINER_COMMON_NAME: &str = "container";

/// The role a verified certificate carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// A node manager, as the node it names.
    Node(NodeId),
    /// A user, by name.
    User(String),
    /// The resource manager.
    ResourceManager,
    /// A container: rights only through the tokens it presents.
    Container,
    /// A certificate of the cluster CA that names no role (its common name).
    Unknown(String),
}

impl Role {
    /// The role a subject common name names.
    pub fn from_common_name(cn: &str) -> Self {
        if let Some(node) = cn.strip_prefix("node:") {
            // HOST:PORT with a numeric port, as YARN's NodeId.
            if let Some((host, port)) = node.rsplit_once(':') {
                if !host.is_empty() && port.parse::<u16>().is_ok() {
                    return Self::Node(NodeId(node.to_string()));
                }
            }
            return Self::Unknown(cn.to_string());
        }
        if let Some(user) = cn.strip_prefix("user:") {
            return match check_user_name(user) {
                Ok(()) => Self::User(user.to_string()),
                Err(_) => Self::Unknown(cn.to_string()),
            };
        }
        match cn {
            RM_COMMON_NAME => Self::ResourceManager,
            CONTAINER_COMMON_NAME => Self::Container,
            other => Self::Unknown(other.to_string()),
        }
    }

    /// The role of a DER-encoded certificate (already verified against the cluster CA),
    /// from its subject's common name.
    #[cfg(feature = "net")]
    pub fn of_certificate(der: &[u8]) -> Self {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return Self::Unknown(String::new());
        };
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or_default();
        Self::from_common_name(cn)
    }

    /// The user this role acts as, if it is a user.
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::User(u) => Some(u),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(n) => write!(f, "node {n}"),
            Self::User(u) => write!(f, "user {u}"),
            Self::ResourceManager => f.write_str("the resource manager"),
            Self::Container => f.write_str("a container"),
            Self::Unknown(cn) => write!(f, "an unknown certificate ({cn:?})"),
        }
    }
}

/// A user name that cannot be used: it would be joined into paths and run as an OS user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user name {name:?} is not valid: {reason}")]
pub struct BadUserName {
    pub name: String,
    pub reason: &'static str,
}

/// Checks a user name against the POSIX portable user-name set: letters, digits, `.`,
/// `_` and `-`, not starting with `-`, 1 to 32 characters. So no `/`, no `..`.
pub fn check_user_name(name: &str) -> Result<(), BadUserName> {
    let bad = |reason| {
        Err(BadUserName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 32 {
        return bad("it must have 1 to 32 characters");
    }
    if name.starts_with('-') {
        return bad("it must not start with '-'");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not names");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_names_name_roles() {
        assert_eq!(
            Role::from_common_name("node:127.0.0.1:8041"),
            Role::Node(NodeId("127.0.0.1:8041".into()))
        );
        assert_eq!(
            Role::from_common_name("user:alice"),
            Role::User("alice".into())
        );
        assert_eq!(Role::from_common_name("rm"), Role::ResourceManager);
        assert_eq!(Role::from_common_name("container"), Role::Container);
        for unknown in [
            "node:nohost",
            "node::8041",
            "node:h:port",
            "user:../x",
            "user:",
            "spindle-node",
            "",
        ] {
            assert!(
                matches!(Role::from_common_name(unknown), Role::Unknown(_)),
                "{unknown}"
            );
        }
    }

    #[cfg(feature = "net")]
    #[test]
    fn a_certificates_common_name_is_its_role() {
        use rustls_pki_types::pem::PemObject;
        let d = tempfile::tempdir().unwrap();
        let ca = crate::tls::ClusterCa::create(d.path()).unwrap();
        for (cn, role) in [
            ("user:alice", Role::User("alice".into())),
            ("node:h:1", Role::Node(NodeId("h:1".into()))),
            ("container", Role::Container),
        ] {
            let files = ca.issue(d.path(), "x", cn, &[]).unwrap();
            let der = rustls_pki_types::CertificateDer::from_pem_file(&files.cert).unwrap();
            assert_eq!(Role::of_certificate(&der), role);
        }
        assert!(matches!(Role::of_certificate(b"junk"), Role::Unknown(_)));
    }

    #[test]
    fn user_names_are_the_portable_set() {
        for ok in ["alice", "a.b", "svc_spark-1", "A9"] {
            assert_eq!(check_user_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            "-x",
            "a/b",
            "/root",
            "a b",
            "é",
            &"x".repeat(33),
        ] {
            assert!(check_user_name(bad).is_err(), "{bad}");
        }
    }
}
