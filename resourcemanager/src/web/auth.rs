//! Who a web request comes from, and whether it may read at all.
//!
//! A request's user is the one its client certificate names (`user:NAME`), or the one a
//! bearer token from `spindle token create` names (`Authorization: Bearer ...`, over
//! HTTPS only). Anyone else is anonymous: with `web-anonymous-read` they may read the
//! cluster's views (applications that made themselves private with `spark.acls.enable`
//! stay hidden from them); without it they get 401. Changing state always needs a user
//! (and, for an application, its modify rights).

use super::Web;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::identity::Role;
use daemon::https::{unauthenticated, Peer};
use std::sync::Arc;

/// The user a request acts as, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Viewer(pub Option<String>);

impl Viewer {
    /// The name the ACL checks see: anonymous viewers match no user.
    pub(crate) fn name(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

/// Resolves the request's [`Viewer`] (an extension for the handlers) and refuses
/// anonymous reads unless the RM allows them.
pub(crate) async fn viewer(
    State(w): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut req: Request,
    next: Next,
) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let user = match (&peer.role, bearer) {
        (Some(Role::User(name)), _) => Some(name.clone()),
        // Tokens only over TLS: nothing is authenticated over plain HTTP.
        (_, Some(token)) if peer.tls => match w.tokens.verify(token) {
            Ok(name) => Some(name),
            Err(why) => {
                return (axum::http::StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response()
            }
        },
        _ => None,
    };
    if user.is_none() && !w.anonymous_read && req.method() == Method::GET {
        return unauthenticated(&format!("reading {}", req.uri().path()));
    }
    req.extensions_mut().insert(Viewer(user));
    next.run(req).await
}
