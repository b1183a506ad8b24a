// The grant model over HTTP: tokens carry grant ∩ what the user holds now ∩ the client's
// ceiling. No scope parameter, role changes between refreshes, and step-up with incremental
// consent — driven by oauth4webapi and Chromium against the built Worker.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { admin } from './lib/client.mjs';
import { launch } from './lib/browser.mjs';
import { discover, browserCodeFlow, insecure } from './lib/flows.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const RS = `http://127.0.0.1:9/grants-${uniq}/mcp`;
const REDIRECT = 'http://127.0.0.1:8999/callback';
const PASSWORD = 'correct horse battery staple';
let as, browser;
const f = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function newUser(name, roles) {
  const username = `${name}-${uniq}`;
  const id = (await ok('/admin/v1/users', { method: 'POST', json: { username, password: PASSWORD } })).id;
  for (const r of roles) await ok(`/admin/v1/users/${id}/roles/${r}`, { method: 'PUT' });
  return { id, username };
}

const flow = (user, scope, extra = {}) =>
  browserCodeFlow({ as, browser, clientId: f.app, redirect: REDIRECT, resource: RS, scope, username: user.username, password: PASSWORD, ...extra });

async function refresh(rt) {
  const client = { client_id: f.app };
  return oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), rt, insecure));
}

before(async () => {
  as = await discover();
  browser = await launch();
  const rs = await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: RS, name: 'Grants', scopes: [
    { name: 'g.read', description: 'Read' }, { name: 'g.write', description: 'Write' }, { name: 'g.delete', description: 'Delete' },
  ] } });
  f.rs = rs.id;
  const role = async (n, s) => (await ok('/admin/v1/roles', { method: 'POST', json: { name: `${n}-${uniq}`, scopes: s.map((scope) => ({ resource: RS, scope })) } })).id;
  f.reader = await role('g-reader', ['g.read']);
  f.writer = await role('g-writer', ['g.write']);
  f.deleter = await role('g-deleter', ['g.delete']);
  f.all = await role('g-all', ['g.read', 'g.write', 'g.delete']);
  f.app = (await ok('/admin/v1/applications', { method: 'POST', json: { name: 'Grants client', client_type: 'public', application_type: 'native', redirect_uris: [REDIRECT], roles: [f.all] } })).client_id;
});

after(async () => {
  await browser?.close();
});

describe('grants follow consent, tokens follow current roles', () => {
  test('no scope parameter: the resource server default scopes', async () => {
    await ok(`/admin/v1/resource-servers/${f.rs}`, { method: 'PATCH', json: { default_scopes: ['g.read'] } });
    try {
      const u = await newUser('nos', [f.reader, f.writer]);
      const t = await flow(u, undefined);
      assert.equal(t.scope, 'g.read');
    } finally {
      await ok(`/admin/v1/resource-servers/${f.rs}`, { method: 'PATCH', json: { default_scopes: null } });
    }
  });

  test('no scope parameter and no defaults: everything the user may grant', async () => {
    const u = await newUser('nos2', [f.reader, f.writer]);
    const t = await flow(u, undefined);
    assert.equal(t.scope, 'g.read g.write');
  });

  test('a role removed between two refreshes: the scope disappears', async () => {
    const u = await newUser('rm', [f.reader, f.writer]);
    const t = await flow(u, 'g.read g.write');
    assert.equal(t.scope, 'g.read g.write');
    await ok(`/admin/v1/users/${u.id}/roles/${f.writer}`, { method: 'DELETE' });
    const r = await refresh(t.refresh_token);
    assert.equal(r.scope, 'g.read');
  });

  test('a role added: it appears at refresh only if it was consented', async () => {
    const u = await newUser('add', [f.reader]);
    let shown = '';
    const t = await flow(u, 'g.read g.write', { onConsent: (text) => (shown = text) });
    assert.match(shown, /you do not have this permission now/);
    assert.equal(t.scope, 'g.read');
    await ok(`/admin/v1/users/${u.id}/roles/${f.writer}`, { method: 'PUT' });
    await ok(`/admin/v1/users/${u.id}/roles/${f.deleter}`, { method: 'PUT' });
    const r = await refresh(t.refresh_token);
    assert.equal(r.scope, 'g.read g.write', 'g.write was consented; g.delete never was');
  });

  test('step-up through re-authorization: only the new scope is asked, the grant becomes the union', async () => {
    const u = await newUser('up', [f.reader, f.deleter]);
    const context = await browser.newContext();
    try {
      const first = await flow(u, 'g.read', { context });
      assert.equal(first.scope, 'g.read');
      let shown = '';
      const second = await flow(u, 'g.read g.delete', { context, onConsent: (text) => (shown = text) });
      assert.match(shown, /g\.delete/);
      assert.match(shown, /Already allowed: g\.read/);
      assert.equal(second.scope, 'g.delete g.read');
      let again = false;
      const third = await flow(u, 'g.delete', { context, onConsent: () => (again = true) });
      assert.equal(again, false, 'the union is remembered: no consent page');
      assert.equal(third.scope, 'g.delete');
    } finally {
      await context.close();
    }
  });
});
