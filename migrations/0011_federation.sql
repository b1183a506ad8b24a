-- Federation: upstream OpenID Connect providers people sign in with, the upstream identities
-- linked to users (keyed by provider and subject, never by email), the rules that map upstream
-- group claims to groups, and the single-use record of identity assertions (ID-JAG, RFC 7523).

CREATE TABLE identity_providers (
  id                   TEXT PRIMARY KEY,                      -- idp_...
  issuer               TEXT NOT NULL UNIQUE,                  -- exact `iss` of its ID tokens
  display_name         TEXT NOT NULL,
  button_label         TEXT,                                  -- NULL: "Sign in with <display_name>"
  client_id            TEXT NOT NULL,
  client_secret_sealed TEXT,                                  -- AES-256-GCM; NULL: public client
  scopes               TEXT NOT NULL DEFAULT 'openid email profile',
  email_domains        TEXT NOT NULL DEFAULT '[]',            -- JSON array, lower-case
  provisioning         TEXT NOT NULL DEFAULT 'jit' CHECK (provisioning IN ('jit', 'existing')),
  link_verified_email  INTEGER NOT NULL DEFAULT 0 CHECK (link_verified_email IN (0, 1)),
  groups_claim         TEXT NOT NULL DEFAULT 'groups',
  id_jag               INTEGER NOT NULL DEFAULT 0 CHECK (id_jag IN (0, 1)),
  status               TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
) STRICT;

CREATE TABLE federated_identities (
  provider_id     TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
  subject         TEXT NOT NULL,
  user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email           TEXT,
  created_at      INTEGER NOT NULL,
  last_sign_in_at INTEGER,
  PRIMARY KEY (provider_id, subject)
) STRICT;
CREATE INDEX federated_identities_user ON federated_identities (user_id);

CREATE TABLE group_mappings (
  provider_id TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
  value       TEXT NOT NULL,                                  -- a value of the groups claim
  group_id    TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  PRIMARY KEY (provider_id, value, group_id)
) STRICT;
CREATE INDEX group_mappings_group ON group_mappings (group_id);

-- A membership a provider's mapping made (NULL: an admin's). Sign-in re-applies the mapping and
-- removes only memberships the same provider made.
ALTER TABLE group_users ADD COLUMN via_provider TEXT
  REFERENCES identity_providers (id) ON DELETE CASCADE;
CREATE INDEX group_users_via_provider ON group_users (via_provider);

-- Identity assertions (ID-JAG) seen, until they expire: each `jti` is accepted once per issuer.
CREATE TABLE assertion_jtis (
  issuer     TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, jti)
) STRICT;
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expires_at);
