//! The adapter's own configuration.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How to reach PostgreSQL and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// Most connections the pool opens.
    pub max_connections: usize,
    /// Longest wait for a connection (opening one included) before `Unavailable`.
    #[serde(with = "millis")]
    pub connect_timeout: Duration,
    /// Longest a single statement may run before `Unavailable`.
    #[serde(with = "millis")]
    pub statement_timeout: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/stowage".to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Durations in configuration files are whole milliseconds.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
