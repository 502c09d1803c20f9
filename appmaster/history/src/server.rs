//! Serving the UI over HTTP: the live AM's router, and [`Page`] as an axum response.

use crate::pages::Page;
use crate::state::UiState;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

/// The AM's HTTP server: the pages at the root, `/metrics`, Spark's API.
pub fn router(ui: Shared) -> Router {
    let metrics_ui = ui.clone();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let ui = metrics_ui.clone();
                async move {
                    let s = ui.lock().expect("ui lock");
                    let body = s.render_metrics();
                    (
                        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
                        body,
                    )
                }
            }),
        )
        .fallback(move |uri: Uri| {
            let ui = ui.clone();
            async move {
                let s = ui.lock().expect("ui lock");
                let path = uri.path().trim_start_matches('/');
                s.page("/", path, common::clock::wall_ms())
            }
        })
}
