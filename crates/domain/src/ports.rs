//! The ports: what the domain needs from the outside world. Adapters implement them; the server
//! picks implementations at run time, so every port is object-safe and used as `&dyn Port`.
//! With the `mocks` feature (and in this crate's tests) each has a mockall mock, `MockPortName`.

mod batch_service;
mod clock;
mod key_repo;
mod object_store;
mod task_queue;
mod unit_of_work;
mod upload_repo;
mod webhook_sender;

pub use batch_service::*;
pub use clock::*;
pub use key_repo::*;
pub use object_store::*;
pub use task_queue::*;
pub use unit_of_work::*;
pub use upload_repo::*;
pub use webhook_sender::*;
