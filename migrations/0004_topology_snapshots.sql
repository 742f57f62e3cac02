-- Discovery snapshots: the merged topology as JSON, one row per discovery run
-- that read something. A run where every provider failed saves nothing, so
-- the previous snapshot stays the latest.
CREATE TABLE topology_snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    taken_at    TEXT    NOT NULL,
    -- ok | partial (some provider failed or read only part)
    status      TEXT    NOT NULL,
    networks    INTEGER NOT NULL,
    connections INTEGER NOT NULL,
    topology    TEXT    NOT NULL
);
