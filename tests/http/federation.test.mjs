// Federation over HTTP: people sign in through a real OpenID Provider (`oidc-provider` from npm,
// RS256 ID tokens verified by the Worker with WebCrypto) in Chromium, while mcpgate keeps its own
// consent page and decides scopes. Just-in-time users, group mappings applied and removed between
// refreshes, tampered / replayed / foreign ID tokens, two providers without mix-up, and a
// disabled provider.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { admin, BASE } from './lib/client.mjs';
import { launch, ARTIFACTS } from './lib/browser.mjs';
import { discover, insecure } from './lib/flows.mjs';
import { freePort } from './lib/worker.mjs';
import { startIdp } from './lib/idp.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const RS = `http://127.0.0.1:9/federation-${uniq}/mcp`;
const REDIRECT = 'http://127.0.0.1:8997/callback';
const IDP_SECRET = 'federation-idp-client-secret-0123456789';
let as, browser;
const f = {};
const idps = [];

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** An mcpgate identity provider for a real provider on a free port, and that provider. */
async function provider(name, extra = {}) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = `mcpgate-${name}`;
  const created = await ok('/admin/v1/identity-providers', {
    method: 'POST',
    json: { issuer, display_name: name, client_id: clientId, client_secret: IDP_SECRET, scopes: 'openid email profile groups', ...extra },
  });
  const idp = await startIdp({ port, clientId, clientSecret: IDP_SECRET, redirectUri: created.redirect_uri, name });
  idps.push(idp);
  return { ...idp, id: created.id, name };
}

/**
 * Opens the authorization request in a fresh browser context, chooses "Sign in with <idp>",
 * signs in at the provider as `login` (and consents there), then at mcpgate allows. Returns
 * { landed } (the client's redirect URI with its parameters) or { page } (the text of the page
 * where it stopped).
 */
async function signInUpstream(idp, login, { scope = 'f.read f.write', screenshot } = {}) {
  const context = await browser.newContext();
  // The provider's development pages import a web font; there is no internet here.
  await context.route((u) => !u.href.startsWith('http://127.0.0.1') && !u.href.startsWith('http://localhost'), (r) => r.abort());
  const page = await context.newPage();
  let landed = null;
  page.on('request', (r) => {
    if (!landed && r.url().startsWith(REDIRECT)) landed = r.url();
  });
  await page.route((u) => u.href.startsWith(REDIRECT), async (route) => {
    landed = route.request().url();
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'done' });
  });
  const verifier = oauth.generateRandomCodeVerifier();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: f.app, redirect_uri: REDIRECT, code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256', state: 'st', resource: RS, scope,
  }).toString();
  try {
    await page.goto(url.href);
    if (screenshot) {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, `${screenshot}-login.png`), fullPage: true });
    }
    await page.getByRole('link', { name: `Sign in with ${idp.name}` }).click();
    await page.waitForLoadState();
    if (await page.locator('input[name=login]').count()) {
      await page.locator('input[name=login]').fill(login);
      await page.locator('input[name=password]').fill('any password');
      await page.getByRole('button', { name: 'Sign-in' }).click();
      await page.waitForLoadState();
    }
    if (await page.getByRole('button', { name: 'Continue' }).count()) {
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForLoadState();
    }
    if (!landed && (await page.locator('button[name=decision]').count())) {
      if (screenshot) await page.screenshot({ path: join(ARTIFACTS, `${screenshot}-consent.png`), fullPage: true });
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForLoadState();
    }
    // Stopped on one of mcpgate's own pages (a refusal): nothing more will happen.
    const refusedHere = !landed && page.url().startsWith(BASE) && !(await page.locator('button[name=decision]').count());
    for (let i = 0; i < 30 && !landed && !refusedHere; i++) await page.waitForTimeout(100);
    if (landed) return { landed: new URL(landed), verifier };
    return { page: await page.locator('body').innerText() };
  } finally {
    await context.close();
  }
}

