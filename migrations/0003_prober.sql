-- The prober's state. Times are milliseconds since the Unix epoch (the pure
-- machines' `At`), so detection and action times keep their precision.

-- Failover state per pair (the failover machine's PairState as JSON): a
-- restart comes back knowing which path is active.
CREATE TABLE path_state (
    pair_id    TEXT PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The latest health of each path, for `status` from any process.
CREATE TABLE path_health (
    path_id              TEXT PRIMARY KEY,
    pair_id              TEXT    NOT NULL,
    role                 TEXT    NOT NULL,
    connection_id        TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    health               TEXT    NOT NULL,
    avg_rtt_ms           REAL,
    p99_rtt_ms           REAL,
    loss_percent         REAL    NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    last_change_at       INTEGER,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE failover_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pair_id     TEXT    NOT NULL,
    from_path   TEXT    NOT NULL,
    to_path     TEXT    NOT NULL,
    cause       TEXT    NOT NULL,
    detected_at INTEGER NOT NULL,
    decided_at  INTEGER NOT NULL,
    applied_at  INTEGER,
    dry_run     INTEGER NOT NULL,
    change      TEXT,
    resource_id TEXT,
    error       TEXT
);
CREATE INDEX failover_events_pair ON failover_events(pair_id, id);

-- Raw samples for the last hour; older ones are folded into per-minute rows.
CREATE TABLE probe_samples (
    path_id TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    rtt_ms  REAL,
    failure TEXT
);
CREATE INDEX probe_samples_at ON probe_samples(at);

CREATE TABLE probe_minutes (
    path_id TEXT    NOT NULL,
    minute  INTEGER NOT NULL,
    sent    INTEGER NOT NULL,
    lost    INTEGER NOT NULL,
    rtt_sum REAL    NOT NULL,
    rtt_max REAL,
    PRIMARY KEY (path_id, minute)
);

-- Manual pins from chat or CLI; the prober reads them and applies them.
CREATE TABLE path_pins (
    pair_id TEXT PRIMARY KEY,
    role    TEXT,
    by_user TEXT NOT NULL,
    at      INTEGER NOT NULL
);
