//! The upload page (`[ui] enabled = true`): `/ui/` serves a small page and its Uppy bundle from
//! the binary itself (no CDN). The page uses only the public API: an API key typed into it lists
//! buckets and mints an upload session; Uppy's Dashboard uploads through the session; the page then
//! follows each upload until stowage has verified it. The bundle is built from the pinned npm
//! packages of `crates/server/ui` by `cargo xtask ui` and committed.

use actix_web::{HttpResponse, web};

const PAGE: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/dist/ui.js");
const STYLE: &str = include_str!("../ui/dist/ui.css");

/// The page may talk to this server and to the object store (any origin: the store's URL is the
/// deployment's), load nothing from elsewhere, and not be framed.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                   connect-src *; frame-ancestors 'none'; base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

/// Mounts `/ui/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/ui",
        web::get().to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/ui/")).finish() }),
    )
    .route("/ui/", web::get().to(|| async { asset("text/html; charset=utf-8", PAGE) }))
    .route("/ui/ui.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
    .route("/ui/ui.css", web::get().to(|| async { asset("text/css; charset=utf-8", STYLE) }));
}
