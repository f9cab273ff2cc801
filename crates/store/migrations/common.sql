-- Shared by both backends. The backend files add the ledger tables whose
-- auto-increment syntax differs, then include this text.

-- Signing keys of organisations. Public keys are exported with the ledger;
-- secrets never leave this database (production deployments keep them in an HSM).
CREATE TABLE IF NOT EXISTS org_keys (
    key_id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    alg TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS org_key_secrets (
    key_id TEXT PRIMARY KEY,
    secret_hex TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY,
    head_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);

-- Read models: projections of ledger events, rebuilt by `celltrail ledger replay`.
CREATE TABLE IF NOT EXISTS organisations (
    id TEXT PRIMARY KEY,
    org_type TEXT NOT NULL,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    uscc TEXT,
    province_code TEXT NOT NULL,
    city_zh TEXT NOT NULL,
    city_en TEXT NOT NULL,
    grade TEXT,
    address_zh TEXT NOT NULL,
    address_en TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    head_seq BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS organisations_uscc ON organisations (uscc);
CREATE INDEX IF NOT EXISTS organisations_type ON organisations (org_type, province_code);
CREATE INDEX IF NOT EXISTS organisations_name_zh ON organisations (name_zh);

CREATE TABLE IF NOT EXISTS qualifications (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    number TEXT NOT NULL,
    issuer_zh TEXT NOT NULL,
    issuer_en TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    revoked BIGINT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS qualifications_org ON qualifications (org_id);

CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    roles TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS users_org ON users (org_id);

CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    org_id TEXT NOT NULL,
    title_zh TEXT NOT NULL,
    title_en TEXT NOT NULL,
    summary_zh TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    category TEXT NOT NULL,
    pi_name TEXT NOT NULL,
    state TEXT NOT NULL,
    filing_number TEXT,
    submitted_at TEXT,
    deadline TEXT,
    deadline_kind TEXT,
    deadline_provisional BIGINT NOT NULL,
    filed_at TEXT,
    last_reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    head_seq BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS projects_filing_number ON projects (filing_number);
CREATE INDEX IF NOT EXISTS projects_org ON projects (org_id, state);
CREATE INDEX IF NOT EXISTS projects_state ON projects (state);

CREATE TABLE IF NOT EXISTS signatures (
    stream TEXT NOT NULL,
    seq BIGINT NOT NULL,
    action TEXT NOT NULL,
    meaning TEXT NOT NULL,
    record_hash TEXT NOT NULL,
    manifest_hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    printed_name TEXT NOT NULL,
    org_id TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);

-- Operational tables: security records, not regulated data; never projected.
CREATE TABLE IF NOT EXISTS credentials (
    user_id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
