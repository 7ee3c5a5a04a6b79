//! stowage-postgres against a real PostgreSQL server (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), a fresh database per test.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any unexpected error")]

mod batches;
mod confirm;
mod helpers;
mod listing;
mod migrations;
mod outage;
mod queue;
mod repo;
