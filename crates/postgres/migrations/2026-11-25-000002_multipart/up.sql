-- A file above the single-PUT limit is uploaded in parts: the store's multipart upload id,
-- the part size and the part count, as the domain's `Multipart` (NULL for a single PUT).
ALTER TABLE uploads ADD COLUMN multipart JSONB;
