//! [`Repository`]: every repository role one database adapter provides, named once so that the
//! composition root can take "a database" and hand each use case only the roles it needs.

use super::{BatchRepo, KeyRepo, ObjectRepo, TaskQueue, TaskReads, TenancyRepo, UploadRepo};

/// A database adapter: tenancy and keys, uploads, objects, batches, and the task queue for both
/// its users (workers and the API). Implemented for every type that implements all the roles.
pub trait Repository:
    TenancyRepo + KeyRepo + UploadRepo + ObjectRepo + BatchRepo + TaskQueue + TaskReads + 'static
{
}

impl<T> Repository for T where
    T: TenancyRepo + KeyRepo + UploadRepo + ObjectRepo + BatchRepo + TaskQueue + TaskReads + 'static
{
}
