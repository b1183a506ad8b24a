// Seeds the demo configuration through the admin API, idempotently, and prints how to use it.
// State (admin client, demo secrets) is kept in .wrangler/demo.json next to the local D1/KV.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';

const [issuer, bootstrapToken, notesUrl, gatewayUrl, idpIssuer] = process.argv.slice(2);
const STATE = '.wrangler/demo.json';
const state = existsSync(STATE) ? JSON.parse(readFileSync(STATE, 'utf8')) : {};
const save = () => { mkdirSync('.wrangler', { recursive: true }); writeFileSync(STATE, JSON.stringify(state, null, 2), { mode: 0o600 }); };

async function req(path, { method = 'GET', json, token, form, basic } = {}) {
  const headers = {};
  let body;
  if (token) headers.authorization = `Bearer ${token}`;
  if (basic) headers.authorization = 'Basic ' + Buffer.from(`${basic[0]}:${basic[1]}`).toString('base64');
  if (json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(json); }
  if (form) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(form).toString(); }
  const r = await fetch(issuer + path, { method, headers, body });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

if (!state.admin) {
  const r = await req('/admin/v1/bootstrap', { method: 'POST', token: bootstrapToken });
  if (r.status !== 201) throw new Error(`bootstrap failed (${r.status}): ${JSON.stringify(r.body)}. Delete .wrangler to start over.`);
  state.admin = { client_id: r.body.client_id, client_secret: r.body.client_secret };
  save();
}
const tok = await req('/token', { method: 'POST', form: { grant_type: 'client_credentials', resource: `${issuer}/admin/v1` }, basic: [state.admin.client_id, state.admin.client_secret] });
if (tok.status !== 200) throw new Error(`admin token: ${JSON.stringify(tok.body)}`);
const token = tok.body.access_token;
const api = (path, opts = {}) => req(`/admin/v1${path}`, { ...opts, token });
async function list(path) { return (await api(`${path}?limit=200`)).body.items; }
async function ensure(path, match, json) {
  const found = (await list(path)).find(match);
  if (found) return found;
  const r = await api(path, { method: 'POST', json });
  if (r.status !== 201) throw new Error(`${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const rs = await ensure('/resource-servers', (r) => r.identifier === notesUrl, {
  identifier: notesUrl, name: 'Demo notes', description: 'The example MCP server (examples/notes-mcp)',
  scopes: [
    { name: 'notes.read', description: 'Read your notes' },
    { name: 'notes.write', description: 'Create and edit notes', implies: ['notes.read'] },
    { name: 'notes.delete', description: 'Delete notes' },
  ],
});
// The same server through the gateway (gateway/): its own resource, the same scope names, and
// the tool map the gateway enforces.
const gw = gatewayUrl && await ensure('/resource-servers', (r) => r.identifier === gatewayUrl, {
  identifier: gatewayUrl, name: 'Demo notes (through the gateway)', description: 'examples/notes-mcp behind gateway/',
  unmapped_tools: 'deny',
  scopes: [
    { name: 'notes.read', description: 'Read your notes', tools: ['list_notes', 'read_note'] },
    { name: 'notes.write', description: 'Create and edit notes', implies: ['notes.read'], tools: ['create_note', 'update_note'] },
    { name: 'notes.delete', description: 'Delete notes', tools: ['delete_note'] },
  ],
});
const servers = [rs, gw].filter(Boolean);
const role = (name, scopes) => ensure('/roles', (r) => r.name === name, { name, scopes: servers.flatMap((s) => scopes.map((scope) => ({ resource: s.identifier, scope }))) });
const reader = await role('notes-reader', ['notes.read']);
const editor = await role('notes-editor', ['notes.write']);
const adminRole = await role('notes-admin', ['notes.write', 'notes.delete']);
const group = await ensure('/groups', (g) => g.name === 'notes-team', { name: 'notes-team', description: 'People and agents working on notes' });
await api(`/groups/${group.id}/roles/${editor.id}`, { method: 'PUT' });
let user = (await list('/users')).find((u) => u.username === 'demo');
if (!user) {
  user = (await api('/users', { method: 'POST', json: { username: 'demo', display_name: 'Demo User' } })).body;
  state.user = { username: 'demo', password: user.password };
  save();
}
await api(`/users/${user.id}/roles/${reader.id}`, { method: 'PUT' });
await api(`/groups/${group.id}/users/${user.id}`, { method: 'PUT' });
// An administrator for the console: a person like any other, with the built-in admin role.
let adminUser = (await list('/users')).find((u) => u.username === 'admin');
if (!adminUser) {
  adminUser = (await api('/users', { method: 'POST', json: { username: 'admin', display_name: 'Demo Admin' } })).body;
  state.adminUser = { username: 'admin', password: adminUser.password };
  save();
}
await api(`/users/${adminUser.id}/roles/rol_mcpgate_admin`, { method: 'PUT' });
if (!state.agent) {
  const a = (await api('/agents', { method: 'POST', json: { name: 'Demo summariser', owner: 'demo@example.com', groups: [group.id] } })).body;
  state.agent = { client_id: a.client_id, client_secret: a.client_secret };
  save();
}
if (!state.app) {
  const a = (await api('/applications', { method: 'POST', json: {
    name: 'Demo MCP client', client_type: 'public', application_type: 'native',
    redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'], roles: [adminRole.id],
  } })).body;
  state.app = { client_id: a.client_id };
  save();
}
// A local OpenID provider next to the demo (.ci/dev-idp.mjs starts it): "Sign in with Demo
// SSO" on the login page; its people are created just in time, and its group "notes" maps to
// notes-team.
let idp = null;
if (idpIssuer) {
  if (!state.idp) {
    state.idp = { client_id: 'mcpgate-demo', client_secret: (await import('node:crypto')).randomBytes(24).toString('base64url') };
    save();
  }
  idp = await ensure('/identity-providers', (p) => p.issuer === idpIssuer, {
    issuer: idpIssuer, display_name: 'Demo SSO', client_id: state.idp.client_id, client_secret: state.idp.client_secret,
    scopes: 'openid email profile groups', group_mappings: [{ value: 'notes', group_id: group.id }],
  });
  state.idp.id = idp.id;
  state.idp.redirect_uri = idp.redirect_uri;
  state.idp.issuer = idpIssuer;
  save();
}

console.log(`
  Demo configuration (kept in ${STATE}):
    MCP server (resource)  ${rs.identifier}   scopes notes.read < notes.write, notes.delete
${gw ? `    through the gateway    ${gw.identifier}   same scopes; tool map: curl -s '${issuer}/resource-policy?resource=${encodeURIComponent(gw.identifier)}'
` : ''}    roles                  notes-reader, notes-editor (group notes-team), notes-admin
    user                   ${state.user?.username ?? 'demo'} / ${state.user?.password ?? '(see ' + STATE + ')'}   (notes-reader, member of notes-team)
    agent                  ${state.agent.client_id} / ${state.agent.client_secret}   (notes-team)
    application (public)   ${state.app.client_id}   redirect http://127.0.0.1/callback (any port)
    admin client           ${state.admin.client_id} / ${state.admin.client_secret}
    admin console          ${issuer}/console   sign in as ${state.adminUser?.username ?? 'admin'} / ${state.adminUser?.password ?? '(see ' + STATE + ')'}
${idp ? `    identity provider      Demo SSO at ${idp.issuer} (any login and password; its people join notes-team)
` : ''}
  Try:
    # an agent token (client_credentials), then look at it
    curl -s -u ${state.agent.client_id}:${state.agent.client_secret} -d grant_type=client_credentials \\
         --data-urlencode resource=${rs.identifier} ${issuer}/token
    # an admin token, then the directory
    ADMIN=$(curl -s -u ${state.admin.client_id}:${state.admin.client_secret} -d grant_type=client_credentials \\
         --data-urlencode resource=${issuer}/admin/v1 ${issuer}/token | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')
    curl -s -H "Authorization: Bearer $ADMIN" "${issuer}/admin/v1/explain?principal=${user.id}&resource=${encodeURIComponent(rs.identifier)}"
    # the login + consent pages, in a browser:
    ${issuer}/authorize?response_type=code&client_id=${state.app.client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=${encodeURIComponent(rs.identifier)}&scope=notes.read
`);
