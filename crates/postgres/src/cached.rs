//! [`Cached`]: a statement kept prepared on its connection although diesel would prepare it anew
//! each time.
//!
//! diesel keeps a connection's prepared statements in a cache, but leaves out every statement
//! whose SQL text might vary from call to call: every `UPDATE`, every `ON CONFLICT DO UPDATE`,
//! every insert of an `Insertable` with an `Option` field (which may render `DEFAULT`), every
//! multi-row insert. Each such statement is parsed, planned and described by PostgreSQL on every
//! call — one more round trip and a plan per statement, four times per confirm (seen in
//! PostgreSQL's statement log under `cargo xtask bench confirm`: a new statement name each time).
//! The statements wrapped here have a fixed shape per call site, and the cache is keyed by the SQL
//! text itself, so each distinct text is prepared once per connection.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// `query`, prepared once per connection for each distinct SQL text it renders.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cached<Q>(pub Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Cached<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static identity: the cache keys the statement by its SQL text and bind types.
impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}
