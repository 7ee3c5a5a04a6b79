-- Signs a bucket's webhook events; generated when the bucket gets a webhook_url.
ALTER TABLE buckets ADD COLUMN webhook_secret TEXT;
