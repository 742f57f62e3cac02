-- Usage history (issue 7): one row per connection per day, from a billing or
-- flow-log export (`switchboard usage import`) or the lab's fake export
-- (`switchboard lab usage`). Re-importing a day's row replaces it.
CREATE TABLE usage_daily (
    day           TEXT    NOT NULL,  -- YYYY-MM-DD (UTC)
    connection_id TEXT    NOT NULL,
    cloud         TEXT    NOT NULL,  -- the sending (billed) side
    path_kind     TEXT    NOT NULL,  -- the connection kind: direct_connect, internet, vpn…
    gigabytes     REAL    NOT NULL,  -- out over the connection that day
    peak_gbps     REAL,              -- the day's peak, when the export has it
    source        TEXT    NOT NULL,  -- 'import:<file>' or 'lab'
    PRIMARY KEY (day, connection_id)
);
CREATE INDEX usage_daily_connection ON usage_daily(connection_id, day);

-- Prediction alerts raised and not yet cleared: one row per subject (a path
-- or a connection) per condition. Inserting a row queues its alert and
-- deleting it queues its all-clear, in the same statement (triggers below),
-- so a forecast run every hour never repeats an alert and an alert is never
-- recorded without being queued.
CREATE TABLE forecast_conditions (
    subject    TEXT NOT NULL,
    condition  TEXT NOT NULL,
    raised_at  TEXT NOT NULL,
    channel    TEXT NOT NULL,
    alert      TEXT NOT NULL,  -- the Message JSON posted when raised
    all_clear  TEXT NOT NULL,  -- the Message JSON posted when cleared
    PRIMARY KEY (subject, condition)
);

CREATE TRIGGER forecast_condition_raised AFTER INSERT ON forecast_conditions
BEGIN
    INSERT INTO outbox (channel, message, created_at) VALUES (NEW.channel, NEW.alert, NEW.raised_at);
END;

CREATE TRIGGER forecast_condition_cleared AFTER DELETE ON forecast_conditions
BEGIN
    INSERT INTO outbox (channel, message, created_at)
    VALUES (OLD.channel, OLD.all_clear, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
