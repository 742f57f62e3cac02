-- Chat delivery: where each outbox message landed on the platform, and one
-- thread per workflow.
--
-- `platform` / `platform_ts` are set on the outbox row in the same UPDATE that
-- marks it delivered (the console leaves them NULL). The trigger below then
-- records, in that same statement:
--   * the thread root: the first delivered message of a thread key (`wf-N`)
--     in a channel becomes the thread every later message of it is posted in;
--   * the approval card: a delivered message with buttons is the card that is
--     updated in place (buttons removed) when the decision lands.
ALTER TABLE outbox ADD COLUMN platform TEXT;
ALTER TABLE outbox ADD COLUMN platform_ts TEXT;

CREATE TABLE chat_threads (
    platform       TEXT    NOT NULL,
    channel        TEXT    NOT NULL,
    -- The outbox's thread key: `wf-N` for a workflow's messages.
    thread_key     TEXT    NOT NULL,
    thread_ts      TEXT    NOT NULL,
    card_ts        TEXT,
    card_outbox_id INTEGER,
    card_closed    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (platform, channel, thread_key)
);

CREATE TRIGGER outbox_delivered_on_platform
AFTER UPDATE OF delivered_at ON outbox
WHEN NEW.platform IS NOT NULL AND NEW.platform_ts IS NOT NULL AND NEW.thread IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO chat_threads (platform, channel, thread_key, thread_ts)
        VALUES (NEW.platform, NEW.channel, NEW.thread, NEW.platform_ts);
    UPDATE chat_threads SET card_ts = NEW.platform_ts, card_outbox_id = NEW.id, card_closed = 0
        WHERE platform = NEW.platform AND channel = NEW.channel AND thread_key = NEW.thread
          AND COALESCE(json_array_length(NEW.message, '$.buttons'), 0) > 0;
END;
