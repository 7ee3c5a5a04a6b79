//! The HTTP side of webhooks: [`HttpWebhookSender`] POSTs events with reqwest.

use async_trait::async_trait;
use std::time::Duration;
use stowage_domain::ports::{SendError, WebhookSender};

/// POSTs webhook events: one shared connection pool, a whole-request timeout, no redirects (a
/// receiver that moved must be reconfigured, not followed with a signed body).
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
}

impl HttpWebhookSender {
    /// A sender whose attempts give up after `timeout`.
    ///
    /// # Panics
    /// When the TLS backend cannot be initialised (a broken build, not a runtime condition).
    #[must_use]
    #[expect(clippy::expect_used, reason = "reqwest fails to build only when its TLS backend is missing")]
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stowage-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self { client }
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Result<u16, SendError> {
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| SendError(e.to_string()))?;
        Ok(response.status().as_u16())
    }
}
