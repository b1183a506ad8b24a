-- What issuance records, so a revocation's blast radius counts live access tokens and not only
-- refresh-token families (an agent's client_credentials token, a token obtained by exchange).
-- One row per (client the token went through, resource server, subject): `via` is the client
-- the token was issued to (`actor` 0), or a client in its `act` chain (`actor` 1). `expires_at` covers every token
-- issued through the row up to an hour after `last_issued_at` (the row is rewritten only when a
-- new token would outlive it, so at most once an hour per row). Pruned by the scheduled task.
CREATE TABLE issuances (
  via                TEXT NOT NULL,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  subject            TEXT NOT NULL,
  actor              INTEGER NOT NULL DEFAULT 0 CHECK (actor IN (0, 1)),
  last_issued_at     INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  PRIMARY KEY (via, resource_server_id, subject)
);
CREATE INDEX issuances_subject ON issuances (subject, expires_at);
CREATE INDEX issuances_resource_server ON issuances (resource_server_id);
CREATE INDEX issuances_expires ON issuances (expires_at);
