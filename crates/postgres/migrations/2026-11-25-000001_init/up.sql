-- stowage's schema. Every upload transition is a conditional UPDATE on `status`; content claims
-- are a primary key, so duplicate detection is settled by the database; tasks are a queue table
-- claimed with FOR UPDATE SKIP LOCKED.

CREATE TABLE namespaces (
    id               text        PRIMARY KEY,
    name             text        NOT NULL UNIQUE,
    description      text,
    object_count     bigint      NOT NULL DEFAULT 0,
    total_size_bytes bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           text        PRIMARY KEY,
    key_hash     text        NOT NULL UNIQUE,
    role         text        NOT NULL CHECK (role IN ('admin', 'write', 'read')),
    namespaces   text[]      NOT NULL,
    description  text,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE buckets (
    id               text        PRIMARY KEY,
    namespace_id     text        NOT NULL REFERENCES namespaces (id),
    name             text        NOT NULL,
    description      text,
    bucket_schema    jsonb,
    metadata         jsonb       NOT NULL DEFAULT '{}',
    settings         jsonb       NOT NULL,
    object_count     bigint      NOT NULL DEFAULT 0,
    total_size_bytes bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (namespace_id, name)
);

CREATE TABLE uploads (
    id                       text        PRIMARY KEY,
    bucket_id                text        NOT NULL REFERENCES buckets (id),
    namespace_id             text        NOT NULL REFERENCES namespaces (id),
    filename                 text        NOT NULL,
    content_type             text        NOT NULL,
    declared_size            bigint,
    declared_hash            text,
    checksum_signed          boolean     NOT NULL,
    s3_key                   text        NOT NULL UNIQUE,
    status                   text        NOT NULL
        CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELED')),
    metadata                 jsonb       NOT NULL DEFAULT '{}',
    object_metadata          jsonb       NOT NULL DEFAULT '{}',
    create_object_on_confirm boolean     NOT NULL,
    blob_property            text,
    blob_type                text,
    skip_duplicates          boolean     NOT NULL,
    url_expiration_secs      integer     NOT NULL,
    idempotency_key          text,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    expires_at               timestamptz NOT NULL,
    etag                     text,
    file_size_bytes          bigint,
    file_hash                text,
    verified_at              timestamptz,
    completed_at             timestamptz,
    object_id                text,
    task_id                  text,
    batch_id                 text,
    is_duplicate             boolean     NOT NULL DEFAULT false,
    duplicate_of_upload_id   text,
    failure_code             text,
    failure_message          text,
    UNIQUE (bucket_id, idempotency_key)
);
-- Keyset pagination of a bucket's uploads, newest or oldest first.
CREATE INDEX uploads_bucket_created_id ON uploads (bucket_id, created_at, id);
-- The expiry sweeper's scan.
CREATE INDEX uploads_pending_expires ON uploads (expires_at) WHERE status = 'PENDING';

-- First confirmed upload of a content in a scope (a bucket or a namespace id) holds the claim.
CREATE TABLE content_claims (
    scope      text        NOT NULL,
    sha256     text        NOT NULL,
    upload_id  text        NOT NULL REFERENCES uploads (id),
    object_id  text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (scope, sha256)
);

CREATE TABLE objects (
    id           text        PRIMARY KEY,
    bucket_id    text        NOT NULL REFERENCES buckets (id),
    namespace_id text        NOT NULL REFERENCES namespaces (id),
    upload_id    text        UNIQUE REFERENCES uploads (id),
    status       text        NOT NULL,
    metadata     jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX objects_bucket_created_id ON objects (bucket_id, created_at, id);

CREATE TABLE blobs (
    id         text        PRIMARY KEY,
    object_id  text        NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    property   text        NOT NULL,
    blob_type  text        NOT NULL,
    s3_key     text        NOT NULL,
    url        text        NOT NULL,
    details    jsonb       NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX blobs_object_id ON blobs (object_id);
CREATE INDEX blobs_s3_key ON blobs (s3_key);

CREATE TABLE tasks (
    id               text        PRIMARY KEY,
    task_type        text        NOT NULL,
    status           text        NOT NULL,
    inputs           jsonb       NOT NULL,
    outputs          jsonb,
    additional_data  jsonb,
    error_code       text,
    error_message    text,
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL,
    run_after        timestamptz NOT NULL,
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- Claiming the next due task and re-delivering expired leases are index range scans.
CREATE INDEX tasks_pending_run_after ON tasks (run_after, created_at) WHERE status = 'PENDING';
CREATE INDEX tasks_leased_expiry ON tasks (lease_expires_at) WHERE status = 'IN_PROGRESS';
CREATE INDEX tasks_lease_owner ON tasks (lease_owner) WHERE lease_owner IS NOT NULL;

-- Long polls wait on this channel instead of polling the table.
CREATE FUNCTION stowage_notify_task_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('stowage_task_changed', NEW.id);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER tasks_notify_change AFTER UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION stowage_notify_task_change();

CREATE TABLE batches (
    id         text        PRIMARY KEY,
    bucket_id  text        NOT NULL REFERENCES buckets (id),
    status     text        NOT NULL,
    task_id    text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX batches_bucket_created_id ON batches (bucket_id, created_at, id);

CREATE TABLE batch_items (
    batch_id  text    NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    object_id text    NOT NULL REFERENCES objects (id),
    PRIMARY KEY (batch_id, position)
);
