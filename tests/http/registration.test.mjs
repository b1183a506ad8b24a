// MCP client registration over HTTP: RFC 7591/7592 with oauth4webapi as the registering
// client, Client ID Metadata Documents served by a local fixture server, and the policy for
// self-registered clients; each client then completes the code flow in Chromium.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { BASE, admin, call } from './lib/client.mjs';
import { launch } from './lib/browser.mjs';
import { discover, browserCodeFlow, browserLanding, insecure } from './lib/flows.mjs';
import { startWorker, TEST_ADMIN } from './lib/worker.mjs';
import { bootstrap } from './lib/client.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const NOTES = `http://127.0.0.1:9/reg-notes-${uniq}/mcp`;
const CLOSED = `http://127.0.0.1:9/reg-closed-${uniq}/mcp`;
const REDIRECT = 'http://127.0.0.1:8999/callback';
const PASSWORD = 'correct horse battery staple';
let as, browser, JWKS, fixture, fixtureBase;
const f = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  as = await discover();
  JWKS = createRemoteJWKSet(new URL(as.jwks_uri));
  const rs = await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: NOTES, name: 'Notes', scopes: [{ name: 'notes.read' }, { name: 'notes.write' }] } });
  f.rs = rs.id;
  f.closed = (await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: CLOSED, name: 'Closed', allow_self_registered: false, scopes: [{ name: 'x.read' }] } })).id;
  const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `reg-reader-${uniq}`, scopes: [{ resource: NOTES, scope: 'notes.read' }, { resource: CLOSED, scope: 'x.read' }] } })).id;
  f.user = (await ok('/admin/v1/users', { method: 'POST', json: { username: `reg-${uniq}`, password: PASSWORD } })).id;
  f.username = `reg-${uniq}`;
  await ok(`/admin/v1/users/${f.user}/roles/${role}`, { method: 'PUT' });
  browser = await launch();
  fixture = createServer((req, res) => {
    const url = `${fixtureBase}${req.url}`;
    if (req.url === '/clients/good.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify({ client_id: url, client_name: 'Fixture IDE', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' }));
    } else if (req.url === '/clients/liar.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client_id: 'https://someone-else.example/client.json', redirect_uris: [REDIRECT] }));
    } else if (req.url === '/clients/moved.json') {
      res.writeHead(302, { location: `${fixtureBase}/clients/good.json` });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => fixture.listen(0, '127.0.0.1', r));
  fixtureBase = `http://127.0.0.1:${fixture.address().port}`;
});

after(async () => {
  await browser?.close();
  fixture?.close();
});

async function registerClient(metadata) {
  const r = await oauth.dynamicClientRegistrationRequest(as, metadata, insecure);
  return oauth.processDynamicClientRegistrationResponse(r);
}

