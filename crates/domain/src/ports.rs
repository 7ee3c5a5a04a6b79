//! The ports: what the domain needs from the outside world, cut by role. A database adapter
//! implements every repository role ([`Repository`] names the bundle); the object store, the
//! clock, ids and webhook delivery are ports of their own. The server picks implementations at
//! run time, so every port is object-safe and used as `&dyn Port`.
//! With the `mocks` feature (and in this crate's tests) each has a mockall mock, `MockPortName`.

mod batch_repo;
mod clock;
mod key_repo;
mod object_repo;
mod object_store;
mod repository;
mod task_queue;
mod tenancy_repo;
mod unit_of_work;
mod upload_repo;
mod webhook_sender;

pub use batch_repo::*;
pub use clock::*;
pub use key_repo::*;
pub use object_repo::*;
pub use object_store::*;
pub use repository::*;
pub use task_queue::*;
pub use tenancy_repo::*;
pub use unit_of_work::*;
pub use upload_repo::*;
pub use webhook_sender::*;
