// The whole system with a client nobody on this team wrote: the official MCP TypeScript SDK
// connects to the example MCP server knowing only its URL. 401 -> protected resource metadata ->
// mcpgate metadata -> dynamic registration -> authorize with PKCE and resource -> login and
// consent (Chromium) -> token -> tools. Then: 403 insufficient_scope, a role granted by an admin
// reaching the client through refresh (grant model), step-up by re-authorization, and
// revocation reaching the MCP server within the bound.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, admin, call } from './lib/client.mjs';
import { launch } from './lib/browser.mjs';
import { TestProvider, connect, callTool, startNotesMcp } from './lib/mcp.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const PASSWORD = 'correct horse battery staple';
let notes, browser;
const f = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  browser = await launch();
  notes = await startNotesMcp(BASE, { pollSecs: 1 });
  const rs = await ok('/admin/v1/resource-servers', { method: 'POST', json: {
    identifier: notes.resource, name: 'Notes (example MCP server)',
    scopes: [
      { name: 'notes.read', description: 'Read your notes' },
      { name: 'notes.write', description: 'Create and edit notes', implies: ['notes.read'] },
      { name: 'notes.delete', description: 'Delete notes' },
    ],
  } });
  f.rs = rs.id;
  const role = async (name, scopes) => (await ok('/admin/v1/roles', { method: 'POST', json: { name: `${name}-${uniq}`, scopes: scopes.map((scope) => ({ resource: notes.resource, scope })) } })).id;
  f.reader = await role('sdk-reader', ['notes.read']);
  f.writer = await role('sdk-writer', ['notes.write']);
  f.deleter = await role('sdk-deleter', ['notes.delete']);
  f.username = `sdk-${uniq}`;
  f.user = (await ok('/admin/v1/users', { method: 'POST', json: { username: f.username, password: PASSWORD } })).id;
  await ok(`/admin/v1/users/${f.user}/roles/${f.reader}`, { method: 'PUT' });
});

after(async () => {
  await notes?.stop();
  await browser?.close();
});

const session = (provider, extra = {}) => ({ provider, browser, username: f.username, password: PASSWORD, ...extra });

describe('the MCP TypeScript SDK against the example server', () => {
  test('discovers, registers, signs in, consents and calls a permitted tool', async () => {
    const unauth = await call(notes.resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    assert.equal(unauth.status, 401);
    assert.match(unauth.headers.get('www-authenticate'), /resource_metadata="[^"]+oauth-protected-resource\/mcp"/);
    const provider = new TestProvider();
    const s = { ...session(provider), ...(await connect({ mcpUrl: notes.resource, ...session(provider), screenshot: 'consent-mcp-sdk.png' })) };
    assert.match(provider.client.client_id, /^dcr_/, 'the SDK registered itself (RFC 7591)');
    assert.equal(provider.authorizations, 1);
    const tools = await s.client.listTools();
    assert.deepEqual(tools.tools.map((t) => t.name).sort(), ['create_note', 'delete_note', 'list_notes', 'read_note', 'update_note']);
    const listed = await callTool(s, 'list_notes');
    assert.ok(!listed.isError, JSON.stringify(listed));
    f.main = s;
  });

  test('a tool whose scope the role lacks is refused with 403 insufficient_scope', async () => {
    await assert.rejects(callTool(f.main, 'create_note', { title: 'x', body: 'y' }), (e) => {
      assert.match(String(e.message), /403/);
      return true;
    });
    // The SDK tried to step up by refreshing; the new token still lacks the scope.
    assert.ok(f.main.provider.refreshes >= 1);
  });

  test('after an admin grants the role, the refresh path delivers the newly held scope', async () => {
    await ok(`/admin/v1/users/${f.user}/roles/${f.writer}`, { method: 'PUT' });
    // A successful call resets the SDK's step-up guard, as it would in a real session.
    await callTool(f.main, 'list_notes');
    const before = f.main.provider.authorizations;
    const created = await callTool(f.main, 'create_note', { title: 'hello', body: 'from the SDK' });
    assert.ok(!created.isError, JSON.stringify(created));
    assert.equal(f.main.provider.authorizations, before, 'no new authorization: refresh sufficed');
  });

  test('step-up by re-authorization succeeds for a client without a refresh token', async () => {
    const provider = new TestProvider({ keepRefresh: false, name: 'step-up client' });
    const s = { ...session(provider), ...(await connect({ mcpUrl: notes.resource, ...session(provider) })) };
    const created = await callTool(s, 'create_note', { title: 'temp', body: '' });
    const id = /"id"\s*:\s*"([^"]+)"/.exec(created.content[0].text)?.[1];
    assert.ok(id, created.content[0].text);
    // Without the role, re-authorizing cannot help: mcpgate answers the step-up request for
    // notes.delete alone with invalid_scope (nothing in it can be granted to this user).
    const first = provider.authorizations;
    await assert.rejects(callTool(s, 'delete_note', { id }), /invalid_scope/);
    assert.equal(provider.authorizations, first + 1, 'the SDK re-authorized (step-up)');
    await ok(`/admin/v1/users/${f.user}/roles/${f.deleter}`, { method: 'PUT' });
    await callTool(s, 'list_notes');
    const del = await callTool(s, 'delete_note', { id });
    assert.ok(!del.isError, JSON.stringify(del));
    assert.equal(provider.authorizations, first + 2, 'a second re-authorization carried the new scope');
    await s.client.close();
  });

  test('after an admin disables the client, its calls fail within the revocation bound', async () => {
    const id = encodeURIComponent(f.main.provider.client.client_id);
    await ok(`/admin/v1/clients/${id}`, { method: 'PATCH', json: { status: 'disabled', reason: 'e2e' } });
    const t0 = Date.now();
    let refusedAfter = null;
    while (Date.now() - t0 < 30_000) {
      try {
        await f.main.client.callTool({ name: 'list_notes', arguments: {} });
      } catch {
        refusedAfter = Date.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(refusedAfter !== null, 'the MCP server kept accepting the revoked client');
    // Local bound: validator poll (1 s here) plus the feed round trip.
    assert.ok(refusedAfter < 15_000, `refused after ${refusedAfter} ms`);
    await f.main.client.close().catch(() => {});
  });
});
