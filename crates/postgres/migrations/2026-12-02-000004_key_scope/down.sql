ALTER TABLE api_keys DROP COLUMN all_namespaces;
