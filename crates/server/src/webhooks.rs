//! The HTTP side of webhooks: [`HttpWebhookSender`] POSTs events with reqwest.
//!
//! Unless private targets are allowed, a receiver must be on the public internet when the event
//! is delivered, not only when the bucket was created: a literal address in the URL is checked
//! before sending, and names are resolved by [`PublicOnly`], which refuses a name if any of its
//! addresses is not public. The connection uses exactly the addresses checked, so DNS rebinding
//! between check and connect is not possible; redirects are never followed.

use async_trait::async_trait;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use stowage_domain::ports::{SendError, WebhookSender};
use stowage_domain::webhook::is_public_ip;

/// POSTs webhook events: one shared connection pool, a whole-request timeout, no redirects (a
/// receiver that moved must be reconfigured, not followed with a signed body).
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
    allow_private: bool,
}

/// A DNS resolver that answers only names whose every address is public.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(private) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
                return Err(format!("{host} resolves to {}, which is not a public address", private.ip()).into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpWebhookSender {
    /// A sender whose attempts give up after `timeout`; with `allow_private`, receivers on
    /// loopback and private networks are allowed too.
    ///
    /// # Panics
    /// When the TLS backend cannot be initialised (a broken build, not a runtime condition).
    #[must_use]
    #[expect(clippy::expect_used, reason = "reqwest fails to build only when its TLS backend is missing")]
    pub fn new(timeout: Duration, allow_private: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stowage-webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Self { client: builder.build().expect("the HTTP client builds"), allow_private }
    }
}

/// Refuses a URL whose host is a literal address that is not public (names go through
/// [`PublicOnly`]). Uses the URL parser reqwest connects with, so `http://2130706433/` is seen as
/// the `127.0.0.1` it is.
fn refuse_private_literal(url: &str) -> Result<(), SendError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| SendError(format!("invalid webhook URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) if !is_public_ip(ip) => Err(SendError(format!("webhook target {ip} is not a public address"))),
        _ => Ok(()),
    }
}

/// An error and its causes, `outer: inner: ...` (reqwest's own message hides why a request
/// failed, e.g. that the resolver refused a private address).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Result<u16, SendError> {
        if !self.allow_private {
            refuse_private_literal(url)?;
        }
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| SendError(with_causes(&e)))?;
        Ok(response.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_targets_are_refused_at_delivery_whatever_their_spelling() {
        let sender = HttpWebhookSender::new(Duration::from_secs(2), false);
        for url in [
            "http://127.0.0.1:9/",
            "http://2130706433:9/",
            "http://0x7f.1:9/",
            "http://[::1]:9/",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:9/",
        ] {
            let err = sender.post(url, Vec::new(), Vec::new()).await.expect_err(url);
            assert!(err.0.contains("public address"), "{url}: {}", err.0);
        }
    }
}
