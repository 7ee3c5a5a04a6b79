//! Liveness and readiness probes.

use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "Operations", responses((status = 200, description = "Up")))]
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

fn outcome<E: std::fmt::Display>(result: Result<Result<(), E>, tokio::time::error::Elapsed>) -> Result<(), String> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

/// The database and the object store answer; a 503 names the one that does not.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "Operations", responses((status = 200, description = "Ready"), (status = 503, description = "A dependency is down")))]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (database, storage) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, state.ports.tenancy.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, state.ports.store.ping()),
    );
    let checks = [("database", outcome(database)), ("storage", outcome(storage))];
    let ready = checks.iter().all(|(_, r)| r.is_ok());
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": checks.iter().map(|(name, r)| (name.to_string(), match r {
            Ok(()) => serde_json::json!({"status": "ok"}),
            Err(e) => serde_json::json!({"status": "down", "error": e}),
        })).collect::<serde_json::Map<_, _>>(),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "5")).json(body)
    }
}
