-- Substring search over organisation names (Chinese and English): a pg_trgm
-- GIN index answers LIKE '%…%' without scanning. pg_trgm is a trusted
-- extension (PostgreSQL 13+), installed once per database in schema public.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
CREATE TABLE IF NOT EXISTS org_search (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS org_search_trgm ON org_search USING gin (text public.gin_trgm_ops);
-- Index the organisations registered before this migration.
INSERT INTO org_search (id, text) SELECT id, LOWER(name_zh || ' ' || name_en) FROM organisations WHERE id NOT IN (SELECT id FROM org_search);
