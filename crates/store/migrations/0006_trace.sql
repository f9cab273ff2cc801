-- Chain of identity and custody (both backends run this file as it is).
-- Every table here except person_identities is a read model: a projection
-- of ledger events, rebuilt by `celltrail ledger replay`. Temperatures are
-- stored in hundredths of a degree Celsius.

-- Patients and donors, pseudonymous: the ledger and these rows hold an id
-- and the SHA-256 of the salted identity record, never a name.
CREATE TABLE IF NOT EXISTS trace_people (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    institution_id TEXT NOT NULL,
    project_id TEXT,
    identity_sha256 TEXT NOT NULL,
    registered_at TEXT NOT NULL
);

-- Identifying data, outside the ledger and outside replay: read only with
-- identity.read at the person's institution. Erasing a row leaves the
-- ledger whole (it holds the salted hash only).
CREATE TABLE IF NOT EXISTS person_identities (
    person_id TEXT PRIMARY KEY,
    salt TEXT NOT NULL,
    data TEXT NOT NULL,
    wristband TEXT NOT NULL,
    stored_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS collections (
    id TEXT PRIMARY KEY,
    coi TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    donor_id TEXT NOT NULL,
    patient_id TEXT,
    site_id TEXT NOT NULL,
    project_id TEXT,
    kind TEXT NOT NULL,
    eligibility TEXT NOT NULL,
    collected_at TEXT NOT NULL
);

-- kind: collection | final; status: collected | in_process | consumed |
-- quarantine | released | on_hold | administered | wasted | returned | rejected
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY,
    din TEXT NOT NULL,
    product_code TEXT,
    coi TEXT NOT NULL,
    kind TEXT NOT NULL,
    patient_id TEXT,
    site_id TEXT NOT NULL,
    maker_id TEXT,
    batch_id TEXT,
    status TEXT NOT NULL,
    custodian TEXT,
    in_transit BIGINT NOT NULL,
    location TEXT,
    range_min BIGINT,
    range_max BIGINT,
    expires_on TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS units_coi ON units (coi);
CREATE INDEX IF NOT EXISTS units_batch ON units (batch_id);
CREATE INDEX IF NOT EXISTS units_din ON units (din);

CREATE TABLE IF NOT EXISTS handoffs (
    unit_id TEXT NOT NULL,
    shipment_id TEXT NOT NULL,
    from_org TEXT NOT NULL,
    to_org TEXT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    received_by TEXT,
    received_org TEXT,
    received_at TEXT,
    condition TEXT,
    PRIMARY KEY (unit_id, shipment_id)
);

-- status: in_transit | received
CREATE TABLE IF NOT EXISTS shipments (
    id TEXT PRIMARY KEY,
    from_org TEXT NOT NULL,
    to_org TEXT NOT NULL,
    shipper TEXT NOT NULL,
    courier TEXT NOT NULL,
    logger_id TEXT,
    dispatched_at TEXT NOT NULL,
    received_at TEXT,
    status TEXT NOT NULL,
    readings BIGINT NOT NULL,
    minutes_out BIGINT NOT NULL,
    log_sha256 TEXT
);

CREATE TABLE IF NOT EXISTS shipment_units (
    shipment_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    PRIMARY KEY (shipment_id, unit_id)
);

CREATE TABLE IF NOT EXISTS temperature_readings (
    shipment_id TEXT NOT NULL,
    at TEXT NOT NULL,
    c100 BIGINT NOT NULL,
    PRIMARY KEY (shipment_id, at)
);

CREATE TABLE IF NOT EXISTS excursions (
    shipment_id TEXT NOT NULL,
    start_at TEXT NOT NULL,
    end_at TEXT NOT NULL,
    minutes BIGINT NOT NULL,
    worst_c100 BIGINT NOT NULL,
    PRIMARY KEY (shipment_id, start_at)
);

CREATE TABLE IF NOT EXISTS processes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    technology_id TEXT,
    name TEXT NOT NULL,
    specs TEXT NOT NULL,
    defined_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS equipment (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    calibrated_until TEXT NOT NULL
);

-- status: released | quarantine | rejected
CREATE TABLE IF NOT EXISTS material_lots (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    material TEXT NOT NULL,
    supplier TEXT NOT NULL,
    lot TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    status TEXT NOT NULL
);

-- kind: master | working
CREATE TABLE IF NOT EXISTS cell_banks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent_id TEXT,
    donor_id TEXT,
    cell_line TEXT NOT NULL,
    passage BIGINT NOT NULL,
    passage_limit BIGINT NOT NULL,
    vials BIGINT NOT NULL,
    created_at TEXT NOT NULL
);

-- status: in_process | on_hold | released | rejected
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    process_id TEXT NOT NULL,
    technology_id TEXT,
    coi TEXT,
    patient_id TEXT,
    site_id TEXT,
    cell_bank_id TEXT,
    passage BIGINT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    released_at TEXT,
    released_by TEXT
);

CREATE TABLE IF NOT EXISTS batch_steps (
    batch_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    step TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    equipment_id TEXT,
    lots TEXT NOT NULL,
    passages BIGINT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (batch_id, seq)
);

CREATE TABLE IF NOT EXISTS qc_results (
    batch_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    test TEXT NOT NULL,
    stage TEXT NOT NULL,
    value TEXT NOT NULL,
    unit TEXT NOT NULL,
    spec TEXT NOT NULL,
    verdict TEXT NOT NULL,
    analyst_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (batch_id, seq)
);

-- status: open | closed; disposition: continue | reject
CREATE TABLE IF NOT EXISTS deviations (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    test TEXT NOT NULL,
    value TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    status TEXT NOT NULL,
    disposition TEXT,
    closed_at TEXT,
    note TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS bedside_checks (
    id TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    first_user TEXT NOT NULL,
    second_user TEXT NOT NULL,
    matched BIGINT NOT NULL,
    mismatches TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bedside_unit ON bedside_checks (unit_id, at);

CREATE TABLE IF NOT EXISTS administrations (
    unit_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    check_id TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL
);

-- target_kind: batch | bank | process | technology | lot
CREATE TABLE IF NOT EXISTS halts (
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    active BIGINT NOT NULL,
    org_id TEXT NOT NULL,
    halted_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    lifted_at TEXT,
    PRIMARY KEY (target_kind, target_id)
);

-- Genealogy: what came from what. Nodes are `kind:id`.
CREATE TABLE IF NOT EXISTS lineage (
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    relation TEXT NOT NULL,
    PRIMARY KEY (parent, child, relation)
);
CREATE INDEX IF NOT EXISTS lineage_child ON lineage (child, parent);
