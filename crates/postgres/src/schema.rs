// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        id -> Text,
        key_hash -> Text,
        role -> Text,
        namespaces -> Array<Nullable<Text>>,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        all_namespaces -> Bool,
    }
}

diesel::table! {
    batch_items (batch_id, position) {
        batch_id -> Text,
        position -> Int4,
        object_id -> Text,
    }
}

diesel::table! {
    batches (id) {
        id -> Text,
        bucket_id -> Text,
        status -> Text,
        task_id -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    blobs (id) {
        id -> Text,
        object_id -> Text,
        property -> Text,
        blob_type -> Text,
        s3_key -> Text,
        url -> Text,
        details -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    bucket_usage (bucket_id, shard) {
        bucket_id -> Text,
        shard -> Int2,
        object_count -> Int8,
        total_size_bytes -> Int8,
    }
}

diesel::table! {
    buckets (id) {
        id -> Text,
        namespace_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        bucket_schema -> Nullable<Jsonb>,
        metadata -> Jsonb,
        settings -> Jsonb,
        object_count -> Int8,
        total_size_bytes -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        webhook_secret -> Nullable<Text>,
    }
}

diesel::table! {
    content_claims (scope, sha256) {
        scope -> Text,
        sha256 -> Text,
        upload_id -> Text,
        object_id -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    namespaces (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        object_count -> Int8,
        total_size_bytes -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    objects (id) {
        id -> Text,
        bucket_id -> Text,
        namespace_id -> Text,
        upload_id -> Nullable<Text>,
        status -> Text,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        task_type -> Text,
        status -> Text,
        inputs -> Jsonb,
        outputs -> Nullable<Jsonb>,
        additional_data -> Nullable<Jsonb>,
        error_code -> Nullable<Text>,
        error_message -> Nullable<Text>,
        attempts -> Int4,
        max_attempts -> Int4,
        run_after -> Timestamptz,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    uploads (id) {
        id -> Text,
        bucket_id -> Text,
        namespace_id -> Text,
        filename -> Text,
        content_type -> Text,
        declared_size -> Nullable<Int8>,
        declared_hash -> Nullable<Text>,
        checksum_signed -> Bool,
        s3_key -> Text,
        status -> Text,
        metadata -> Jsonb,
        object_metadata -> Jsonb,
        create_object_on_confirm -> Bool,
        blob_property -> Nullable<Text>,
        blob_type -> Nullable<Text>,
        skip_duplicates -> Bool,
        url_expiration_secs -> Int4,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        expires_at -> Timestamptz,
        etag -> Nullable<Text>,
        file_size_bytes -> Nullable<Int8>,
        file_hash -> Nullable<Text>,
        verified_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        object_id -> Nullable<Text>,
        task_id -> Nullable<Text>,
        batch_id -> Nullable<Text>,
        is_duplicate -> Bool,
        duplicate_of_upload_id -> Nullable<Text>,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        multipart -> Nullable<Jsonb>,
        object_deleted -> Bool,
    }
}

diesel::joinable!(batch_items -> batches (batch_id));
diesel::joinable!(batches -> buckets (bucket_id));
diesel::joinable!(blobs -> objects (object_id));
diesel::joinable!(bucket_usage -> buckets (bucket_id));
diesel::joinable!(buckets -> namespaces (namespace_id));
diesel::joinable!(content_claims -> uploads (upload_id));
diesel::joinable!(objects -> buckets (bucket_id));
diesel::joinable!(objects -> namespaces (namespace_id));
diesel::joinable!(objects -> uploads (upload_id));
diesel::joinable!(uploads -> buckets (bucket_id));
diesel::joinable!(uploads -> namespaces (namespace_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    batch_items,
    batches,
    blobs,
    bucket_usage,
    buckets,
    content_claims,
    namespaces,
    objects,
    tasks,
    uploads,
);