async function redeem({ landed, verifier }) {
  const client = { client_id: f.app };
  const params = oauth.validateAuthResponse(as, client, landed, 'st');
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, { additionalParameters: { resource: RS }, ...insecure });
  return oauth.processAuthorizationCodeResponse(as, client, response);
}

async function refresh(rt) {
  const client = { client_id: f.app };
  return oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), rt, insecure));
}

async function userOf(idp, sub) {
  const users = await ok('/admin/v1/users?limit=200');
  for (const u of users.items) {
    const ids = await ok(`/admin/v1/users/${u.id}/identities`);
    if (ids.items.some((i) => i.provider_id === idp.id && i.subject === sub)) return u;
  }
  return null;
}

const scopesOf = async (token) => {
  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(as.jwks_uri), { [Symbol.for('jose.allowInsecureRequests')]: true }), { issuer: as.issuer, audience: RS });
  return { payload, scopes: (payload.scope ?? '').split(' ').filter(Boolean).sort() };
};

before(async () => {
  as = await discover();
  browser = await launch();
  const rs = await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: RS, name: 'Federated', scopes: [
    { name: 'f.read', description: 'Read' }, { name: 'f.write', description: 'Write' },
  ] } });
  f.rs = rs.id;
  const role = async (n, s) => (await ok('/admin/v1/roles', { method: 'POST', json: { name: `${n}-${uniq}`, scopes: s.map((scope) => ({ resource: RS, scope })) } })).id;
  f.reader = await role('f-reader', ['f.read']);
  f.writer = await role('f-writer', ['f.write']);
  const all = await role('f-all', ['f.read', 'f.write']);
  const group = async (n, r) => {
    const id = (await ok('/admin/v1/groups', { method: 'POST', json: { name: `${n}-${uniq}` } })).id;
    await ok(`/admin/v1/groups/${id}/roles/${r}`, { method: 'PUT' });
    return id;
  };
  f.staff = await group('staff', f.reader);
  f.eng = await group('eng', f.writer);
  f.app = (await ok('/admin/v1/applications', { method: 'POST', json: { name: 'Federated client', client_type: 'public', application_type: 'native', redirect_uris: [REDIRECT], roles: [all] } })).client_id;
  f.a = await provider('Acme SSO', { group_mappings: [{ value: 'staff', group_id: f.staff }, { value: 'eng', group_id: f.eng }] });
  f.b = await provider('Beta ID');
});

after(async () => {
  await browser?.close();
  await Promise.all(idps.map((i) => i.close()));
});

