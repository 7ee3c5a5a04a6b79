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
        // diesel-async reports every driver error without a SQLSTATE (a reset or closed socket,
        // a connection task that ended: "error communicating with the server: ...") as
        // `UnableToSendCommand`. A pooled connection the server or the network dropped fails
        // its next query this way, before the pool notices it is closed.
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _)
        | DieselError::BrokenTransactionManager => RepoError::Unavailable(e.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn driver_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_connection_dropped_under_a_query_is_an_outage() {
        // The messages tokio-postgres gives when the socket of a pooled connection was reset or
        // its connection task ended; diesel-async passes them on without a SQLSTATE.
        for message in [
            "error communicating with the server: Connection reset by peer (os error 104)",
            "error communicating with the server: Broken pipe (os error 32)",
            "connection closed",
        ] {
            let mapped = from_diesel(driver_error(DatabaseErrorKind::UnableToSendCommand, message));
            assert!(mapped.is_unavailable(), "{message}: {mapped:?}");
        }
        assert!(from_diesel(driver_error(DatabaseErrorKind::ClosedConnection, "closed")).is_unavailable());
    }

    #[test]
    fn a_unique_violation_is_already_exists_and_an_unknown_error_is_unexpected() {
        let unique = from_diesel(driver_error(DatabaseErrorKind::UniqueViolation, "duplicate key"));
        assert!(matches!(unique, RepoError::AlreadyExists(_)), "{unique:?}");
        let other = from_diesel(driver_error(DatabaseErrorKind::Unknown, "syntax error at or near \"SELEC\""));
        assert!(matches!(other, RepoError::Unexpected(_)), "{other:?}");
    }
}
