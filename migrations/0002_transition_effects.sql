-- Creating a workflow is one INSERT: its step rows (from the definition it
-- carries) and its audit entry follow from the row.
--
-- A workflow transition is one statement. The engine writes the new state and,
-- in `last_transition` (JSON), everything that goes with it: step row updates,
-- the approval decision, the audit entry and the outbox messages. These
-- triggers fan it out inside that same statement, so a transition and its
-- effects commit together or not at all, in one round trip to SQLite.
--
-- last_transition = {
--   "steps":    [{"idx", "status", "attempts", "output"?, "error"?, "started", "finished"}],
--   "approval": {"decision", "by", "reason"?} | null,
--   "audit":    {"actor", "action", "detail"},
--   "outbox":   [{"channel", "thread"?, "message"}]
-- }

ALTER TABLE workflows ADD COLUMN last_transition TEXT;

CREATE TRIGGER workflow_created AFTER INSERT ON workflows
BEGIN
    INSERT INTO workflow_steps (workflow_id, idx, name, action, status, attempts, started_at)
        SELECT NEW.id, s.key, json_extract(s.value, '$.name'), json_extract(s.value, '$.action'),
               CASE s.key WHEN 0 THEN 'running' ELSE 'pending' END,
               CASE s.key WHEN 0 THEN 1 ELSE 0 END,
               CASE s.key WHEN 0 THEN NEW.created_at END
        FROM json_each(NEW.definition, '$.steps') AS s;
    INSERT INTO audit_events (workflow_id, at, actor, action, detail)
        SELECT NEW.id, NEW.updated_at, json_extract(NEW.last_transition, '$.audit.actor'),
               json_extract(NEW.last_transition, '$.audit.action'),
               json_extract(NEW.last_transition, '$.audit.detail')
        WHERE json_type(NEW.last_transition, '$.audit') = 'object';
END;

CREATE TRIGGER workflow_transitioned AFTER UPDATE OF version ON workflows
WHEN NEW.last_transition IS NOT NULL
BEGIN
    UPDATE workflow_steps
    SET status = json_extract(s.value, '$.status'),
        attempts = json_extract(s.value, '$.attempts'),
        output = COALESCE(json_extract(s.value, '$.output'), output),
        error = json_extract(s.value, '$.error'),
        started_at = CASE WHEN json_extract(s.value, '$.started') THEN NEW.updated_at ELSE started_at END,
        finished_at = CASE WHEN json_extract(s.value, '$.finished') THEN NEW.updated_at END
    FROM (SELECT value FROM json_each(NEW.last_transition, '$.steps')) AS s
    WHERE workflow_steps.workflow_id = NEW.id
      AND workflow_steps.idx = json_extract(s.value, '$.idx');
    INSERT INTO approvals (workflow_id, decision, decided_by, reason, decided_at)
        SELECT NEW.id, json_extract(NEW.last_transition, '$.approval.decision'),
               json_extract(NEW.last_transition, '$.approval.by'),
               json_extract(NEW.last_transition, '$.approval.reason'), NEW.updated_at
        WHERE json_type(NEW.last_transition, '$.approval') = 'object';
    INSERT INTO audit_events (workflow_id, at, actor, action, detail)
        VALUES (NEW.id, NEW.updated_at, json_extract(NEW.last_transition, '$.audit.actor'),
                json_extract(NEW.last_transition, '$.audit.action'),
                json_extract(NEW.last_transition, '$.audit.detail'));
    INSERT INTO outbox (channel, thread, workflow_id, message, created_at)
        SELECT json_extract(m.value, '$.channel'), json_extract(m.value, '$.thread'), NEW.id,
               json_extract(m.value, '$.message'), NEW.updated_at
        FROM json_each(NEW.last_transition, '$.outbox') AS m
        ORDER BY m.key;
END;
