//! Maps diesel and pool errors onto the domain's `RepoError`: an outage (refused connection,
//! closed connection, pool timeout, statement timeout) is `Unavailable`; a unique violation is
//! `AlreadyExists`; everything else is `Unexpected`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;
use diesel_async::pooled_connection::deadpool::PoolError as DeadpoolError;
use stowage_domain::error::RepoError;

/// Converts a query error.
pub(crate) fn from_diesel(e: DieselError) -> RepoError {
    match &e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            RepoError::AlreadyExists(info.constraint_name().unwrap_or("unique constraint").to_owned())
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) | DieselError::BrokenTransactionManager => {
            RepoError::Unavailable(e.to_string())
        }
        // SQLSTATE 57014 (query_canceled) and the 08 class (connection exceptions) have no
        // diesel kind of their own; their messages are stable.
        DieselError::DatabaseError(_, info)
            if info.message().contains("statement timeout")
                || info.message().contains("canceling statement")
                || info.message().contains("connection") =>
        {
            RepoError::Unavailable(e.to_string())
        }
        _ => RepoError::Unexpected(e.to_string()),
    }
}

/// Converts a pool error: every way of not getting a connection is an outage.
pub(crate) fn from_pool(e: DeadpoolError) -> RepoError {
    match e {
        DeadpoolError::Backend(PoolError::QueryError(q)) => from_diesel(q),
        other => RepoError::Unavailable(other.to_string()),
    }
}

/// A row that does not convert into a domain value: the database holds something the domain
/// would never have written.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> RepoError {
    RepoError::Unexpected(format!("stored {what} is invalid: {e}"))
}

/// Logs and counts one undecodable row.
pub(crate) fn skipped(table: &'static str, e: &RepoError) {
    tracing::error!(table, error = %e, "skipping a row that does not decode");
    metrics::counter!("stowage_undecodable_rows_total", "table" => table).increment(1);
}
