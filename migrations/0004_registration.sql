-- Fixed-window rate counters (client registration; see crates/core/src/endpoints/register.rs).
CREATE TABLE rate_counters (
  key          TEXT PRIMARY KEY,
  window_start INTEGER NOT NULL,
  count        INTEGER NOT NULL
) STRICT;

-- Cleanup of registrations never used (scheduled task) scans by kind and age.
CREATE INDEX clients_unused ON clients (kind, last_used_at, created_at);
