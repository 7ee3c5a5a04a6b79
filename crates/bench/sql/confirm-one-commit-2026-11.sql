-- The confirm transaction stowage ran until 2026-12 (docs/benchmarks.md of 2026-11-25 lists it
-- as captured from PostgreSQL's log): the 12 statements of one confirm, including the two
-- updates of hot rows (the bucket's and the namespace's usage counters) that made every confirm
-- of a bucket wait for the previous one's commit. Kept fixed and run by every `cargo xtask bench`
-- as the "one commit per confirm" reference the new SQL is compared with. The bench replaces
-- {namespace} and {bucket} with the run's ids; :n numbers the transaction (upload rows
-- upl_0000000000000001.. are prepared PENDING by the bench).
SELECT nextval('bench_n') AS n \gset
SELECT "namespaces"."id", "namespaces"."name", "namespaces"."description", "namespaces"."created_at" FROM "namespaces" WHERE (("namespaces"."id" = '{namespace}') OR ("namespaces"."name" = '{namespace}')) LIMIT 1;
SELECT "buckets"."id", "buckets"."namespace_id", "buckets"."name", "buckets"."description", "buckets"."bucket_schema", "buckets"."metadata", "buckets"."settings", "buckets"."object_count", "buckets"."total_size_bytes", "buckets"."created_at", "buckets"."updated_at", "buckets"."webhook_secret" FROM "buckets" WHERE (("buckets"."namespace_id" = '{namespace}') AND (("buckets"."id" = '{bucket}') OR ("buckets"."name" = '{bucket}'))) LIMIT 1;
SELECT * FROM "uploads" WHERE (("uploads"."bucket_id" = '{bucket}') AND ("uploads"."id" = ('upl_' || lpad(:n::text, 16, '0')))) LIMIT 1;
BEGIN;
SELECT * FROM "uploads" WHERE ("uploads"."id" = ('upl_' || lpad(:n::text, 16, '0'))) LIMIT 1 FOR UPDATE;
INSERT INTO "content_claims" ("scope", "sha256", "upload_id", "object_id", "created_at") VALUES ('{bucket}', lpad(:n::text, 64, '0'), ('upl_' || lpad(:n::text, 16, '0')), ('obj_' || lpad(:n::text, 16, '0')), now()) ON CONFLICT DO NOTHING;
INSERT INTO "objects" ("id", "bucket_id", "namespace_id", "upload_id", "status", "metadata", "created_at", "updated_at") VALUES (('obj_' || lpad(:n::text, 16, '0')), '{bucket}', '{namespace}', ('upl_' || lpad(:n::text, 16, '0')), 'DRAFT', '{}', now(), now());
INSERT INTO "blobs" ("id", "object_id", "property", "blob_type", "s3_key", "url", "details", "created_at") VALUES (('blob_' || lpad(:n::text, 16, '0')), ('obj_' || lpad(:n::text, 16, '0')), 'content', 'FILE', ('upl_/' || lpad(:n::text, 16, '0')), ('s3://stowage-bench/upl_/' || lpad(:n::text, 16, '0')), '{"filename": "object.bin", "size_bytes": 4096, "mime_type": "application/octet-stream", "hash": "0000000000000000000000000000000000000000000000000000000000000000", "etag": "\"0123456789abcdef0123456789abcdef\""}', now());
UPDATE "buckets" SET "object_count" = ("buckets"."object_count" + 1), "total_size_bytes" = ("buckets"."total_size_bytes" + 4096), "updated_at" = now() WHERE ("buckets"."id" = '{bucket}');
UPDATE "namespaces" SET "object_count" = ("namespaces"."object_count" + 1), "total_size_bytes" = ("namespaces"."total_size_bytes" + 4096) WHERE ("namespaces"."id" = '{namespace}');
UPDATE "uploads" SET "status" = 'COMPLETED', "etag" = '"0123456789abcdef0123456789abcdef"', "file_size_bytes" = 4096, "file_hash" = lpad(:n::text, 64, '0'), "verified_at" = now(), "completed_at" = now(), "object_id" = ('obj_' || lpad(:n::text, 16, '0')), "is_duplicate" = false, "updated_at" = now() WHERE ("uploads"."id" = ('upl_' || lpad(:n::text, 16, '0')));
COMMIT;
