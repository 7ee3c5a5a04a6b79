-- A bucket's usage as 16 shard rows summed on read, instead of two counters on the bucket's row:
-- every confirm into a bucket updated that one row and held its lock until its commit, so the
-- bucket's confirms committed one at a time. A confirm now adds to a random shard; confirms of
-- one bucket commit together. A bucket with a quota still serialises its confirms (on its row,
-- FOR NO KEY UPDATE) so that the quota holds under concurrency. The buckets' own columns are no
-- longer written; they stay for rolling upgrades.
CREATE TABLE bucket_usage (
    bucket_id        text     NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
    shard            smallint NOT NULL,
    object_count     bigint   NOT NULL,
    total_size_bytes bigint   NOT NULL,
    PRIMARY KEY (bucket_id, shard)
);
INSERT INTO bucket_usage (bucket_id, shard, object_count, total_size_bytes)
    SELECT id, 0, object_count, total_size_bytes FROM buckets;
