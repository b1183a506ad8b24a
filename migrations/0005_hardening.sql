-- Hardening after a security review (issue 13): family revocations, explicit token-exchange
-- delegation, server-side sessions, introspection rights and re-consent after redirect changes.

-- Revocation entries gain the `family` kind: one authorization (a refresh-token family) and
-- every token descending from it (the `fam` claim), whatever their `iat`. SQLite cannot change
-- a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE revocations_v2 (
  kind       TEXT NOT NULL CHECK (kind IN ('client', 'sub', 'jti', 'family')),
  id         TEXT NOT NULL,
  revoked_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (kind, id)
) STRICT;
INSERT INTO revocations_v2 (kind, id, revoked_at, expires_at)
  SELECT kind, id, revoked_at, expires_at FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_v2 RENAME TO revocations;

-- Token exchange (RFC 8693) only along delegations an admin configured: a client may exchange
-- subject tokens issued for `from` into tokens for `to`. `from = to` is the same-audience case,
-- which only narrows. The earlier per-agent sources become same-audience rules: crossing to
-- another resource server now needs an explicit rule.
CREATE TABLE exchange_rules (
  client_id               TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  from_resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  to_resource_server_id   TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  PRIMARY KEY (client_id, from_resource_server_id, to_resource_server_id)
) STRICT;
CREATE INDEX exchange_rules_from ON exchange_rules (from_resource_server_id);
CREATE INDEX exchange_rules_to ON exchange_rules (to_resource_server_id);
INSERT INTO exchange_rules (client_id, from_resource_server_id, to_resource_server_id)
  SELECT client_id, resource_server_id, resource_server_id FROM agent_exchange_sources;
DROP TABLE agent_exchange_sources;

-- Browser sessions, server-side so they can be ended: the cookie carries a random session id
-- (and a MAC); only its SHA-256 digest is stored. Logging out, a password change, disabling or
-- deleting the user and an admin's "sign out everywhere" delete the rows.
CREATE TABLE sessions (
  id_hash    TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  address    TEXT NOT NULL DEFAULT '',      -- where it was started (shown to the user)
  user_agent TEXT NOT NULL DEFAULT ''       -- truncated
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Which clients may introspect tokens issued for a resource server (besides the client a
-- token was issued to, and admins).
CREATE TABLE introspection_rights (
  client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  PRIMARY KEY (client_id, resource_server_id)
) STRICT;
CREATE INDEX introspection_rights_rs ON introspection_rights (resource_server_id);

-- When a client's redirect URIs last gained a new entry: consent given before that no longer
-- counts at the authorization endpoint (RFC 7592 updates need new consent).
ALTER TABLE clients ADD COLUMN redirect_uris_changed_at INTEGER;
