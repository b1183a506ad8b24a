-- Signing keys (see crates/core/src/keys.rs for the lifecycle).
-- The private scalar is sealed with AES-256-GCM under a key derived from MCPGATE_SECRET.
CREATE TABLE signing_keys (
  kid            TEXT PRIMARY KEY,          -- RFC 7638 thumbprint of the public key
  state          TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
  public_jwk     TEXT NOT NULL,             -- JSON, as published in the JWKS
  sealed_private TEXT NOT NULL,             -- v1.<nonce>.<ciphertext>, never leaves the server
  created_at     INTEGER NOT NULL,          -- unix seconds
  activated_at   INTEGER,                   -- when it started signing
  publish_until  INTEGER                    -- retired keys: end of the publication window
) STRICT;

-- At most one active and one next key: concurrent first-use generation and concurrent
-- rotations lose with a constraint violation instead of creating a second signer.
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state)
  WHERE state IN ('active', 'next');
