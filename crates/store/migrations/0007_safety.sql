-- Clinical safety (both backends run this file as it is): adverse events
-- with their versions and expedited reports, the national adverse-event
-- database, and long-term follow-up. Every table here except
-- reference_reports is a read model: a projection of ledger events,
-- rebuilt by `celltrail ledger replay`.

-- One row per adverse event, holding its latest version. `record` is the
-- whole version as JSON (what the event carried); the other columns are the
-- parts screens filter and sort on. seriousness: comma-separated ICH E2A
-- criteria. report_kind: susar_7 | susar_15 | not_expedited.
CREATE TABLE IF NOT EXISTS adverse_events (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    sponsor_id TEXT,
    project_id TEXT NOT NULL,
    subject_id TEXT,
    patient_id TEXT,
    unit_id TEXT,
    product TEXT NOT NULL,
    product_class TEXT NOT NULL,
    term TEXT NOT NULL,
    onset TEXT NOT NULL,
    aware TEXT NOT NULL,
    seriousness TEXT NOT NULL,
    serious BIGINT NOT NULL,
    severity BIGINT NOT NULL,
    crs_grade BIGINT,
    icans_grade BIGINT,
    expectedness TEXT NOT NULL,
    causality TEXT NOT NULL,
    related BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    report_kind TEXT NOT NULL,
    initial_due TEXT,
    follow_up_due TEXT,
    initial_sent TEXT,
    follow_up_sent TEXT,
    malignancy BIGINT NOT NULL,
    national_id TEXT,
    version BIGINT NOT NULL,
    record TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS adverse_events_site ON adverse_events (site_id, aware);
CREATE INDEX IF NOT EXISTS adverse_events_sponsor ON adverse_events (sponsor_id);
CREATE INDEX IF NOT EXISTS adverse_events_project ON adverse_events (project_id);

-- Every version of every adverse event, with who changed it and why.
CREATE TABLE IF NOT EXISTS ae_versions (
    ae_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    record TEXT NOT NULL,
    reason TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (ae_id, version)
);

-- Expedited reports sent: kind initial | follow_up; the E2B(R3) message is
-- kept in blobs under its SHA-256.
CREATE TABLE IF NOT EXISTS ae_reports (
    ae_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    recipient_id TEXT NOT NULL,
    sent_on TEXT NOT NULL,
    due TEXT,
    on_time BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    by_user TEXT NOT NULL,
    PRIMARY KEY (ae_id, seq)
);

-- The national database: pseudonymised reports from institutions (and
-- E2B imports), one row per case and sender, the latest version counted.
-- A report found to repeat another case (the same worldwide case id from
-- another sender, or the same patient, product and event) names it in
-- duplicate_of and is not counted. patient_key: SHA-256 of the site and
-- the site's pseudonym.
CREATE TABLE IF NOT EXISTS national_reports (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    product TEXT NOT NULL,
    product_class TEXT NOT NULL,
    patient_key TEXT NOT NULL,
    sex TEXT,
    age_group TEXT,
    year TEXT NOT NULL,
    onset TEXT NOT NULL,
    serious BIGINT NOT NULL,
    fatal BIGINT NOT NULL,
    malignancy BIGINT NOT NULL,
    version BIGINT NOT NULL,
    duplicate_of TEXT,
    received_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS national_reports_case ON national_reports (case_id, org_id);
CREATE INDEX IF NOT EXISTS national_reports_patient ON national_reports (patient_key, product);

CREATE TABLE IF NOT EXISTS national_report_events (
    report_id TEXT NOT NULL,
    product TEXT NOT NULL,
    event TEXT NOT NULL,
    stratum TEXT NOT NULL,
    PRIMARY KEY (report_id, product, event)
);

-- Public reference data loaded for analysis (the FDA's FAERS quarterly
-- extracts): outside the ledger and outside replay; the ledger records each
-- load with the files' SHA-256 (safety.reference_loaded).
CREATE TABLE IF NOT EXISTS reference_reports (
    source TEXT NOT NULL,
    report_id TEXT NOT NULL,
    product TEXT NOT NULL,
    event TEXT NOT NULL,
    stratum TEXT NOT NULL,
    PRIMARY KEY (source, report_id, product, event)
);

-- Long-term follow-up: one enrolment per subject and product; its visits
-- come from core::safety::ltfu_schedule. status: active | died | withdrawn
-- | completed (lost to follow-up is read from the visits, as of a day).
CREATE TABLE IF NOT EXISTS ltfu_enrolments (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    subject_id TEXT,
    patient_id TEXT,
    subject_code TEXT NOT NULL,
    product TEXT NOT NULL,
    product_class TEXT NOT NULL,
    years BIGINT NOT NULL,
    visit_years BIGINT NOT NULL,
    start_on TEXT NOT NULL,
    status TEXT NOT NULL,
    died_on TEXT,
    withdrawn_on TEXT,
    malignancy_on TEXT,
    enrolled_at TEXT NOT NULL,
    head_seq BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ltfu_enrolments_site ON ltfu_enrolments (site_id);

CREATE TABLE IF NOT EXISTS ltfu_visits (
    enrolment_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    kind TEXT NOT NULL,
    due TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    done_on TEXT,
    vital TEXT,
    new_malignancy BIGINT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (enrolment_id, number)
);
