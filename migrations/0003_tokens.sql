-- Token service state (see crates/core/src/endpoints/token.rs and authorize.rs).
-- Codes and refresh tokens are stored only as SHA-256 digests.

-- Consent: the scopes a user approved for a client on a resource server (the grant). Tokens
-- carry grant ∩ what the user holds now ∩ the client's ceiling now.
CREATE TABLE grants (
  user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  scopes             TEXT NOT NULL,              -- JSON array of scope names
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id, resource_server_id)
) STRICT;
CREATE INDEX grants_client ON grants (client_id);

-- Authorization codes: single use (redeemed_at is set atomically), short-lived.
CREATE TABLE auth_codes (
  code_hash          TEXT PRIMARY KEY,
  client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  resource           TEXT NOT NULL,              -- its identifier (immutable), the token audience
  redirect_uri       TEXT NOT NULL,
  scopes             TEXT NOT NULL,              -- JSON array: requested scopes (the family's bound)
  code_challenge     TEXT NOT NULL,              -- PKCE S256
  created_at         INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  redeemed_at        INTEGER,
  family_id          TEXT,                       -- what the redemption issued, revoked on replay
  access_jti         TEXT,
  access_exp         INTEGER
) STRICT;
CREATE INDEX auth_codes_expiry ON auth_codes (expires_at);

-- Refresh-token families: one per authorization; every refresh rotates to a new generation.
CREATE TABLE refresh_families (
  id                 TEXT PRIMARY KEY,
  client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  scopes             TEXT NOT NULL,              -- JSON array: the most a refresh may ask for
  generation         INTEGER NOT NULL,
  access_jti         TEXT,                       -- latest access token issued from the family
  access_exp         INTEGER,
  created_at         INTEGER NOT NULL,
  last_used_at       INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,           -- absolute lifetime
  revoked_at         INTEGER,
  revoked_reason     TEXT
) STRICT;
CREATE INDEX refresh_families_client ON refresh_families (client_id);
CREATE INDEX refresh_families_user ON refresh_families (user_id, client_id, resource_server_id);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
  generation INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  -- Two concurrent rotations of one generation: the second insert fails, its batch rolls back.
  UNIQUE (family_id, generation)
) STRICT;

-- Resource servers whose users' tokens an agent may exchange (RFC 8693 subject tokens).
CREATE TABLE agent_exchange_sources (
  client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  PRIMARY KEY (client_id, resource_server_id)
) STRICT;

-- Failed-login counters per (username, address) and per address, in fixed windows.
CREATE TABLE login_failures (
  key          TEXT PRIMARY KEY,
  window_start INTEGER NOT NULL,
  failures     INTEGER NOT NULL
) STRICT;

-- Revocations: the source of truth at mcpgate (checked by refresh, exchange, introspection);
-- mirrored to KV for the revocation feed offline validators poll. A `client` or `sub` entry
-- revokes every token with iat <= revoked_at naming that client (as client_id or in the act
-- chain) or subject; a `jti` entry revokes one token. Entries live until the last token they
-- can affect has expired.
CREATE TABLE revocations (
  kind       TEXT NOT NULL CHECK (kind IN ('client', 'sub', 'jti')),
  id         TEXT NOT NULL,
  revoked_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (kind, id)
) STRICT;