describe('sign-in through an upstream OpenID Provider', () => {
  test('a person signs in at the provider in Chromium: created just in time, consents on mcpgate\'s page, gets a token naming them', async () => {
    f.a.accounts.set('ada', { email: `ada-${uniq}@acme.test`, email_verified: true, name: 'Ada', groups: ['staff'] });
    const r = await signInUpstream(f.a, 'ada', { scope: 'f.read', screenshot: 'federation-acme' });
    assert.ok(r.landed, r.page);
    const t = await redeem(r);
    const user = await userOf(f.a, 'ada');
    assert.ok(user, 'a user was created at the first sign-in');
    assert.equal(user.username, `ada-${uniq}@acme.test`);
    assert.equal(user.has_password, false);
    const { payload, scopes } = await scopesOf(t.access_token);
    assert.equal(payload.sub, user.id);
    assert.deepEqual(scopes, ['f.read']);
    // The provider's tokens are nowhere in mcpgate's answer.
    assert.ok(!JSON.stringify(t).includes(f.a.lastIdToken()));
  });

  test('group mappings follow the provider between refreshes: a group removed there drops its scope, added back restores it', async () => {
    f.a.accounts.set('bo', { email: `bo-${uniq}@acme.test`, email_verified: true, groups: ['staff', 'eng'] });
    const t = await redeem(await signInUpstream(f.a, 'bo'));
    assert.deepEqual((await scopesOf(t.access_token)).scopes, ['f.read', 'f.write']);
    // Removed from "eng" at the provider; the next sign-in re-applies the mapping.
    f.a.accounts.set('bo', { email: `bo-${uniq}@acme.test`, email_verified: true, groups: ['staff'] });
    const again = await signInUpstream(f.a, 'bo');
    assert.ok(again.landed, again.page);
    const r1 = await refresh(t.refresh_token);
    assert.deepEqual((await scopesOf(r1.access_token)).scopes, ['f.read']);
    // Added back.
    f.a.accounts.set('bo', { email: `bo-${uniq}@acme.test`, email_verified: true, groups: ['staff', 'eng'] });
    assert.ok((await signInUpstream(f.a, 'bo')).landed);
    const r2 = await refresh(r1.refresh_token);
    assert.deepEqual((await scopesOf(r2.access_token)).scopes, ['f.read', 'f.write']);
  });

  test('a tampered, a replayed (another sign-in\'s nonce) or another provider\'s ID token is refused', async () => {
    f.a.accounts.set('cy', { email: `cy-${uniq}@acme.test`, email_verified: true, groups: ['staff'] });
    f.b.accounts.set('cy', { email: `cy-${uniq}@beta.test`, email_verified: true });
    assert.ok((await signInUpstream(f.a, 'cy')).landed);
    const replayed = f.a.lastIdToken();
    assert.ok((await signInUpstream(f.b, 'cy')).landed);
    const foreign = f.b.lastIdToken();
    const cases = [
      ['tampered', (t) => {
        const [h, p, s] = t.split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url'));
        claims.sub = 'someone-else';
        return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
      }, /signature/],
      ['replayed', () => replayed, /nonce/],
      ['from another provider', () => foreign, /signature|unknown key|issuer/],
    ];
    try {
      for (const [what, replace, why] of cases) {
        f.a.tamper(replace);
        const r = await signInUpstream(f.a, 'cy');
        assert.equal(r.landed, undefined, `${what}: must not complete`);
        assert.match(r.page, why, what);
      }
    } finally {
      f.a.tamper(null);
    }
    assert.equal(await userOf(f.a, 'someone-else'), null);
  });

  test('two providers without mix-up: each signs in its own subjects, and an answer sent to the other\'s redirect URI is refused', async () => {
    f.a.accounts.set('dee', { email: `dee-${uniq}@acme.test`, email_verified: true, groups: ['staff'] });
    f.b.accounts.set('dee', { email: `dee-${uniq}@beta.test`, email_verified: true });
    assert.ok((await signInUpstream(f.a, 'dee')).landed);
    assert.ok((await signInUpstream(f.b, 'dee')).landed);
    const ua = await userOf(f.a, 'dee');
    const ub = await userOf(f.b, 'dee');
    assert.ok(ua && ub && ua.id !== ub.id, 'the same subject at two providers is two people');
    // The browser went to Acme; its answer is delivered to Beta's redirect URI, or names
    // another issuer (RFC 9207).
    try {
      f.a.rewriteRedirect((u) => u.replace(`/authorize/callback/${f.a.id}`, `/authorize/callback/${f.b.id}`));
      const moved = await signInUpstream(f.a, 'dee');
      assert.equal(moved.landed, undefined);
      assert.match(moved.page, /expired or was started in another browser/);
      f.a.rewriteRedirect((u) => { const x = new URL(u); x.searchParams.set('iss', f.b.issuer); return x.href; });
      const iss = await signInUpstream(f.a, 'dee');
      assert.equal(iss.landed, undefined);
      assert.match(iss.page, /expired or was started in another browser/);
    } finally {
      f.a.rewriteRedirect(null);
    }
  });

  test('a disabled provider: its button is gone and its users cannot sign in', async () => {
    await ok(`/admin/v1/identity-providers/${f.b.id}`, { method: 'PATCH', json: { status: 'disabled' } });
    try {
      const url = new URL(as.authorization_endpoint);
      url.search = new URLSearchParams({ response_type: 'code', client_id: f.app, redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: RS }).toString();
      const html = await (await fetch(url)).text();
      assert.ok(html.includes('Sign in with Acme SSO'));
      assert.ok(!html.includes('Sign in with Beta ID'));
      const start = await fetch(`${BASE}/authorize/federate?provider=${f.b.id}&continue=x`, { redirect: 'manual' });
      assert.equal(start.status, 404);
    } finally {
      await ok(`/admin/v1/identity-providers/${f.b.id}`, { method: 'PATCH', json: { status: 'active' } });
    }
  });
});

