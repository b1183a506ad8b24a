// Attacks where timing and concurrency matter, against the built Worker on real local D1 and
// KV: parallel password guessing, refresh racing the revocation of its family, a code replay
// racing the first redemption, two consents at once, and a session cookie kept after logout.
// Each test is listed in tests/README.md's attack table. The browser side is plain form posts
// (the pages' own forms, with their CSRF cookie), so requests can be fired at once.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { admin, adminToken, bootstrap, call, form, BASE } from './lib/client.mjs';
import { startWorker, TEST_ADMIN } from './lib/worker.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const RS = `http://127.0.0.1:9/attacks-${uniq}/mcp`;
const REDIRECT = 'http://127.0.0.1:8997/callback';
const PASSWORD = 'correct horse battery staple';
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const f = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A cookie jar speaking to one Worker. */
class Jar {
  constructor(base = BASE) { this.base = base; this.cookies = new Map(); }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
  absorb(r) {
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      const [k, v] = [kv.slice(0, i), kv.slice(i + 1)];
      if (v) this.cookies.set(k, v); else this.cookies.delete(k);
    }
    return r;
  }
  async get(path) { return this.absorb(await call(path, { base: this.base, headers: { cookie: this.header() } })); }
  /** A form post request, not yet sent (so several can be fired together). */
  post(path, params) {
    return call(path, { base: this.base, method: 'POST', body: new URLSearchParams(params).toString(),
      headers: { cookie: this.header(), 'content-type': 'application/x-www-form-urlencoded' } });
  }
  copy() { const j = new Jar(this.base); j.cookies = new Map(this.cookies); return j; }
}

const hidden = (html, name) => {
  const m = String(html).match(new RegExp(`name="${name}" value="([^"]*)"`));
  return m && m[1].replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'");
};

function authorizeQuery(scope) {
  return new URLSearchParams({ response_type: 'code', client_id: f.app, redirect_uri: REDIRECT, code_challenge: CHALLENGE,
    code_challenge_method: 'S256', resource: RS, state: 's', scope }).toString();
}

/** Signs in on the account page; returns the response of the login post. */
async function signIn(jar, username, password = PASSWORD) {
  const page = await jar.get('/account');
  return jar.absorb(await jar.post('/authorize/login', { csrf: hidden(page.body, 'csrf'), continue: '@account', username, password }));
}

/** A code for `scope` through the signed-in jar (consenting if asked). */
async function code(jar, scope) {
  let r = await jar.get(`/authorize?${authorizeQuery(scope)}`);
  if (r.status === 200) {
    assert.match(String(r.body), /name="decision"/, 'the consent page');
    r = jar.absorb(await jar.post('/authorize/consent', { csrf: hidden(r.body, 'csrf'), request: hidden(r.body, 'request'), decision: 'allow' }));
  }
  assert.equal(r.status, 303, String(r.body).slice(0, 300));
  const c = new URL(r.headers.get('location')).searchParams.get('code');
  assert.ok(c, r.headers.get('location'));
  return c;
}

const redeem = (c) => form('/token', { grant_type: 'authorization_code', client_id: f.app, code: c, redirect_uri: REDIRECT, code_verifier: VERIFIER });
const refresh = (rt) => form('/token', { grant_type: 'refresh_token', client_id: f.app, refresh_token: rt });

async function activeAtMcpgate(token) {
  const r = await form('/introspect', { token }, { headers: { authorization: `Bearer ${await adminToken()}` } });
  assert.equal(r.status, 200);
  return r.body.active;
}

/** Nothing issued in these token responses still works at mcpgate. */
async function nothingWorks(responses) {
  for (const t of responses) {
    if (t?.access_token) assert.equal(await activeAtMcpgate(t.access_token), false, 'an access token is still honoured');
    if (t?.refresh_token) assert.equal((await refresh(t.refresh_token)).body.error, 'invalid_grant', 'a refresh token still works');
  }
}

before(async () => {
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: RS, name: 'Attacks', scopes: [{ name: 'a.read' }, { name: 'a.write' }, { name: 'a.delete' }] } });
  const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `attacks-${uniq}`, scopes: ['a.read', 'a.write', 'a.delete'].map((scope) => ({ resource: RS, scope })) } })).id;
  f.username = `mallet-${uniq}`;
  f.user = (await ok('/admin/v1/users', { method: 'POST', json: { username: f.username, password: PASSWORD } })).id;
  await ok(`/admin/v1/users/${f.user}/roles/${role}`, { method: 'PUT' });
  f.app = (await ok('/admin/v1/applications', { method: 'POST', json: { name: 'Attacked app', client_type: 'public', application_type: 'native', redirect_uris: [REDIRECT], roles: [role] } })).client_id;
  f.jar = new Jar();
  assert.equal((await signIn(f.jar, f.username)).status, 303);
});