describe('dynamic client registration (RFC 7591)', () => {
  test('a public client registers and completes the flow', async () => {
    const c = await registerClient({ client_name: 'Public IDE', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], application_type: 'native' });
    assert.match(c.client_id, /^dcr_/);
    assert.ok(c.registration_access_token);
    const t = await browserCodeFlow({ as, browser, clientId: c.client_id, redirect: REDIRECT, resource: NOTES, scope: 'notes.read', username: f.username, password: PASSWORD });
    const { payload } = await jwtVerify(t.access_token, JWKS, { issuer: BASE, audience: NOTES, typ: 'at+jwt' });
    assert.equal(payload.client_id, c.client_id);
    assert.ok(t.refresh_token);
    f.public = c;
  });

  test('a confidential client registers and authenticates with its secret', async () => {
    const c = await registerClient({ client_name: 'Server app', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_post' });
    assert.ok(c.client_secret);
    const t = await browserCodeFlow({ as, browser, clientId: c.client_id, clientAuth: oauth.ClientSecretPost(c.client_secret), redirect: REDIRECT, resource: NOTES, scope: 'notes.read', username: f.username, password: PASSWORD });
    assert.ok(t.access_token);
  });

  test('rejections carry the RFC 7591 error codes', async () => {
    const cases = [
      [{ redirect_uris: ['https://x.example/cb#f'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['javascript:alert(1)'], application_type: 'native' }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['http://x.example/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: [REDIRECT], grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
      [{ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    ];
    for (const [metadata, error] of cases) {
      const r = await call('/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
      assert.equal(r.status, 400, JSON.stringify(metadata));
      assert.equal(r.body.error, error, JSON.stringify(metadata));
    }
  });

  test('RFC 7592: read, update and delete with the registration access token', async () => {
    const c = await registerClient({ client_name: 'Lifecycle', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' });
    const auth = { authorization: `Bearer ${c.registration_access_token}` };
    const read = await call(c.registration_client_uri, { headers: auth });
    assert.equal(read.status, 200);
    assert.equal(read.body.client_name, 'Lifecycle');
    const put = await call(c.registration_client_uri, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: c.client_id, client_name: 'Renamed', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }) });
    assert.equal(put.status, 200);
    assert.equal(put.body.client_name, 'Renamed');
    assert.equal((await call(c.registration_client_uri, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await call(c.registration_client_uri, { method: 'DELETE', headers: auth })).status, 204);
    assert.equal((await call(c.registration_client_uri, { headers: auth })).status, 401);
  });

  /** A self-registered client's refused request, before anyone signed in: shown on mcpgate's
   * page (nobody verified its redirect URI), never redirected. */
  async function refusedOnPage(clientId, resource, code) {
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's', resource, scope: 'x.read' }).toString();
    const r = await call(url.href);
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('location'), null);
    assert.match(String(r.body), new RegExp(code));
  }

  test('a resource server that refuses self-registered clients is unreachable for them', async () => {
    await refusedOnPage(f.public.client_id, CLOSED, 'invalid_target');
    // Signed in, the refusal goes back to the client as an OAuth error.
    const landed = await browserLanding({ as, browser, clientId: f.public.client_id, redirect: REDIRECT, resource: NOTES, scope: 'notes.read', username: f.username, password: PASSWORD });
    assert.ok(landed.searchParams.get('code'));
  });

  test('a client registered while only one server allowed it cannot get a token for another', async () => {
    // Opening CLOSED now does not extend earlier registrations.
    await ok(`/admin/v1/resource-servers/${f.closed}`, { method: 'PATCH', json: { allow_self_registered: true } });
    try {
      await refusedOnPage(f.public.client_id, CLOSED, 'invalid_target');
    } finally {
      await ok(`/admin/v1/resource-servers/${f.closed}`, { method: 'PATCH', json: { allow_self_registered: false } });
    }
  });

  test('registration is rate limited per source', async () => {
    const w = await startWorker({ vars: { MCPGATE_REGISTRATION_PER_SOURCE_PER_HOUR: '2' } });
    try {
      const creds = await bootstrap(w.base, TEST_ADMIN);
      assert.ok(creds[0]);
      await call('/admin/v1/openapi.json', { base: w.base });
      const token = await (await import('./lib/client.mjs')).adminToken({ base: w.base, creds });
      await call('/admin/v1/resource-servers', { base: w.base, method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ identifier: NOTES, name: 'n', scopes: [{ name: 'notes.read' }] }) });
      const reg = () => call('/register', { base: w.base, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }) });
      assert.equal((await reg()).status, 201);
      assert.equal((await reg()).status, 201);
      const limited = await reg();
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error, 'temporarily_unavailable');
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
    } finally {
      await w.stop();
    }
  });
});

describe('Client ID Metadata Documents', () => {
  test('an https-URL client id (here a loopback fixture, allowed by the test-only setting) completes the flow', async () => {
    const clientId = `${fixtureBase}/clients/good.json`;
    const t = await browserCodeFlow({ as, browser, clientId, redirect: REDIRECT, resource: NOTES, scope: 'notes.read', username: f.username, password: PASSWORD, screenshot: 'consent-metadata-document.png' });
    const { payload } = await jwtVerify(t.access_token, JWKS, { issuer: BASE, audience: NOTES, typ: 'at+jwt' });
    assert.equal(payload.client_id, clientId);
    assert.equal(as.client_id_metadata_document_supported, true);
  });

  test('a document naming another client id, a redirect, or a missing document get an error page', async () => {
    for (const path of ['/clients/liar.json', '/clients/moved.json', '/clients/missing.json']) {
      const url = new URL(as.authorization_endpoint);
      url.search = new URLSearchParams({ response_type: 'code', client_id: `${fixtureBase}${path}`, redirect_uri: REDIRECT,
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: NOTES }).toString();
      const r = await call(url.href);
      assert.equal(r.status, 400, path);
      assert.equal(r.headers.get('location'), null, path);
    }
  });
});
