//! The sync endpoint's HTTP side: the expert's root document, and the WebSocket upgrade
//! that hands the connection to the sync bridge (`sync::bridge`).

use super::extract::bearer;
use super::problem::{ApiError, ApiResult};
use crate::auth::{Caller, Role};
use crate::state::AppState;
use crate::sync::bridge;
use crate::sync::wire::MAX_MESSAGE_BYTES;
use actix_web::{HttpRequest, HttpResponse, get, web};
use sysops_core::sync::ids;

/// The caller of a WebSocket upgrade: bearer header or `?access_token=`.
async fn ws_caller(state: &AppState, req: &HttpRequest) -> Result<Caller, ApiError> {
    let token = bearer(req).or_else(|| {
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("access_token").cloned())
    });
    let token = token.ok_or_else(|| {
        ApiError::Unauthorized("send the access token as Authorization: Bearer or ?access_token=".to_owned())
    })?;
    Ok(state.auth.authenticate(&state.db, &token).await?)
}

/// The expert's root document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RootView {
    /// `automerge:…` URL of the root document, which lists every document the caller may sync.
    pub root: String,
}

/// The caller's root document.
#[utoipa::path(tag = "sync", responses((status = 200, body = RootView), (status = 403, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/sync/root")]
pub async fn root(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert], "syncing documents")?;
    let hub = state.sync.clone();
    let user = caller.user_id;
    let rt = hub.rt.clone();
    let root = rt
        .spawn(async move { crate::sync::reconcile::expert_docs(&hub, user).await })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(HttpResponse::Ok().json(RootView { root: ids::url(root) }))
}

/// The WebSocket speaking the automerge-repo sync protocol.
#[utoipa::path(tag = "sync", params(("access_token" = Option<String>, Query, description = "The access token, when the client cannot set headers")),
    responses((status = 101, description = "Switching to the automerge-repo protocol"), (status = 401, body = super::problem::Problem),
        (status = 403, body = super::problem::Problem)))]
#[get("/api/v1/sync")]
pub async fn socket(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> ApiResult<HttpResponse> {
    let caller = ws_caller(&state, &req).await?;
    caller.require(&[Role::Expert], "syncing documents")?;
    let (resp, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(format!("not a WebSocket upgrade: {e}")))?;
    let stream =
        stream.max_frame_size(MAX_MESSAGE_BYTES).aggregate_continuations().max_continuation_size(MAX_MESSAGE_BYTES);
    bridge::start(state, caller, session, stream);
    Ok(resp)
}
