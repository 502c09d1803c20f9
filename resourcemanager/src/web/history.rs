//! Finished (and running) applications' UI, rebuilt from their event logs
//! in `history-dir`: the AM's own pages, served by the RM under
//! `/cluster/app/{id}/history/`, so a tracking URL keeps working after the
//! AM exits.

use super::auth::Viewer;
use super::{pages, Web};
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
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

/// A path below an app's pages with its query when it is Spark's API (taskList's offset
/// and length, taskSummary's quantiles); the pages take none.
pub(crate) fn with_api_query(rest: &str, query: Option<&str>) -> String {
    match query {
        Some(q) if rest.starts_with("api/") => format!("{rest}?{q}"),
        _ => rest.to_string(),
    }
}

/// An app's pages at `{root}/` and below (`root` names the app as `{id}`); `{root}`
/// redirects there. `serve` gets the app id, the path below and the query.
pub(crate) fn app_pages<F, Fut>(root: &str, serve: F) -> Router<Arc<Web>>
where
    F: Fn(Arc<Web>, Viewer, String, String, Option<String>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let below = serve.clone();
    Router::new()
        .route(
            root,
            get(|uri: Uri| async move { Redirect::to(&format!("{}/", uri.path())) }),
        )
        .route(
            &format!("{root}/"),
            get(
                move |State(w): State<Arc<Web>>,
                      Extension(viewer): Extension<Viewer>,
                      Path(id): Path<String>,
                      RawQuery(q): RawQuery| serve(w, viewer, id, String::new(), q),
            ),
        )
        .route(
            &format!("{root}/{{*rest}}"),
            get(
                move |State(w): State<Arc<Web>>,
                      Extension(viewer): Extension<Viewer>,
                      Path((id, rest)): Path<(String, String)>,
                      RawQuery(q): RawQuery| below(w, viewer, id, rest, q),
            ),
        )
}

pub(crate) fn router() -> Router<Arc<Web>> {
    app_pages(
        "/cluster/app/{id}/history",
        |w, viewer, id, rest: String, query: Option<String>| async move {
            serve(w, viewer, id, with_api_query(&rest, query.as_deref())).await
        },
    )
}
