//! Black-box tests: the real application on port 0 with real PostgreSQL and the test S3 server,
//! driven over HTTP with a real client, including real presigned PUTs.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any unexpected error")]

mod access;
mod asynchronous;
mod auth;
mod browser;
mod cli;
mod crash;
mod disk;
mod embedded;
mod errors;
mod flow;
mod helpers;
mod hostile;
mod integrity;
mod lifecycle;
mod metrics;
mod multipart;
mod objects;
mod outage;
mod process;
mod replicas;
mod store;
mod webhooks;