describe('enterprise-managed authorization: identity assertions (ID-JAG, RFC 7523)', () => {
  const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
  let agent, other, jagIdp;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra = {}) => ({
    iss: jagIdp.issuer, sub: 'eve', aud: as.issuer, client_id: agent.client_id, jti: `jti-${Math.random()}`,
    iat: now(), exp: now() + 300, resource: RS, scope: 'f.read f.write', ...extra,
  });
  const present = (assertion, creds = agent) => {
    const client = { client_id: creds.client_id };
    return oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(creds.client_secret), JWT_BEARER, new URLSearchParams({ assertion }), insecure);
  };
  const refusedWith = async (response, error, why) => {
    assert.equal(response.status, 400);
    const body = await response.json();
    assert.equal(body.error, error, JSON.stringify(body));
    if (why) assert.match(body.error_description, why);
  };

  before(async () => {
    jagIdp = await provider('Corp IdP', { id_jag: true });
    // eve is an existing user, linked to her enterprise identity by an admin, holding f.read.
    const eve = await ok('/admin/v1/users', { method: 'POST', json: { username: `eve-${uniq}` } });
    await ok(`/admin/v1/users/${eve.id}/roles/${f.reader}`, { method: 'PUT' });
    await ok(`/admin/v1/users/${eve.id}/identities`, { method: 'POST', json: { provider_id: jagIdp.id, subject: 'eve' } });
    f.eve = eve.id;
    const app = (name) => ok('/admin/v1/applications', { method: 'POST', json: { name: `${name}-${uniq}`, client_type: 'confidential', redirect_uris: ['https://agent.example/cb'], grant_types: [JWT_BEARER], roles: [f.reader] } });
    agent = await app('jag-agent');
    other = await app('jag-other');
  });

  test('metadata advertises the grant, and a valid assertion gets a token for the linked user (no refresh token)', async () => {
    assert.ok(as.grant_types_supported.includes(JWT_BEARER));
    const response = await present(await jagIdp.signAssertion(claims()));
    const t = await oauth.processGenericTokenEndpointResponse(as, { client_id: agent.client_id }, response);
    assert.equal(t.refresh_token, undefined);
    const { payload, scopes } = await scopesOf(t.access_token);
    assert.equal(payload.sub, f.eve);
    assert.equal(payload.client_id, agent.client_id);
    assert.equal(payload.act.sub, agent.client_id);
    assert.deepEqual(scopes, ['f.read'], 'requested read and write; eve holds read');
  });

  test('wrong audience, expired, replayed jti, untrusted issuer and another client are refused with invalid_grant', async () => {
    const once = await jagIdp.signAssertion(claims());
    assert.equal((await present(once)).status, 200);
    await refusedWith(await present(once), 'invalid_grant', /used before/);
    await refusedWith(await present(await jagIdp.signAssertion(claims({ aud: 'https://other-as.example' }))), 'invalid_grant', /audience/);
    await refusedWith(await present(await jagIdp.signAssertion(claims({ iat: now() - 900, exp: now() - 600 }))), 'invalid_grant', /expired/);
    await refusedWith(await present(await jagIdp.signAssertion(claims()), other), 'invalid_grant', /another client/);
    // Signed by a provider mcpgate knows but does not trust for assertions (Acme: id_jag off),
    // and by a key that is not the trusted provider's.
    await refusedWith(await present(await f.a.signAssertion(claims({ iss: f.a.issuer }))), 'invalid_grant', /not a trusted identity provider/);
    await refusedWith(await present(await f.a.signAssertion(claims())), 'invalid_grant', /signature|unknown key/);
    // An ID token is not an authorization grant.
    await refusedWith(await present(await jagIdp.signAssertion(claims(), 'JWT')), 'invalid_grant', /typ/);
  });
});
