-- The tool map: which MCP tools each scope covers, so a gateway (or any MCP server) enforces
-- per-tool scopes decided in the directory. `tools` is a JSON array of tool names, each exact
-- or ending in `*` (a prefix pattern; `*` alone covers every tool). A tool no scope covers is
-- refused, or allowed to any valid token, as the resource server's `unmapped_tools` says.
ALTER TABLE scopes ADD COLUMN tools TEXT NOT NULL DEFAULT '[]';
ALTER TABLE resource_servers ADD COLUMN unmapped_tools TEXT NOT NULL DEFAULT 'deny'
  CHECK (unmapped_tools IN ('deny', 'allow'));
