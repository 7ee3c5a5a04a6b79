//! The schema, versioned with `PRAGMA user_version`: each migration runs once, in its own
//! immediate transaction, and bumps the version.

use crate::Fail;
use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{QueryableByName, RunQueryDsl};

/// The migrations, in order; index + 1 is the `user_version` after each.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE namespaces (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc  TEXT NOT NULL
);
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    doc      TEXT NOT NULL
);
CREATE TABLE buckets (
    id           TEXT PRIMARY KEY,
    namespace_id TEXT NOT NULL REFERENCES namespaces (id),
    name         TEXT NOT NULL,
    doc          TEXT NOT NULL,
    UNIQUE (namespace_id, name)
);
CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    bucket_id       TEXT NOT NULL REFERENCES buckets (id),
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idempotency_key TEXT,
    doc             TEXT NOT NULL,
    UNIQUE (bucket_id, idempotency_key)
);
CREATE INDEX uploads_bucket_created_id ON uploads (bucket_id, created_at, id);
CREATE INDEX uploads_pending_expires ON uploads (expires_at) WHERE status = 'PENDING';
CREATE TABLE content_claims (
    scope     TEXT NOT NULL,
    sha256    TEXT NOT NULL,
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    object_id TEXT,
    PRIMARY KEY (scope, sha256)
);
CREATE TABLE objects (
    id         TEXT PRIMARY KEY,
    bucket_id  TEXT NOT NULL REFERENCES buckets (id),
    created_at INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX objects_bucket_created_id ON objects (bucket_id, created_at, id);
CREATE TABLE blobs (
    id        TEXT PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    s3_key    TEXT NOT NULL
);
CREATE INDEX blobs_object_id ON blobs (object_id);
CREATE INDEX blobs_s3_key ON blobs (s3_key);
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,
    task_type        TEXT NOT NULL,
    status           TEXT NOT NULL,
    namespace_id     TEXT,
    inputs           TEXT NOT NULL,
    outputs          TEXT,
    additional_data  TEXT,
    error_code       TEXT,
    error_message    TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_after        INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX tasks_pending_run_after ON tasks (run_after, created_at) WHERE status = 'PENDING';
CREATE INDEX tasks_leased_expiry ON tasks (lease_expires_at) WHERE status = 'IN_PROGRESS';
CREATE INDEX tasks_namespace_created ON tasks (namespace_id, created_at, id);
CREATE TABLE batches (
    id        TEXT PRIMARY KEY,
    bucket_id TEXT NOT NULL REFERENCES buckets (id),
    status    TEXT NOT NULL,
    doc       TEXT NOT NULL
);
",
    r"
-- Deleting an object finds the uploads that point at it.
CREATE INDEX uploads_object_id ON uploads (json_extract(doc, '$.object_id'));
",
    r"
-- A bucket's usage in a row of its own: a confirm adds to it without rewriting the bucket's
-- document. (The document's counters are no longer written; reads take this table's.)
CREATE TABLE bucket_usage (
    bucket_id        TEXT PRIMARY KEY REFERENCES buckets (id),
    object_count     INTEGER NOT NULL,
    total_size_bytes INTEGER NOT NULL
);
INSERT INTO bucket_usage (bucket_id, object_count, total_size_bytes)
    SELECT id, coalesce(json_extract(doc, '$.object_count'), 0), coalesce(json_extract(doc, '$.total_size_bytes'), 0)
    FROM buckets;
",
];

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    user_version: i32,
}

/// Applies the pending migrations.
pub(crate) fn migrate(conn: &mut SqliteConnection) -> Result<usize, Fail> {
    let mut applied = 0;
    loop {
        let done = conn.immediate_transaction(|conn| {
            let version: Version = diesel::sql_query("PRAGMA user_version").get_result(conn)?;
            let Some(sql) = usize::try_from(version.user_version).ok().and_then(|v| MIGRATIONS.get(v)) else {
                return Ok::<_, Fail>(true);
            };
            conn.batch_execute(sql)?;
            conn.batch_execute(&format!("PRAGMA user_version = {}", version.user_version + 1))?;
            Ok(false)
        })?;
        if done {
            return Ok(applied);
        }
        applied += 1;
    }
}
