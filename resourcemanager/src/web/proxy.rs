//! The web proxy (YARN's WebAppProxy): an application's one tracking URL,
//! `/proxy/{id}/`, served by the RM. While the app runs, requests go on to its
//! AM's UI, whose address carries a per-attempt token that only the RM knows (so
//! the AM's server is reached through here, with the RM's authentication and the
//! app's view ACL); once the app has ended, the same URL serves its history view,
//! so an open tab keeps working.
//!
//! The tracking URL an AM registers is the container's word, and containers are
//! not trusted: the proxy forwards only to plain HTTP on the host of the node the
//! RM placed the AM on, never to an address the AM names elsewhere.

use super::auth::Viewer;
use super::{history, pages, Web};
use ::history::PROXY_BASE_HEADER;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use common::protocol::{ApplicationReport, ErrorCode};
use common::ApplicationId;
use http_body_util::Empty;
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// How long the proxy waits for the AM's answer.
const AM_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer forwarded (the biggest pages are task tables).
const MAX_BODY: usize = 32 << 20;

/// Where a running app's UI is: `host:port` and the token path (ending in `/`).
#[derive(Debug, PartialEq, Eq)]
struct AmUi {
    authority: String,
    path: String,
}

/// Checks the registered tracking URL against the node the RM placed the AM on.
fn am_ui(report: &ApplicationReport) -> Result<AmUi, String> {
    let url = &report.tracking_url;
    let node_host = report
        .am_node()
        .map(|n| n.0.rsplit_once(':').map_or(n.0.as_str(), |(h, _)| h))
        .ok_or("the application has no AM container")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("the AM registered {url:?}, not an http:// URL"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let node_host = node_host.trim_start_matches('[').trim_end_matches(']');
    if host != node_host {
        return Err(format!(
            "the AM registered a UI on {host}, not on its node {node_host}: not forwarded"
        ));
    }
    let path = format!("/{}", path.trim_end_matches('/'));
    let path = if path == "/" { path } else { path + "/" };
    Ok(AmUi {
        authority: authority.to_string(),
        path,
    })
}

/// One GET to the AM's UI; the answer, or why there is none.
async fn forward(
    ui: &AmUi,
    rest: &str,
    query: Option<&str>,
    base: &str,
) -> Result<Response, String> {
    let target = match query {
        Some(q) => format!("{}{rest}?{q}", ui.path),
        None => format!("{}{rest}", ui.path),
    };
    let req = hyper::Request::get(target.as_str())
        .header(header::HOST, ui.authority.as_str())
        .header(PROXY_BASE_HEADER, base)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let call = crate::http1::exchange(&ui.authority, req, MAX_BODY);
    let (parts, bytes) = tokio::time::timeout(AM_TIMEOUT, call)
        .await
        .map_err(|_| format!("the AM's UI gave no answer within {AM_TIMEOUT:?}"))??;
    let mut out = (parts.status, bytes).into_response();
    for name in [
        header::CONTENT_TYPE,
        header::CACHE_CONTROL,
        header::LOCATION,
    ] {
        if let Some(v) = parts.headers.get(&name) {
            // A redirect within the AM's UI stays within the proxy.
            let v = match (name == header::LOCATION, v.to_str()) {
                (true, Ok(loc)) => match loc.strip_prefix(ui.path.as_str()) {
                    Some(tail) => HeaderValue::from_str(&format!("{base}{tail}"))
                        .unwrap_or_else(|_| v.clone()),
                    None => v.clone(),
                },
                _ => v.clone(),
            };
            out.headers_mut().insert(name, v);
        }
    }
    Ok(out)
}

async fn serve(
    w: Arc<Web>,
    viewer: Viewer,
    id: String,
    rest: String,
    query: Option<String>,
) -> Response {
    let Ok(app) = id.parse::<ApplicationId>() else {
        return pages::not_found(&format!("{id} is not an application id"));
    };
    let base = format!("/proxy/{id}/");
    // The history view takes Spark's API query parameters in the path it is given.
    let history_rest = history::with_api_query(&rest, query.as_deref());
    let report = w.rm.with_state(|s| {
        s.check_view(app, viewer.name())?;
        s.report(app, crate::service::read_clocks())
    });
    let report = match report {
        Ok(r) => r,
        Err(e) if e.code == ErrorCode::Unauthorized => {
            return (StatusCode::FORBIDDEN, format!("{}\n", e.message)).into_response();
        }
        // Forgotten by the RM (retention) but maybe still in the history dir.
        Err(_) => return history::serve_at(w, viewer, &base, id, history_rest).await,
    };
    if report.state.is_terminal() {
        if w.links.event_log(&id).is_none() {
            return Redirect::to(&format!("/cluster/app/{id}")).into_response();
        }
        return history::serve_at(w, viewer, &base, id, history_rest).await;
    }
    if report.tracking_url.is_empty() {
        return pages::notice(
            StatusCode::OK,
            &format!("{id} is {}", report.state),
            "Its UI appears here once its application master has started and registered; \
             this page reloads by itself.",
            true,
        );
    }
    let ui = match am_ui(&report) {
        Ok(ui) => ui,
        Err(why) => return pages::notice(StatusCode::BAD_GATEWAY, "Not forwarded", &why, false),
    };
    match forward(&ui, &rest, query.as_deref(), &base).await {
        Ok(r) => r,
        Err(why) => {
            // The AM may have just ended: its history view, once the log is here.
            if w.links.event_log(&id).is_some() {
                return history::serve_at(w, viewer, &base, id, history_rest).await;
            }
            pages::notice(
                StatusCode::BAD_GATEWAY,
                "The application's UI does not answer",
                &why,
                true,
            )
        }
    }
}

pub(crate) fn router() -> Router<Arc<Web>> {
    history::app_pages("/proxy/{id}", serve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::NodeId;

    fn report(url: &str, node: Option<&str>) -> ApplicationReport {
        let mut r =
            crate::web::rest::tests::report(1, common::protocol::YarnApplicationState::RUNNING);
        r.tracking_url = url.to_string();
        r.attempts[0].node = node.map(|n| NodeId(n.to_string()));
        r
    }

    #[test]
    fn forwards_only_to_the_ams_node() {
        let ok = am_ui(&report("http://10.0.0.5:4711/abc/", Some("10.0.0.5:4001"))).unwrap();
        assert_eq!(
            ok,
            AmUi {
                authority: "10.0.0.5:4711".into(),
                path: "/abc/".into()
            }
        );
        // An AM naming another host (the metadata service, the RM's own admin port):
        // refused.
        for bad in [
            "http://169.254.169.254:80/latest/",
            "http://127.0.0.1:8088/cluster/",
            "https://10.0.0.5:4711/abc/",
            "file:///etc/passwd",
        ] {
            assert!(am_ui(&report(bad, Some("10.0.0.5:4001"))).is_err(), "{bad}");
        }
        assert!(am_ui(&report("http://10.0.0.5:1/", None)).is_err());
    }
}
