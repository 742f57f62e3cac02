-- Every call to a language model (or refused before it was made: budget),
-- so an approver can see what the model was asked and what it answered, and
-- the monthly token budget can be summed. Prompt text is stored redacted.
CREATE TABLE llm_calls (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             TEXT    NOT NULL,
    prompt         TEXT    NOT NULL,
    prompt_version INTEGER NOT NULL,
    content_hash   TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    latency_ms     INTEGER NOT NULL DEFAULT 0,
    -- ok, refused, malformed, timeout, error, budget
    outcome        TEXT    NOT NULL,
    error          TEXT,
    workflow_id    INTEGER REFERENCES workflows(id),
    step           TEXT,
    prompt_text    TEXT    NOT NULL,
    answer_text    TEXT
);

CREATE INDEX llm_calls_at ON llm_calls (at);
CREATE INDEX llm_calls_workflow ON llm_calls (workflow_id);
