// Token service over HTTP, driven by a standards client nobody on this team wrote
// (oauth4webapi), every access token verified by another (jose) against the JWKS, and the
// login + consent pages completed in headless Chromium.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { BASE, admin, call } from './lib/client.mjs';
import { launch, authorizeInBrowser } from './lib/browser.mjs';

const insecure = { [oauth.allowInsecureRequests]: true };
const uniq = `${process.pid}-${Date.now()}`;
const NOTES = `http://127.0.0.1:9/notes-${uniq}/mcp`;
const AGENT_RS = `http://127.0.0.1:9/agent-${uniq}/mcp`;
const REDIRECT = 'http://127.0.0.1:8999/callback';
const PASSWORD = 'correct horse battery staple';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

let as;
let JWKS;
let browser;
const f = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${opts?.method ?? 'GET'} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Verifies an access token with jose: signature against the JWKS, typ, alg, iss, aud, exp. */
async function verify(token, audience) {
  const { payload, protectedHeader } = await jwtVerify(token, JWKS, {
    issuer: BASE, audience, typ: 'at+jwt', algorithms: ['ES256'], requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
  });
  assert.ok(protectedHeader.kid);
  return payload;
}

before(async () => {
  as = await oauth.processDiscoveryResponse(new URL(BASE), await oauth.discoveryRequest(new URL(BASE), { algorithm: 'oauth2', ...insecure }));
  JWKS = createRemoteJWKSet(new URL(as.jwks_uri));
  const scopes = [
    { name: 'notes.read', description: 'Read your notes' },
    { name: 'notes.write', description: 'Create and edit notes', implies: ['notes.read'] },
    { name: 'notes.delete', description: 'Delete notes' },
  ];
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: NOTES, name: 'Notes', scopes } });
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: AGENT_RS, name: 'Agent', scopes: [{ name: 'agent.use' }] } });
  const role = async (name, list) => (await ok('/admin/v1/roles', { method: 'POST', json: { name: `${name}-${uniq}`, scopes: list } })).id;
  f.reader = await role('reader', [{ resource: NOTES, scope: 'notes.read' }, { resource: AGENT_RS, scope: 'agent.use' }]);
  f.editor = await role('editor', [{ resource: NOTES, scope: 'notes.write' }]);
  f.all = await role('all', [{ resource: NOTES, scope: 'notes.write' }, { resource: NOTES, scope: 'notes.delete' }, { resource: AGENT_RS, scope: 'agent.use' }]);
  f.user = (await ok('/admin/v1/users', { method: 'POST', json: { username: `alice-${uniq}`, display_name: 'Alice', password: PASSWORD } })).id;
  f.username = `alice-${uniq}`;
  await ok(`/admin/v1/users/${f.user}/roles/${f.reader}`, { method: 'PUT' });
  f.public = (await ok('/admin/v1/applications', { method: 'POST', json: {
    name: 'Desktop MCP client', client_type: 'public', application_type: 'native', redirect_uris: [REDIRECT], roles: [f.all],
  } })).client_id;
  const conf = await ok('/admin/v1/applications', { method: 'POST', json: {
    name: 'Ops bot', client_type: 'confidential', grant_types: ['client_credentials'], roles: [f.editor],
    introspect: [NOTES],
  } });
  f.conf = [conf.client_id, conf.client_secret];
  const group = (await ok('/admin/v1/groups', { method: 'POST', json: { name: `bots-${uniq}` } })).id;
  await ok(`/admin/v1/groups/${group}/roles/${f.editor}`, { method: 'PUT' });
  const agent = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'Summariser', owner: 'ops', groups: [group], exchange: [{ from: AGENT_RS, to: NOTES }] } });
  f.agent = [agent.client_id, agent.client_secret];
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** The code flow through the browser with oauth4webapi doing PKCE, state and iss checks. */
async function codeFlow({ scope, resource = NOTES, screenshot }) {
  const client = { client_id: f.public };
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: f.public, redirect_uri: REDIRECT, code_challenge: challenge,
    code_challenge_method: 'S256', state, resource, ...(scope ? { scope } : {}),
  }).toString();
  const context = await browser.newContext();
  try {
    const landed = await authorizeInBrowser(context, url.href, { username: f.username, password: PASSWORD, redirectPrefix: REDIRECT, screenshot });
    const params = oauth.validateAuthResponse(as, client, new URL(landed), state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, { additionalParameters: { resource }, ...insecure });
    return await oauth.processAuthorizationCodeResponse(as, client, response);
  } finally {
    await context.close();
  }
}

describe('discovery', () => {
  test('metadata advertises what is implemented', () => {
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
    for (const g of ['authorization_code', 'refresh_token', 'client_credentials', EXCHANGE]) assert.ok(as.grant_types_supported.includes(g));
    assert.ok(as.introspection_endpoint && as.revocation_endpoint);
  });
});

