ALTER TABLE buckets DROP COLUMN webhook_secret;
