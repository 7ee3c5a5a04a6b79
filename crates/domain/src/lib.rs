//! stowage's pure core. It holds the upload state machine, the duplicate rules, the use cases
//! written as the steps of the API contract, and the ports the adapters implement. It performs
//! no I/O of its own: storage, the database, time and id generation all arrive through ports,
//! so every decision here is deterministic and unit-testable.

pub mod auth;
pub mod batch;
pub mod bucket;
pub mod content;
pub mod dedup;
pub mod error;
pub mod ids;
pub mod names;
pub mod object;
pub mod policy;
pub mod ports;
pub mod sealed;
pub mod status;
pub mod task;
pub mod upload;
pub mod usecases;
pub mod webhook;

pub use error::{Coded, ErrorKind};