describe('client_credentials', () => {
  test('a machine client gets its own role scopes; the token verifies with jose', async () => {
    const client = { client_id: f.conf[0] };
    const r = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(f.conf[1]), { resource: NOTES, scope: 'notes.write notes.delete' }, insecure);
    const t = await oauth.processClientCredentialsResponse(as, client, r);
    assert.equal(t.token_type, 'bearer');
    assert.equal(t.scope, 'notes.write', 'unheld notes.delete dropped');
    const claims = await verify(t.access_token, NOTES);
    assert.equal(claims.sub, f.conf[0]);
    assert.equal(claims.client_id, f.conf[0]);
    assert.equal(claims.act, undefined);
    assert.equal(decodeProtectedHeader(t.access_token).typ, 'at+jwt');
    // oauth4webapi's own RFC 9068 validation, as a resource server would run it.
    const req = new Request('http://rs.example/', { headers: { authorization: `Bearer ${t.access_token}` } });
    const v = await oauth.validateJwtAccessToken(as, req, NOTES, insecure);
    assert.equal(v.client_id, f.conf[0]);
  });

  test('client_secret_post works and a wrong secret is invalid_client', async () => {
    const client = { client_id: f.conf[0] };
    const good = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost(f.conf[1]), { resource: NOTES }, insecure);
    await oauth.processClientCredentialsResponse(as, client, good);
    const bad = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('wrong'), { resource: NOTES }, insecure);
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate'), /^Basic/);
    assert.equal((await bad.json()).error, 'invalid_client');
    assert.equal(bad.headers.get('cache-control'), 'no-store');
  });

  test('a tampered token fails independent verification', async () => {
    const client = { client_id: f.conf[0] };
    const t = await oauth.processClientCredentialsResponse(as, client,
      await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(f.conf[1]), { resource: NOTES }, insecure));
    const [h, p, s] = t.access_token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.scope = 'notes.write notes.delete';
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    await assert.rejects(verify(forged, NOTES));
  });
});

describe('authorization code + PKCE in a real browser', () => {
  test('login, consent, code, token: sub is the user, act names the client', async () => {
    const t = await codeFlow({ scope: 'notes.read notes.write', screenshot: 'consent.png' });
    assert.equal(t.scope, 'notes.read', 'alice does not hold notes.write');
    assert.ok(t.refresh_token);
    const claims = await verify(t.access_token, NOTES);
    assert.equal(claims.sub, f.user);
    assert.equal(claims.client_id, f.public);
    assert.deepEqual(claims.act, { sub: f.public });
    f.refresh = t.refresh_token;
    f.userToken = t.access_token;
  });

  test('remembered consent: the second authorization goes straight back with a code', async () => {
    const t = await codeFlow({ scope: 'notes.read' });
    assert.equal(t.scope, 'notes.read');
  });

  test('refresh rotates; reuse revokes the family', async () => {
    const client = { client_id: f.public };
    const r1 = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), f.refresh, insecure));
    assert.notEqual(r1.refresh_token, f.refresh);
    await verify(r1.access_token, NOTES);
    const reuse = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), f.refresh, insecure);
    assert.equal(reuse.status, 400);
    assert.equal((await reuse.json()).error, 'invalid_grant');
    const dead = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), r1.refresh_token, insecure);
    assert.equal((await dead.json()).error, 'invalid_grant', 'the whole family is revoked');
  });

  test('introspection and revocation', async () => {
    const rs = { client_id: f.conf[0] };
    const t = await codeFlow({ scope: 'notes.read' });
    const i = await oauth.processIntrospectionResponse(as, rs, await oauth.introspectionRequest(as, rs, oauth.ClientSecretBasic(f.conf[1]), t.access_token, insecure));
    assert.equal(i.active, true);
    assert.equal(i.sub, f.user);
    const client = { client_id: f.public };
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), t.access_token, insecure));
    const after = await oauth.processIntrospectionResponse(as, rs, await oauth.introspectionRequest(as, rs, oauth.ClientSecretBasic(f.conf[1]), t.access_token, insecure));
    assert.equal(after.active, false);
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, oauth.None(), t.refresh_token, insecure));
    const r = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), t.refresh_token, insecure);
    assert.equal((await r.json()).error, 'invalid_grant');
  });

  test('an unregistered redirect URI gets an error page, never a redirect', async () => {
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({ response_type: 'code', client_id: f.public, redirect_uri: 'https://evil.example/cb',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: NOTES }).toString();
    const r = await call(url.href);
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('location'), null);
    assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  });
});

describe('token exchange (RFC 8693)', () => {
  test('an agent acting for a user gets sub = user and act naming the agent then the app', async () => {
    const user = await codeFlow({ scope: 'agent.use', resource: AGENT_RS });
    const client = { client_id: f.agent[0] };
    const r = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(f.agent[1]), EXCHANGE,
      { subject_token: user.access_token, subject_token_type: AT_TYPE, resource: NOTES }, insecure);
    const t = await oauth.processGenericTokenEndpointResponse(as, client, r);
    assert.equal(t.issued_token_type, AT_TYPE);
    const claims = await verify(t.access_token, NOTES);
    assert.equal(claims.sub, f.user);
    assert.equal(claims.client_id, f.agent[0]);
    assert.deepEqual(claims.act, { sub: f.agent[0], act: { sub: f.public } });
    assert.equal(claims.scope, 'notes.read', 'bounded by the user (reader) and the agent (editor)');
  });

  test('a subject token for another audience is refused', async () => {
    const client = { client_id: f.agent[0] };
    const r = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(f.agent[1]), EXCHANGE,
      { subject_token: f.userToken, subject_token_type: AT_TYPE, resource: NOTES }, insecure);
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error, 'invalid_request');
  });
});
