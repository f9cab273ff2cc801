-- Seals become entries of an organisation's numbered checkpoint, whose one
-- signature covers them all; seals signed on their own stay valid. SQLite
-- cannot relax NOT NULL in place, so the table is rebuilt with its rows.
CREATE TABLE seals_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    org TEXT NOT NULL,
    key_id TEXT NOT NULL,
    alg TEXT NOT NULL,
    signature TEXT,
    checkpoint BIGINT,
    pos BIGINT NOT NULL,
    UNIQUE (stream, last_seq)
);
INSERT INTO seals_v2 (id, stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, checkpoint, pos)
    SELECT id, stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, NULL, pos FROM seals;
DROP TABLE seals;
ALTER TABLE seals_v2 RENAME TO seals;
CREATE INDEX IF NOT EXISTS seals_pos ON seals (pos);
CREATE INDEX IF NOT EXISTS seals_checkpoint ON seals (org, checkpoint);
CREATE TABLE IF NOT EXISTS checkpoints (
    org TEXT NOT NULL,
    n BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    alg TEXT NOT NULL,
    seals BIGINT NOT NULL,
    digest TEXT NOT NULL,
    signature TEXT NOT NULL,
    pos BIGINT NOT NULL,
    signed_at TEXT NOT NULL,
    PRIMARY KEY (org, n)
);
CREATE INDEX IF NOT EXISTS checkpoints_pos ON checkpoints (pos);
-- Per organisation: the checkpoint its new entries join, and what waits for it.
CREATE TABLE IF NOT EXISTS seal_pending (
    org TEXT PRIMARY KEY,
    n BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    events BIGINT NOT NULL,
    since TEXT NOT NULL
);
