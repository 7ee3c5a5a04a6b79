-- Operator keys act in every namespace; every other key only in the namespaces it lists.
ALTER TABLE api_keys ADD COLUMN all_namespaces boolean NOT NULL DEFAULT false;
