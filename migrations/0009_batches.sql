-- Bulk requests: one CSV file becomes a batch of workflows with one approval
-- card. Each line of the file becomes a workflow or a refusal with its reason
-- (a bad row never stops the others).

CREATE TABLE batches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    requester  TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    -- the file's name as given (for people; the rows hold the content)
    source     TEXT    NOT NULL,
    -- how many lines of the file are rows (workflows + refusals once submitted)
    rows_total INTEGER NOT NULL,
    -- the file's good rows, [{"line": 2, "request": "connect …"}], kept so a
    -- submission cut short (a crash) is finished at the next start
    rows       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

-- The lines of a batch's file that did not become workflows, and why.
CREATE TABLE batch_refusals (
    batch_id     INTEGER NOT NULL REFERENCES batches(id),
    line         INTEGER NOT NULL,
    request_text TEXT    NOT NULL,
    error        TEXT    NOT NULL,
    PRIMARY KEY (batch_id, line)
);

-- A workflow started by a batch (from line `batch_line` of its file) speaks
-- through the batch's card and summary, not through a thread of its own.
ALTER TABLE workflows ADD COLUMN batch_id INTEGER REFERENCES batches(id);
ALTER TABLE workflows ADD COLUMN batch_line INTEGER;
-- One workflow per line of a batch, whoever submits it.
CREATE UNIQUE INDEX workflows_batch ON workflows(batch_id, batch_line) WHERE batch_id IS NOT NULL;

-- A message queued at most once whoever queues it (a batch's card, its
-- summary): a second INSERT OR IGNORE with the same key is a no-op.
ALTER TABLE outbox ADD COLUMN once_key TEXT;
CREATE UNIQUE INDEX outbox_once ON outbox(once_key) WHERE once_key IS NOT NULL;
