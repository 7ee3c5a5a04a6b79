//! stowage's state on PostgreSQL: [`PgRepository`] implements every repository role of the
//! domain (`ports::Repository`) with diesel and diesel-async over a deadpool pool.
//!
//! Every upload transition is one transaction conditional on the upload's status (the row is
//! locked with `FOR UPDATE` and its status compared); content claims are a primary key, so the
//! first confirmed upload of a content wins whatever the number of replicas; tasks are claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease. No diesel type crosses a port: errors become
//! `RepoError`, with every outage (refused connection, pool or statement timeout) `Unavailable`.

mod batches;
mod cached;
mod config;
mod error;
mod inserts;
mod keys;
mod models;
mod pool;
mod queue;
mod schema;
mod uploads;

pub use config::PgConfig;
pub use pool::{MIGRATIONS, PgRepository, migrate};