describe('races on real D1', () => {
  test('a refresh racing /revoke of its family never leaves a live token (30 tries)', async () => {
    let refreshedToo = 0;
    for (let i = 0; i < 30; i++) {
      const first = (await redeem(await code(f.jar, 'a.read'))).body;
      assert.ok(first.refresh_token, JSON.stringify(first));
      const [refreshed, revoked] = await Promise.all([
        refresh(first.refresh_token),
        form('/revoke', { token: first.refresh_token, client_id: f.app }),
      ]);
      assert.equal(revoked.status, 200);
      if (refreshed.status === 200) refreshedToo++;
      else assert.equal(refreshed.body.error, 'invalid_grant');
      await nothingWorks([first, refreshed.body]);
    }
    console.log(`  (the refresh also answered 200 in ${refreshedToo} of 30 tries; its tokens were dead anyway)`);
  });

  test('a code replayed in parallel with its first redemption leaves nothing live (10 tries)', async () => {
    for (let i = 0; i < 10; i++) {
      const c = await code(f.jar, 'a.read');
      const [a, b] = await Promise.all([redeem(c), redeem(c)]);
      assert.ok([a.status, b.status].includes(400), `${a.status} ${b.status}`);
      await nothingWorks([a.body, b.body]);
    }
  });

  test('two step-up consents posted at once both land in the grant', async () => {
    // Start from a grant of a.read only.
    await ok(`/admin/v1/users/${f.user}/grants?client_id=${f.app}&resource_server_id=${(await ok(`/admin/v1/users/${f.user}/grants`)).items.find((g) => g.client_id === f.app).resource_server_id}`, { method: 'DELETE' });
    await code(f.jar, 'a.read');
    const page = async (scope) => (await f.jar.get(`/authorize?${authorizeQuery(scope)}`)).body;
    const [w, d] = [await page('a.write'), await page('a.delete')];
    const post = (html) => f.jar.post('/authorize/consent', { csrf: hidden(html, 'csrf'), request: hidden(html, 'request'), decision: 'allow' });
    const [x, y] = await Promise.all([post(w), post(d)]);
    assert.deepEqual([x.status, y.status], [303, 303]);
    const grant = (await ok(`/admin/v1/users/${f.user}/grants`)).items.find((g) => g.client_id === f.app);
    assert.deepEqual([...grant.scopes].sort(), ['a.delete', 'a.read', 'a.write']);
  });
});

describe('sessions end when they should', () => {
  test('a session cookie copied before logout no longer opens the account page', async () => {
    const jar = new Jar();
    assert.equal((await signIn(jar, f.username)).status, 303);
    const stolen = jar.copy();
    assert.match(String((await stolen.get('/account')).body), /Your account/);
    const page = await jar.get('/account');
    assert.equal(jar.absorb(await jar.post('/account/logout', { csrf: hidden(page.body, 'csrf') })).status, 303);
    assert.match(String((await stolen.get('/account')).body), /name="password"/, 'the thief sees the sign-in page');
  });

  test("an admin's sign-out-everywhere ends every session of the user at once", async () => {
    const jar = new Jar();
    assert.equal((await signIn(jar, f.username)).status, 303);
    const listed = await ok(`/admin/v1/users/${f.user}/sessions`);
    assert.ok(listed.items.length >= 2, 'this one and the suite\'s');
    assert.equal((await admin(`/admin/v1/users/${f.user}/sessions`, { method: 'DELETE' })).status, 204);
    assert.match(String((await jar.get('/account')).body), /name="password"/);
    assert.match(String((await f.jar.copy().get('/account')).body), /name="password"/);
    assert.equal((await signIn(f.jar, f.username)).status, 303, 'signing in again works');
  });
});

describe('password guessing (a Worker of its own: the limits are per source)', () => {
  let w;
  before(async () => { w = await startWorker(); });
  after(async () => { await w?.stop(); });

  test('forty parallel wrong passwords for one account get no more than five answers', async () => {
    const creds = await bootstrap(w.base, TEST_ADMIN);
    const token = await adminToken({ base: w.base, creds });
    const r = await admin('/admin/v1/users', { base: w.base, token, method: 'POST', json: { username: 'victim', password: PASSWORD } });
    assert.equal(r.status, 201);
    const jar = new Jar(w.base);
    const page = await jar.get('/account');
    const csrf = hidden(page.body, 'csrf');
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      jar.post('/authorize/login', { csrf, continue: '@account', username: 'victim', password: `guess ${i}` })));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 401).length, 5, `wrong-password answers: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 35);
    assert.ok(answers.filter((a) => a.status === 429).every((a) => Number(a.headers.get('retry-after')) > 0));
  });
});
