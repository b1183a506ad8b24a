// Revocation in one place, over HTTP: tokens from a machine client, an agent acting for a user
// (token exchange) and a user; each revoked by disabling its client, agent or user. mcpgate
// refuses at once; the example MCP server, validating offline with mcpgate-guard (poll 1 s),
// rejects within the bound and keeps accepting the others; re-enabling does not resurrect; the
// KV entries carry an expiration no earlier than the last token they affect.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { BASE, admin, form } from './lib/client.mjs';
import { launch } from './lib/browser.mjs';
import { discover, browserCodeFlow } from './lib/flows.mjs';
import { startNotesMcp, mcpStatus as mcpStatusOf, untilStatus } from './lib/mcp.mjs';
import { ROOT } from './lib/worker.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const AGENT_RS = `http://127.0.0.1:9/rev-agent-${uniq}/mcp`;
const REDIRECT = 'http://127.0.0.1:8999/callback';
const PASSWORD = 'correct horse battery staple';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
let as, browser, notes;
const f = {};
const t = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const mcpStatus = (token) => mcpStatusOf(notes.resource, token);
const until = (token, status, limitMs) => untilStatus(notes.resource, token, status, limitMs);

/** Introspection at mcpgate, by the agent (a confidential client). */
async function active(token) {
  const r = await form('/introspect', { token }, { basic: f.introspector });
  return r.body.active;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  as = await discover();
  browser = await launch();
  notes = await startNotesMcp(BASE, { pollSecs: 1 });
  const NOTES = notes.resource;
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: NOTES, name: 'Notes', scopes: [{ name: 'notes.read' }, { name: 'notes.write' }] } });
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: AGENT_RS, name: 'Agent', scopes: [{ name: 'agent.use' }] } });
  const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `rev-${uniq}`, scopes: [{ resource: NOTES, scope: 'notes.read' }, { resource: AGENT_RS, scope: 'agent.use' }] } })).id;
  f.username = `rev-${uniq}`;
  f.user = (await ok('/admin/v1/users', { method: 'POST', json: { username: f.username, password: PASSWORD } })).id;
  await ok(`/admin/v1/users/${f.user}/roles/${role}`, { method: 'PUT' });
  f.app = (await ok('/admin/v1/applications', { method: 'POST', json: { name: 'Rev app', client_type: 'public', application_type: 'native', redirect_uris: [REDIRECT], roles: [role] } })).client_id;
  const m2m = await ok('/admin/v1/applications', { method: 'POST', json: { name: 'Rev m2m', client_type: 'confidential', grant_types: ['client_credentials'], roles: [role] } });
  f.m2m = [m2m.client_id, m2m.client_secret];
  const group = (await ok('/admin/v1/groups', { method: 'POST', json: { name: `rev-bots-${uniq}` } })).id;
  await ok(`/admin/v1/groups/${group}/roles/${role}`, { method: 'PUT' });
  const agent = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'Rev agent', owner: 'ops', groups: [group], exchange: [{ from: AGENT_RS, to: NOTES }] } });
  f.agent = [agent.client_id, agent.client_secret];
  const spare = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'Introspector', owner: 'ops', introspect: [NOTES, AGENT_RS] } });
  f.introspector = [spare.client_id, spare.client_secret];

  const cc = await form('/token', { grant_type: 'client_credentials', resource: NOTES }, { basic: f.m2m });
  t.machine = cc.body.access_token;
  const user = await browserCodeFlow({ as, browser, clientId: f.app, redirect: REDIRECT, resource: NOTES, scope: 'notes.read', username: f.username, password: PASSWORD });
  t.user = user.access_token;
  t.userRefresh = user.refresh_token;
  const forAgent = await browserCodeFlow({ as, browser, clientId: f.app, redirect: REDIRECT, resource: AGENT_RS, scope: 'agent.use', username: f.username, password: PASSWORD });
  const ex = await form('/token', { grant_type: EXCHANGE, subject_token: forAgent.access_token, subject_token_type: AT, resource: NOTES }, { basic: f.agent });
  assert.equal(ex.status, 200, JSON.stringify(ex.body));
  t.delegated = ex.body.access_token;
  for (const k of ['machine', 'user', 'delegated']) assert.equal(await mcpStatus(t[k]), 200, k);
  // Tokens issued in the same second as a revocation count as revoked (iat <= revoked_at).
  await sleep(1100);
});

after(async () => {
  await notes?.stop();
  await browser?.close();
});

