-- The console filters the audit log by actor or by target, newest first: each filter walks its
-- own index backwards instead of the whole log.
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_target ON audit_log (target_id, id);
