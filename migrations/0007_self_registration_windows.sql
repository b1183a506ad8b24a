-- A self-registered client (dynamic registration, or a client ID metadata document seen for the
-- first time) may reach the resource servers that accepted self-registered clients when it was
-- registered. Registration used to copy that list into `client_resources`, one row per open
-- server, which made each registration cost grow with the number of open servers. Instead each
-- server records since when it has been open without a break; a self-registered client without
-- `client_resources` rows reaches the servers open since before it was registered. Clients
-- registered before this migration keep their rows (which still decide for them).
ALTER TABLE resource_servers ADD COLUMN self_registration_opened_at INTEGER;
UPDATE resource_servers SET self_registration_opened_at = 0 WHERE allow_self_registered = 1;
CREATE INDEX resource_servers_self_registration_opened ON resource_servers (self_registration_opened_at);
