//! Finished (and running) applications' UI, rebuilt from their event logs
//! in `history-dir`: the AM's own pages, served by the RM under
//! `/cluster/app/{id}/history/`, so a tracking URL keeps working after the
//! AM exits.

use super::auth::Viewer;
use super::{pages, Web};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use common::clock::wall_ms;
use common::protocol::ErrorCode;
use common::ApplicationId;
use history::{Page, UiState};
use std::sync::Arc;

async fn serve(w: Arc<Web>, viewer: Viewer, id: String, rest: String) -> Response {
    let base = format!("/cluster/app/{id}/history/");
    serve_at(w, viewer, &base, id, rest).await
}

/// The history view of `id` with its links below `base` (the history URL, or the
/// app's proxy URL once the app has ended).
pub(crate) async fn serve_at(
    w: Arc<Web>,
    viewer: Viewer,
    base: &str,
    id: String,
    rest: String,
) -> Response {
    let Ok(app) = id.parse::<ApplicationId>() else {
        return pages::not_found(&format!("{id} is not an application id"));
    };
    // A private app's history is for who may view it (an app the RM no longer knows has
    // only its event log: it was never private here).
    if let Err(e) = w.rm.with_state(|s| s.check_view(app, viewer.name())) {
        if e.code == ErrorCode::Unauthorized {
            return (StatusCode::FORBIDDEN, format!("{}\n", e.message)).into_response();
        }
    }
    let Some(path) = w.links.event_log(&id) else {
        let why = match &w.links.history_dir {
            Some(d) => format!("No event log for {id} in the history dir {}", d.display()),
            None => "This resource manager has no history-dir configured".to_string(),
        };
        return pages::not_found(&why);
    };
    let lines = match tokio::task::spawn_blocking(move || history::log::read_lenient(&path)).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return pages::not_found(&format!("cannot read the event log of {id}: {e}")),
        Err(_) => return pages::not_found("the event log reader failed"),
    };
    let ui = UiState::from_log(&lines);
    match ui.page(base, &rest, wall_ms()) {
        Page::NotFound(why) => pages::not_found(&why),
        page => page.into_response(),
    }
}

pub(crate) fn router() -> Router<Arc<Web>> {
    Router::new()
        .route(
            "/cluster/app/{id}/history",
            get(|Path(id): Path<String>| async move {
                Redirect::to(&format!("/cluster/app/{id}/history/"))
            }),
        )
        .route(
            "/cluster/app/{id}/history/",
            get(
                |State(w): State<Arc<Web>>,
                 Extension(viewer): Extension<Viewer>,
                 Path(id): Path<String>| async move {
                    serve(w, viewer, id, String::new()).await
                },
            ),
        )
        .route(
            "/cluster/app/{id}/history/{*rest}",
            get(
                |State(w): State<Arc<Web>>,
                 Extension(viewer): Extension<Viewer>,
                 Path((id, rest)): Path<(String, String)>,
                 RawQuery(query): RawQuery| async move {
                    // Spark's API takes query parameters (taskList's offset and length,
                    // taskSummary's quantiles).
                    let rest = match query {
                        Some(q) if rest.starts_with("api/") => format!("{rest}?{q}"),
                        _ => rest,
                    };
                    serve(w, viewer, id, rest).await
                },
            ),
        )
}
