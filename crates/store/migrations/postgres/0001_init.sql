CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    pos BIGSERIAL PRIMARY KEY,
    stream TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    org TEXT NOT NULL,
    time TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (stream, seq)
);
CREATE TABLE IF NOT EXISTS seals (
    id BIGSERIAL PRIMARY KEY,
    stream TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    org TEXT NOT NULL,
    key_id TEXT NOT NULL,
    alg TEXT NOT NULL,
    signature TEXT NOT NULL,
    pos BIGINT NOT NULL,
    UNIQUE (stream, last_seq)
);
CREATE INDEX IF NOT EXISTS seals_pos ON seals (pos);
CREATE TABLE IF NOT EXISTS login_audit (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    user_id TEXT,
    success BIGINT NOT NULL,
    ip TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
