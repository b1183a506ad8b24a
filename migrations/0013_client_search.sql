-- The console searches clients by name prefix (names are not unique: paged by name and id).
CREATE INDEX clients_name ON clients (name, id);
