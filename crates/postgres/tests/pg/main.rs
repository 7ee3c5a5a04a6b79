//! What only PostgreSQL has — its migrations and its failure modes (refused connections, a
//! server that never answers, a connection reset under a query, statement timeouts) — against a real server (`DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`), a fresh database per test. Every
//! behaviour the repository ports promise is checked once, on both databases, by the
//! conformance suite (`crates/conformance`).

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any unexpected error")]

mod helpers;
mod migrations;
mod outage;
