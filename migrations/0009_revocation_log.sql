-- The revocation log: every change to `revocations` in commit order, numbered. D1 (one writer)
-- assigns the numbers inside the transaction that revokes, so a reader never sees a number
-- before every lower one has committed. The revocation hub (a Durable Object) reads the log
-- after the last number it published, writes it to KV as immutable segments plus a small head,
-- and pushes it to connected validators; the feed reads those, so a request costs what changed
-- since its cursor, not what exists. Triggers keep every writer of `revocations` covered.
CREATE TABLE revocation_log (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  kind       TEXT NOT NULL,
  id         TEXT NOT NULL,
  revoked_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX revocation_log_expires ON revocation_log (expires_at);

CREATE TRIGGER revocations_logged_insert AFTER INSERT ON revocations
BEGIN
  INSERT INTO revocation_log (kind, id, revoked_at, expires_at)
    VALUES (NEW.kind, NEW.id, NEW.revoked_at, NEW.expires_at);
END;

CREATE TRIGGER revocations_logged_update AFTER UPDATE ON revocations
  WHEN NEW.revoked_at <> OLD.revoked_at OR NEW.expires_at <> OLD.expires_at
BEGIN
  INSERT INTO revocation_log (kind, id, revoked_at, expires_at)
    VALUES (NEW.kind, NEW.id, NEW.revoked_at, NEW.expires_at);
END;

-- What was revoked before the log existed is published once, oldest first.
INSERT INTO revocation_log (kind, id, revoked_at, expires_at)
  SELECT kind, id, revoked_at, expires_at FROM revocations ORDER BY revoked_at, kind, id;
