-- The directory: who may do what (see crates/core/src/directory/).
-- Identifiers are opaque strings with a type prefix (rs_, scp_, rol_, usr_, grp_; clients:
-- app_, agt_, dcr_, or an https URL for metadata-document clients).
-- Foreign keys: owned rows cascade; role assignments RESTRICT so a role in use cannot be deleted.

CREATE TABLE resource_servers (
  id                         TEXT PRIMARY KEY,
  kind                       TEXT NOT NULL CHECK (kind IN ('mcp', 'api')),
  identifier                 TEXT NOT NULL UNIQUE,   -- canonical URL = the token audience
  name                       TEXT NOT NULL,
  description                TEXT NOT NULL DEFAULT '',
  access_token_ttl           INTEGER NOT NULL CHECK (access_token_ttl > 0),  -- seconds
  allow_self_registered      INTEGER NOT NULL DEFAULT 1 CHECK (allow_self_registered IN (0, 1)),
  self_registered_max_scopes TEXT,                   -- JSON array of scope names; NULL = no cap
  default_scopes             TEXT,                   -- JSON array; NULL = all the subject may grant
  created_at                 INTEGER NOT NULL,
  updated_at                 INTEGER NOT NULL
) STRICT;

CREATE TABLE scopes (
  id                 TEXT PRIMARY KEY,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  name               TEXT NOT NULL,
  description        TEXT NOT NULL DEFAULT '',
  created_at         INTEGER NOT NULL,
  UNIQUE (resource_server_id, name)
) STRICT;

-- scope_id implies implied_id (same resource server): holding notes.admin gives notes.write.
CREATE TABLE scope_implies (
  scope_id   TEXT NOT NULL REFERENCES scopes (id) ON DELETE CASCADE,
  implied_id TEXT NOT NULL REFERENCES scopes (id) ON DELETE CASCADE,
  PRIMARY KEY (scope_id, implied_id),
  CHECK (scope_id <> implied_id)
) STRICT;
CREATE INDEX scope_implies_implied ON scope_implies (implied_id);

CREATE TABLE roles (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE role_scopes (
  role_id  TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  scope_id TEXT NOT NULL REFERENCES scopes (id) ON DELETE CASCADE,
  PRIMARY KEY (role_id, scope_id)
) STRICT;
CREATE INDEX role_scopes_scope ON role_scopes (scope_id);

CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,                -- lower-case
  display_name  TEXT NOT NULL DEFAULT '',
  status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
  password_hash TEXT,                                -- pbkdf2-sha256$<iterations>$<salt>$<hash>
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  disabled_at   INTEGER
) STRICT;

CREATE TABLE groups (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT;

-- Every OAuth client: applications, agents, dynamically registered (RFC 7591) and
-- metadata-document clients.
CREATE TABLE clients (
  id                         TEXT PRIMARY KEY,       -- the client_id
  kind                       TEXT NOT NULL CHECK (kind IN ('application', 'agent', 'dynamic', 'metadata')),
  name                       TEXT NOT NULL,
  description                TEXT NOT NULL DEFAULT '',
  client_type                TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
  token_endpoint_auth_method TEXT NOT NULL
    CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
  auth_method_strict         INTEGER NOT NULL DEFAULT 0 CHECK (auth_method_strict IN (0, 1)),
  secret_hash                TEXT,                   -- SHA-256 of a 256-bit secret
  secret_rotated_at          INTEGER,
  redirect_uris              TEXT NOT NULL DEFAULT '[]',   -- JSON array
  grant_types                TEXT NOT NULL DEFAULT '[]',   -- JSON array
  owner                      TEXT,
  status                     TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
  metadata                   TEXT NOT NULL DEFAULT '{}',   -- RFC 7591 metadata as registered
  registration_token_hash    TEXT,                   -- RFC 7592 registration access token
  created_at                 INTEGER NOT NULL,
  updated_at                 INTEGER NOT NULL,
  last_used_at               INTEGER,
  disabled_at                INTEGER,
  CHECK ((client_type = 'public') = (token_endpoint_auth_method = 'none'))
) STRICT;
CREATE INDEX clients_kind ON clients (kind, id);

-- If a client has rows here, it may obtain tokens only for these resource servers.
CREATE TABLE client_resources (
  client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  resource_server_id TEXT NOT NULL REFERENCES resource_servers (id) ON DELETE CASCADE,
  PRIMARY KEY (client_id, resource_server_id)
) STRICT;

CREATE TABLE group_users (
  group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX group_users_user ON group_users (user_id);

CREATE TABLE group_agents (
  group_id  TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, client_id)
) STRICT;
CREATE INDEX group_agents_client ON group_agents (client_id);

CREATE TABLE user_roles (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
  PRIMARY KEY (user_id, role_id)
) STRICT;
CREATE INDEX user_roles_role ON user_roles (role_id);

CREATE TABLE group_roles (
  group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  role_id  TEXT NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
  PRIMARY KEY (group_id, role_id)
) STRICT;
CREATE INDEX group_roles_role ON group_roles (role_id);

CREATE TABLE client_roles (
  client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  role_id   TEXT NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
  PRIMARY KEY (client_id, role_id)
) STRICT;
CREATE INDEX client_roles_role ON client_roles (role_id);

-- Every admin change, written in the same transaction as the change itself.
CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id   TEXT NOT NULL,
  detail      TEXT NOT NULL DEFAULT '{}'
) STRICT;
