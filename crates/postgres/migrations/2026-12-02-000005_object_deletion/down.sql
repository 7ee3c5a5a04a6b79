ALTER TABLE batch_items ADD CONSTRAINT batch_items_object_id_fkey FOREIGN KEY (object_id) REFERENCES objects (id) NOT VALID;
DROP INDEX uploads_object_id;
ALTER TABLE uploads DROP COLUMN object_deleted;
