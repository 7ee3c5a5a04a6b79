//! Time and id generation, as ports so tests are deterministic.

use crate::ids::IdSuffix;
use time::OffsetDateTime;

/// The current time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// Fresh random id suffixes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A new suffix. Implementations MUST make collisions practically impossible (≥ 90 bits of
    /// randomness): ids are primary keys.
    fn suffix(&self) -> IdSuffix;
}
