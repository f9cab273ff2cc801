-- Ethics review and consent (both backends run this file as it is).
-- Read models: projections of ledger events, rebuilt by `celltrail ledger replay`.

-- An ethics committee is an organisation of type ethics_committee; this row
-- adds what the committee is for.
CREATE TABLE IF NOT EXISTS committees (
    id TEXT PRIMARY KEY,
    institution_id TEXT,
    kind TEXT NOT NULL,
    constituted_at TEXT NOT NULL,
    head_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS committee_members (
    committee_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    sex TEXT NOT NULL,
    expertise TEXT NOT NULL,
    external BIGINT NOT NULL,
    role TEXT NOT NULL,
    user_id TEXT,
    appointed_on TEXT NOT NULL,
    left_on TEXT,
    active BIGINT NOT NULL,
    PRIMARY KEY (committee_id, id)
);

CREATE TABLE IF NOT EXISTS experts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    tags TEXT NOT NULL,
    interests TEXT NOT NULL,
    active BIGINT NOT NULL,
    registered_at TEXT NOT NULL
);

-- status: submitted | in_review | meeting | decided
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    committee_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    route TEXT NOT NULL,
    rule TEXT,
    basis TEXT NOT NULL,
    facts TEXT NOT NULL,
    consent_version BIGINT,
    status TEXT NOT NULL,
    decision TEXT,
    submitted_at TEXT NOT NULL,
    decided_at TEXT,
    lapses_on TEXT,
    lead_id TEXT,
    head_seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_committee ON submissions (committee_id, status);
CREATE INDEX IF NOT EXISTS submissions_project ON submissions (project_id);

CREATE TABLE IF NOT EXISTS submission_documents (
    submission_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    doc_kind TEXT NOT NULL,
    lang TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    filename TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (submission_id, seq)
);

-- Reviewers of a simplified review (members) and experts assigned from the
-- pool, with their opinions once given.
CREATE TABLE IF NOT EXISTS submission_reviewers (
    submission_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    reviewer_kind TEXT NOT NULL,
    opinion TEXT,
    note TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    answered_at TEXT,
    PRIMARY KEY (submission_id, reviewer)
);

CREATE TABLE IF NOT EXISTS meetings (
    id TEXT PRIMARY KEY,
    committee_id TEXT NOT NULL,
    held_on TEXT NOT NULL,
    status TEXT NOT NULL,
    agenda TEXT NOT NULL,
    present TEXT NOT NULL,
    minutes TEXT NOT NULL,
    head_seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS meetings_committee ON meetings (committee_id, held_on);

CREATE TABLE IF NOT EXISTS meeting_items (
    meeting_id TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    recused TEXT NOT NULL,
    votes TEXT NOT NULL,
    decision TEXT,
    PRIMARY KEY (meeting_id, submission_id)
);

CREATE TABLE IF NOT EXISTS reliances (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    lead_submission_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    committee_id TEXT NOT NULL,
    status TEXT NOT NULL,
    agreement TEXT NOT NULL,
    local_considerations TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    settled_at TEXT,
    own_submission_id TEXT,
    head_seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS reliances_project ON reliances (project_id);

CREATE TABLE IF NOT EXISTS consent_versions (
    project_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    asks BIGINT NOT NULL,
    material_change BIGINT NOT NULL,
    submission_id TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    PRIMARY KEY (project_id, version)
);

-- Subjects are pseudonymous: no name or identity number is stored here.
CREATE TABLE IF NOT EXISTS subjects (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    code TEXT NOT NULL,
    enrolled_on TEXT NOT NULL,
    status TEXT NOT NULL,
    consent_version BIGINT NOT NULL,
    scopes BIGINT NOT NULL,
    samples TEXT,
    withdrawn_on TEXT,
    -- Every consent and withdrawal, in the compact form of
    -- core::consent::Timeline: what the consent check reads.
    timeline TEXT NOT NULL,
    head_seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS subjects_project ON subjects (project_id, site_id);
CREATE UNIQUE INDEX IF NOT EXISTS subjects_code ON subjects (project_id, code);

CREATE TABLE IF NOT EXISTS reconsent_tasks (
    subject_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    project_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    done_at TEXT,
    PRIMARY KEY (subject_id, version)
);
CREATE INDEX IF NOT EXISTS reconsent_tasks_project ON reconsent_tasks (project_id, done_at);

-- Document contents, addressed by their SHA-256 (the ledger holds the hash).
-- Not a read model: replay keeps them.
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    content_b64 TEXT NOT NULL,
    stored_at TEXT NOT NULL
);

-- Operational: personal links of subjects to their consent page (hashed).
CREATE TABLE IF NOT EXISTS subject_links (
    token_hash TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
