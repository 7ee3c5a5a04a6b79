//! The `stowage` binary's library: configuration ([`config`]), wiring the adapters to the domain
//! and serving ([`app`]), the task workers ([`worker`]), key management ([`keys`]) and logging
//! ([`telemetry`]). It holds no business rule: every decision is the domain's.

pub mod app;
pub mod cli;
pub mod config;
pub mod keys;
pub mod metered;
pub mod storage_route;
pub mod telemetry;
pub mod ui;
pub mod webhooks;
pub mod worker;

pub use app::Application;
pub use config::Settings;
