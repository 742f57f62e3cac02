-- The spine's tables. Times are RFC 3339 UTC text; JSON columns hold serde output.

CREATE TABLE workflows (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    definition_name    TEXT    NOT NULL,
    definition_version INTEGER NOT NULL,
    -- the definition this workflow started with (JSON), kept so a new version never changes a running one
    definition         TEXT    NOT NULL,
    -- the pure machine's state (JSON); status/current_step/deadline are derived copies for queries
    state              TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    current_step       INTEGER NOT NULL,
    deadline           TEXT,
    requester          TEXT    NOT NULL,
    channel            TEXT    NOT NULL,
    request_text       TEXT    NOT NULL,
    version            INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);
CREATE INDEX workflows_status ON workflows(status);

CREATE TABLE workflow_steps (
    workflow_id INTEGER NOT NULL REFERENCES workflows(id),
    idx         INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    output      TEXT,
    error       TEXT,
    started_at  TEXT,
    finished_at TEXT,
    PRIMARY KEY (workflow_id, idx)
);

CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id INTEGER NOT NULL UNIQUE REFERENCES workflows(id),
    decision    TEXT    NOT NULL,
    decided_by  TEXT    NOT NULL,
    reason      TEXT,
    decided_at  TEXT    NOT NULL
);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id INTEGER,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX audit_events_workflow ON audit_events(workflow_id);

CREATE TABLE provisioned_resources (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id     INTEGER NOT NULL REFERENCES workflows(id),
    step            TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    provider        TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    change          TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    reverted_at     TEXT
);
CREATE INDEX provisioned_resources_workflow ON provisioned_resources(workflow_id);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    channel      TEXT    NOT NULL,
    thread       TEXT,
    workflow_id  INTEGER,
    message      TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT,
    last_error   TEXT
);
CREATE INDEX outbox_pending ON outbox(delivered_at, id);
