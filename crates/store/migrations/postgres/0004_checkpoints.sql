-- Seals become entries of an organisation's numbered checkpoint, whose one
-- signature covers them all; seals signed on their own stay valid.
ALTER TABLE seals ALTER COLUMN signature DROP NOT NULL;
ALTER TABLE seals ADD COLUMN IF NOT EXISTS checkpoint BIGINT;
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
