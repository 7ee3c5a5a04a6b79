//! Request ids: taken from a well-formed incoming `X-Request-Id` or generated, returned on every
//! response, attached to the request's tracing span, and readable by error rendering (a 500
//! carries the id so operators can find the logged cause).

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use tracing::Instrument;

/// The header name.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The current request's id, if called while serving a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId;

impl RequestId {
    /// The id of the request being served, or `"-"` outside one.
    #[must_use]
    pub fn current() -> String {
        CURRENT.try_with(Clone::clone).unwrap_or_else(|_| "-".to_owned())
    }
}

fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The path as logs show it: an upload session's token (`/u/{token}/...`) is a credential, so it
/// is left out; every other path is logged as requested (signed URLs carry theirs in the query,
/// which is never logged).
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/u/") {
        Some(rest) => format!("/u/[token]/{}", rest.split_once('/').map_or("", |(_, after)| after)).into(),
        None => path.into(),
    }
}

/// The middleware function (see the crate docs).
pub fn middleware(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let span =
        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %logged_path(req.path()));
    let started = std::time::Instant::now();
    CURRENT
        .scope(id.clone(), async move {
            let method = req.method().to_string();
            let mut response = next.call(req).await?;
            let status = response.status().as_u16();
            let elapsed = started.elapsed();
            let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
            metrics::counter!("stowage_http_requests_total", "method" => method, "route" => route.clone(), "status" => status.to_string()).increment(1);
            metrics::histogram!("stowage_http_request_duration_seconds", "route" => route).record(elapsed.as_secs_f64());
            tracing::info!(status, elapsed_ms = elapsed.as_millis() as u64, "served");
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(HeaderName::from_static(HEADER), value);
            }
            Ok(response)
        })
        .instrument(span)
        .boxed_local()
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn an_upload_sessions_token_never_reaches_the_logs() {
        assert_eq!(logged_path("/u/eyJzaWQ.abc123/s3/params"), "/u/[token]/s3/params");
        assert_eq!(logged_path("/u/eyJzaWQ.abc123"), "/u/[token]/");
        assert_eq!(logged_path("/v1/buckets/b/uploads"), "/v1/buckets/b/uploads");
    }
}
