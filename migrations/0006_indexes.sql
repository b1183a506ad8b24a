-- Indexes found missing by the query-plan check (every statement the service issues is run
-- through EXPLAIN QUERY PLAN in the native tests, and a full scan of a table that grows fails):
-- every foreign key gets an index on its referencing column, so a cascade from deleting a user,
-- client or resource server searches instead of scanning the child table.
CREATE INDEX client_resources_rs ON client_resources (resource_server_id);
CREATE INDEX grants_rs ON grants (resource_server_id);
CREATE INDEX auth_codes_rs ON auth_codes (resource_server_id);
CREATE INDEX auth_codes_user ON auth_codes (user_id);
CREATE INDEX auth_codes_client ON auth_codes (client_id);
CREATE INDEX refresh_families_rs ON refresh_families (resource_server_id);
-- Dynamic registration reads the resource servers open to self-registered clients.
CREATE INDEX resource_servers_self_registered ON resource_servers (id) WHERE allow_self_registered = 1;
-- Migration 0005 rebuilt `revocations`, which dropped its indexes: the feed reads by
-- revocation time, the cron prunes by expiry.
CREATE INDEX IF NOT EXISTS revocations_revoked ON revocations (revoked_at);
CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations (expires_at);
-- The cron prunes in bounded batches, oldest or expired first, by these.
CREATE INDEX rate_counters_window ON rate_counters (window_start);
CREATE INDEX login_failures_window ON login_failures (window_start);
CREATE INDEX refresh_families_expiry ON refresh_families (expires_at);
CREATE INDEX refresh_families_revoked ON refresh_families (revoked_at);
CREATE INDEX audit_log_at ON audit_log (at);
