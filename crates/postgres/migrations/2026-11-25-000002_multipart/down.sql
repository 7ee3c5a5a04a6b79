ALTER TABLE uploads DROP COLUMN multipart;
