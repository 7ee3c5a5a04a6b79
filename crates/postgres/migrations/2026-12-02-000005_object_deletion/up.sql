-- Deleting an object detaches the uploads that pointed at it (the original and its duplicates):
-- they keep their history but refer to no object and no bytes any more.
ALTER TABLE uploads ADD COLUMN object_deleted boolean NOT NULL DEFAULT false;
CREATE INDEX uploads_object_id ON uploads (object_id) WHERE object_id IS NOT NULL;
-- A batch keeps the ids of objects deleted after it was created (a tombstone: processing reports
-- them as not found), as on SQLite; the foreign key made such a delete fail.
ALTER TABLE batch_items DROP CONSTRAINT batch_items_object_id_fkey;
