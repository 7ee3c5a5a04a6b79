UPDATE buckets b SET object_count = u.object_count, total_size_bytes = u.total_size_bytes
    FROM (SELECT bucket_id, sum(object_count)::bigint AS object_count, sum(total_size_bytes)::bigint AS total_size_bytes
          FROM bucket_usage GROUP BY bucket_id) u
    WHERE u.bucket_id = b.id;
DROP TABLE bucket_usage;
