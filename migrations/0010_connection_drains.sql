-- Connections drained ahead of planned work (`drain <connection> [for 2h]`):
-- the prober keeps traffic off them and silences their alerts until
-- `until_ms` or `undrain` (which deletes the row).
CREATE TABLE connection_drains (
    connection_id TEXT PRIMARY KEY,
    until_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at INTEGER NOT NULL
);
