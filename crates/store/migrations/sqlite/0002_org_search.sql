-- Substring search over organisation names (Chinese and English): an FTS5
-- trigram index answers LIKE '%…%' without scanning (SQLite 3.34+).
CREATE VIRTUAL TABLE IF NOT EXISTS org_search USING fts5(id UNINDEXED, text, tokenize = 'trigram');
-- Index the organisations registered before this migration.
INSERT INTO org_search (id, text) SELECT id, LOWER(name_zh || ' ' || name_en) FROM organisations WHERE id NOT IN (SELECT id FROM org_search);
