//! Serving the UI over HTTP: the live AM's router, and [`Page`] as an axum response.

use crate::pages::Page;
use crate::state::UiState;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use prometheus_client::encoding::prometheus_text;
use std::sync::{Arc, Mutex};

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        match self {
            Self::Html(h) => axum::response::Html(h).into_response(),
            Self::Svg(s) => ([(header::CONTENT_TYPE, "image/svg+xml")], s).into_response(),
            Self::Json(v) => axum::Json(v).into_response(),
            Self::Redirect(to) => axum::response::Redirect::to(&to).into_response(),
            Self::NotFound(why) => (StatusCode::NOT_FOUND, format!("{why}\n")).into_response(),
        }
    }
}

pub type Shared = Arc<Mutex<UiState>>;

/// The header with which the RM's web proxy tells the AM's UI the base its links must
/// use (`/proxy/{app}/`), as Spark's `spark.ui.proxyBase`.
pub const PROXY_BASE_HEADER: &str = "x-spindle-proxy-base";

/// The links' base for one request: the proxy's when it came through the proxy (only
/// the proxy has the token that gets a request here), else the token path.
fn base_for<'a>(headers: &'a HeaderMap, own: &'a str) -> &'a str {
    headers
        .get(PROXY_BASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|b| {
            b.strip_prefix("/proxy/")
                .and_then(|id| id.strip_suffix('/'))
                .is_some_and(|id| {
                    !id.is_empty() && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
                })
        })
        .unwrap_or(own)
}

/// The AM's HTTP server, all of it below `/{ui_token}/` (the pages, `metrics`, Spark's
/// API): the tracking URL, which the RM knows, carries the token, so only who was given
/// that URL reaches the UI. Any other path is 403.
pub fn router(ui: Shared, ui_token: &str) -> Router {
    let base = format!("/{ui_token}/");
    Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let (ui, base) = (ui.clone(), base.clone());
        async move {
            let Some(path) = uri.path().strip_prefix(base.as_str()) else {
                if uri.path() == base.trim_end_matches('/') {
                    return Page::Redirect(base).into_response();
                }
                return (
                    StatusCode::FORBIDDEN,
                    "this application's UI is reached through its tracking URL\n",
                )
                    .into_response();
            };
            let s = ui.lock().expect("ui lock");
            if path == "metrics" {
                let body = s.render_metrics();
                return (
                    [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
                    body,
                )
                    .into_response();
            }
            // Spark's API takes query parameters (taskList's offset and length).
            let path = match uri.query() {
                Some(q) if path.starts_with("api/") => format!("{path}?{q}"),
                _ => path.to_string(),
            };
            s.page(base_for(&headers, &base), &path, common::clock::wall_ms())
                .into_response()
        }
    })
}