describe('revocation in one place', () => {
  test('disabling a machine client: refused at once by mcpgate, within the bound by the MCP server', async () => {
    // The preview counts the client_credentials token it just got, on the server it reaches.
    const radius = await ok(`/admin/v1/clients/${f.m2m[0]}/blast-radius`);
    assert.equal(radius.live_token_grants, 1, JSON.stringify(radius));
    assert.equal(radius.resource_servers, 1);
    assert.deepEqual(radius.by_resource_server, [{ resource_server: notes.resource, refresh_families: 0, live_token_grants: 1 }]);
    await ok(`/admin/v1/clients/${f.m2m[0]}`, { method: 'PATCH', json: { status: 'disabled', reason: 'rotated out' } });
    assert.equal(await active(t.machine), false, 'introspection, at once');
    const cc = await form('/token', { grant_type: 'client_credentials', resource: notes.resource }, { basic: f.m2m });
    assert.equal(cc.body.error, 'invalid_client', 'client_credentials, at once');
    const ms = await until(t.machine, 401);
    console.log(`    machine token rejected by the MCP server after ${ms} ms`);
    assert.equal(await mcpStatus(t.user), 200, 'other tokens keep working');
    assert.equal(await mcpStatus(t.delegated), 200);
  });

  test('disabling an agent revokes what it obtained by token exchange', async () => {
    const radius = await ok(`/admin/v1/clients/${f.agent[0]}/blast-radius`);
    assert.equal(radius.live_token_grants, 1, `the user's token through it: ${JSON.stringify(radius)}`);
    assert.equal(radius.distinct_users, 1);
    await ok(`/admin/v1/agents/${f.agent[0]}`, { method: 'PATCH', json: { status: 'disabled' } });
    assert.equal(await active(t.delegated), false);
    await until(t.delegated, 401);
    assert.equal(await mcpStatus(t.user), 200);
  });

  test('disabling a user revokes tokens whose subject they are, refresh included', async () => {
    await ok(`/admin/v1/users/${f.user}`, { method: 'PATCH', json: { status: 'disabled' } });
    assert.equal(await active(t.user), false);
    const r = await oauth.refreshTokenGrantRequest(as, { client_id: f.app }, oauth.None(), t.userRefresh, { [oauth.allowInsecureRequests]: true });
    assert.equal((await r.json()).error, 'invalid_grant', 'refresh, at once');
    await until(t.user, 401);
  });

  test('re-enabling never resurrects earlier tokens; new ones work', async () => {
    await ok(`/admin/v1/clients/${f.m2m[0]}`, { method: 'PATCH', json: { status: 'active' } });
    await sleep(1100);
    assert.equal(await active(t.machine), false);
    assert.equal(await mcpStatus(t.machine), 401);
    const cc = await form('/token', { grant_type: 'client_credentials', resource: notes.resource }, { basic: f.m2m });
    assert.equal(cc.status, 200);
    await until(cc.body.access_token, 200);
  });

  test('the KV list is a head and segments, its entries outliving the last token they affect', async () => {
    const persist = process.env.MCPGATE_PERSIST;
    const wrangler = (...args) => execFileSync(join(ROOT, 'node_modules/.bin/wrangler'), ['kv', 'key', ...args, '--binding', 'REVOCATIONS', '--local', '--persist-to', persist], {
      cwd: ROOT, env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false' }, encoding: 'utf8',
    });
    const listed = wrangler('list');
    const keys = JSON.parse(listed.slice(listed.indexOf('[')));
    assert.ok(keys.every((k) => k.name === 'head' || /^seg:\d+$/.test(k.name)), JSON.stringify(keys.map((k) => k.name)));
    const raw = wrangler('get', 'head');
    const head = JSON.parse(raw.slice(raw.indexOf('{')));
    assert.ok(head.seq > 0 && Array.isArray(head.open), raw);
    const exp = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).exp;
    const find = (kind, id) => head.open.find((e) => e.kind === kind && e.id === id);
    const entry = find('client', f.m2m[0]);
    assert.ok(entry, JSON.stringify(head.open.map((e) => `${e.kind}:${e.id}`)));
    assert.ok(entry.expires_at >= exp(t.machine), `entry expires ${entry.expires_at} < token exp ${exp(t.machine)}`);
    const sub = find('sub', f.user);
    assert.ok(sub && sub.expires_at >= exp(t.user));
    const seqs = head.open.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'in log order');
  });
});
