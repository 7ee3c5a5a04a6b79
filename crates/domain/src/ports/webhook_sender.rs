//! [`WebhookSender`]: POSTs an event to a receiver over HTTP.

use async_trait::async_trait;

/// Why a POST got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook receiver unreachable: {0}")]
pub struct SendError(pub String);

/// Sends webhook requests.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` with `headers` to `url` and returns the receiver's HTTP status. Implementations
    /// MUST time out (a hung receiver must not hold a worker) and MUST NOT follow redirects.
    ///
    /// # Errors
    /// [`SendError`] when no status was received (refused, reset, timed out, bad URL).
    async fn post(&self, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Result<u16, SendError>;
}
