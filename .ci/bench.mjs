// `make bench`: figures from the built Worker under `wrangler dev` (local D1/KV). Prints, never
// asserts. Each figure includes wrangler's local proxy and the loopback round trip.
import { startWorker, TEST_ADMIN } from '../tests/http/lib/worker.mjs';
import { CATEGORY_NAMES, connectProfiler } from './profile.mjs';

const N = Number(process.env.BENCH_N || 200);
const C = Number(process.env.BENCH_CONCURRENCY || 8);

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function req(base, path, { method = 'GET', headers = {}, body } = {}) {
  const t0 = performance.now();
  const r = await fetch(base + path, { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  const ms = performance.now() - t0;
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, headers: r.headers, json, text, ms };
}

const form = (o) => ({ 'content-type': 'application/x-www-form-urlencoded' });
const basic = (id, s) => 'Basic ' + Buffer.from(`${id}:${s}`).toString('base64');

/** Runs `job(i)` N times with C in flight; returns latencies and a sample response. */
async function load(n, c, job, expected = (s) => s < 400) {
  const lat = [];
  const trips = [];
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c }, async (_, worker) => {
    while (next < n) {
      const i = next++;
      const r = await job(i, worker);
      lat.push(r.ms);
      const t = r.headers.get('x-mcpgate-d1-round-trips');
      if (t) trips.push(Number(t));
      if (!expected(r.status)) failures++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  return { rps: n / secs, p50: pct(lat, 50), p99: pct(lat, 99), trips: trips.length ? pct(trips, 50) : null, failures };
}

function line(name, r) {
  const trips = r.trips === null ? '' : `  D1 round trips/request ${r.trips}`;
  console.log(`  ${name.padEnd(34)} ${r.rps.toFixed(1).padStart(7)} req/s   p50 ${r.p50.toFixed(1).padStart(6)} ms   p99 ${r.p99.toFixed(1).padStart(6)} ms${trips}${r.failures ? `  (${r.failures} failed)` : ''}`);
}

async function setup(base) {
  const boot = await req(base, '/admin/v1/bootstrap', { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN}` } });
  const [aid, asec] = [boot.json.client_id, boot.json.client_secret];
  const tok = await req(base, '/token', { method: 'POST', headers: { ...form(), authorization: basic(aid, asec) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${base}/admin/v1` }) });
  const A = { authorization: `Bearer ${tok.json.access_token}`, 'content-type': 'application/json' };
  const api = (path, json, method = 'POST') => req(base, `/admin/v1${path}`, { method, headers: A, body: json ? JSON.stringify(json) : undefined });
  const RS = 'http://127.0.0.1:8788/mcp';
  await api('/resource-servers', { identifier: RS, name: 'Notes', scopes: [{ name: 'notes.read' }, { name: 'notes.write', implies: ['notes.read'] }] });
  const role = (await api('/roles', { name: 'reader', scopes: [{ resource: RS, scope: 'notes.read' }] })).json.id;
  const app = (await api('/applications', { name: 'bench m2m', client_type: 'confidential', grant_types: ['client_credentials'], roles: [role] })).json;
  const pub = (await api('/applications', { name: 'bench ui', client_type: 'public', redirect_uris: ['http://127.0.0.1/cb'], roles: [role] })).json;
  const user = (await api('/users', { username: 'bench', password: 'bench password 123' })).json;
  await api(`/users/${user.id}/roles/${role}`, undefined, 'PUT');
  return { RS, app, pub, adminToken: tok.json.access_token };
}

const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

async function session(base, s) {
  const q = new URLSearchParams({ response_type: 'code', client_id: s.pub.client_id, redirect_uri: 'http://127.0.0.1/cb',
    code_challenge: CHALLENGE, code_challenge_method: 'S256', resource: s.RS, scope: 'notes.read', state: 'x' }).toString();
  const page = await req(base, `/authorize?${q}`);
  const csrfCookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)[1];
  const login = (password, username = 'bench') => req(base, '/authorize/login', { method: 'POST', headers: { ...form(), cookie: csrfCookie },
    body: new URLSearchParams({ csrf, continue: q, username, password }) });
  const ok = await login('bench password 123');
  const cookie = [csrfCookie, ...ok.headers.getSetCookie().map((c) => c.split(';')[0])].join('; ');
  let consent = await req(base, `/authorize?${q}`, { headers: { cookie } });
  if (consent.status === 200) {
    const request = /name="request" value="([^"]+)"/.exec(consent.text)[1].replaceAll('&amp;', '&');
    await req(base, '/authorize/consent', { method: 'POST', headers: { ...form(), cookie }, body: new URLSearchParams({ csrf, request, decision: 'allow' }) });
  }
  return { q, cookie, login };
}

async function codeFlow(base, s, sess) {
  const t0 = performance.now();
  const a = await req(base, `/authorize?${sess.q}`, { headers: { cookie: sess.cookie } });
  const code = new URL(a.headers.get('location')).searchParams.get('code');
  const t = await req(base, '/token', { method: 'POST', headers: form(),
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: s.pub.client_id, code, redirect_uri: 'http://127.0.0.1/cb', code_verifier: VERIFIER }) });
  t.ms = performance.now() - t0;
  return t;
}

async function run(signer, repeat = 1) {
  const w = await startWorker({ vars: { MCPGATE_BENCH_HEADERS: 'true', MCPGATE_SIGNER: signer, MCPGATE_BENCH_SIGN_REPEAT: String(repeat) }, quiet: true });
  try {
    const s = await setup(w.base);
    const cc = () => req(w.base, '/token', { method: 'POST', headers: { ...form(), authorization: basic(s.app.client_id, s.app.client_secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: s.RS }) });
    for (let i = 0; i < 20; i++) await cc(); // warm the isolate (key cache)
    const out = { signer, cc: await load(N, C, cc), cc1: await load(Math.min(N, 100), 1, cc) };
    if (signer === 'webcrypto' && repeat === 1) {
      const sess = await session(w.base, s);
      out.code = await load(Math.min(N, 100), C, () => codeFlow(w.base, s, sess));
      const chains = await Promise.all(Array.from({ length: C }, async () => (await codeFlow(w.base, s, sess)).json.refresh_token));
      // Each concurrent worker rotates its own chain (a rotated token is used once).
      out.refresh = await load(Math.min(N, 100), C, async (_, slot) => {
        const r = await req(w.base, '/token', { method: 'POST', headers: form(),
          body: new URLSearchParams({ grant_type: 'refresh_token', client_id: s.pub.client_id, refresh_token: chains[slot] }) });
        if (r.json?.refresh_token) chains[slot] = r.json.refresh_token;
        return r;
      });
      // Unknown usernames hash against a dummy (same cost) and stay under the per-account limit.
      const wrong = await load(10, 1, (i) => sess.login('wrong password 123', `nobody-${i}`), (s) => s === 401);
      const jwks = await load(10, 1, () => req(w.base, '/.well-known/jwks.json'));
      out.pbkdf2 = wrong.p50 - jwks.p50;
      out.wrong = wrong;
    }
    return out;
  } finally {
    await w.stop();
  }
}

// BENCH_ONLY=cpu runs only the CPU section (BENCH_ONLY=token only the token endpoint's).
const ONLY = process.env.BENCH_ONLY;
if (ONLY !== 'cpu') {
  console.log(`== token endpoint under wrangler dev (N=${N}, concurrency ${C}; local D1, loopback)`);
  const web = await run('webcrypto');
  line('client_credentials', web.cc);
  line('client_credentials (concurrency 1)', web.cc1);
  line('refresh_token (rotating)', web.refresh);
  line('code flow (/authorize + /token)', web.code);
  console.log(`\n== password hashing (PBKDF2-HMAC-SHA256, 100,000 iterations, WebCrypto)`);
  line('failed login (one hash)', web.wrong);
  console.log(`  one hash costs about ${web.pbkdf2.toFixed(1)} ms (failed-login p50 minus JWKS p50)`);
  console.log(`\n== ES256 signing inside workerd: WebCrypto vs p256 compiled to WebAssembly (client_credentials, concurrency 1)`);
  const R = 51;
  const wasm = await run('p256');
  const webR = await run('webcrypto', R);
  const wasmR = await run('p256', R);
  line('signer = WebCrypto', web.cc1);
  line('signer = p256 in wasm', wasm.cc1);
  line(`signer = WebCrypto, ${R} signatures/token`, webR.cc1);
  line(`signer = p256 in wasm, ${R} signatures/token`, wasmR.cc1);
  // Each extra signature is pure CPU in the isolate, so the latency it adds is its CPU cost.
  const perWeb = (webR.cc1.p50 - web.cc1.p50) / (R - 1);
  const perWasm = (wasmR.cc1.p50 - wasm.cc1.p50) / (R - 1);
  console.log(`  signing CPU per token: WebCrypto ${(perWeb * 1000).toFixed(0)} us, p256 in wasm ${(perWasm * 1000).toFixed(0)} us` +
    ` -> WebCrypto needs ${(perWasm / Math.max(perWeb, 0.001)).toFixed(1)}x less signing CPU (aim: >= 10x)`);
}

// ------------------------------------------------------------------ CPU inside the Worker

/** Runs `job(i)` for i in 0..n, `c` at a time. */
async function each(n, c, job) {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) await job(next++);
  }));
}

/** Per endpoint: isolate CPU per request (V8 sampling profiler), by where it goes. */
async function cpuBreakdown() {
  const P = Number(process.env.BENCH_PROFILE_N || 300);
  const w = await startWorker({ quiet: true, vars: {
    MCPGATE_REGISTRATION_PER_SOURCE_PER_HOUR: '1000000', MCPGATE_REGISTRATION_GLOBAL_PER_HOUR: '100000000' } });
  const prof = await connectProfiler(w.inspector);
  try {
    const s = await setup(w.base);
    const sess = await session(w.base, s);
    const cc = () => req(w.base, '/token', { method: 'POST', headers: { ...form(), authorization: basic(s.app.client_id, s.app.client_secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: s.RS }) });
    const authorize = () => req(w.base, `/authorize?${sess.q}`, { headers: { cookie: sess.cookie } });
    const redeem = (code) => req(w.base, '/token', { method: 'POST', headers: form(),
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: s.pub.client_id, code, redirect_uri: 'http://127.0.0.1/cb', code_verifier: VERIFIER }) });
    const refresh = (rt) => req(w.base, '/token', { method: 'POST', headers: form(),
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: s.pub.client_id, refresh_token: rt }) });
    const register = () => req(w.base, '/register', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'bench', redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }) });
    const admin = s.adminToken;
    const tokens = [];
    const rows = [];
    const measure = async (name, make, job) => {
      const inputs = [];
      for (let i = 0; i < 20; i++) await job(await make(i)); // warm-up (isolate caches, JIT)
      for (let i = 0; i < P; i++) inputs.push(await make(i));
      let bad = 0;
      const r = await prof.measure(P, () => each(P, 4, async (i) => { if ((await job(inputs[i])).status >= 400) bad++; }));
      rows.push({ name, bad, ...r });
    };
    const none = async () => null;
    await measure('metadata', none, () => req(w.base, '/.well-known/oauth-authorization-server'));
    await measure('JWKS', none, () => req(w.base, '/.well-known/jwks.json'));
    await measure('registration (DCR)', none, register);
    await measure('client_credentials', none, async () => { const r = await cc(); tokens.push(r.json?.access_token); return r; });
    await measure('/authorize (signed in, consented)', none, authorize);
    const code = async () => new URL((await authorize()).headers.get('location')).searchParams.get('code');
    await measure('code redemption', code, redeem);
    await measure('refresh (rotating)', async () => (await redeem(await code())).json.refresh_token, refresh);
    await measure('introspection', async (i) => tokens[i % tokens.length],
      (t) => req(w.base, '/introspect', { method: 'POST', headers: { ...form(), authorization: `Bearer ${admin}` }, body: new URLSearchParams({ token: t }) }));
    await measure('revocation (refresh token)', async () => (await redeem(await code())).json.refresh_token,
      (rt) => req(w.base, '/revoke', { method: 'POST', headers: form(), body: new URLSearchParams({ client_id: s.pub.client_id, token: rt }) }));
    return rows;
  } finally {
    prof.close();
    await w.stop();
  }
}

if (ONLY !== 'token') {
console.log(`\n== CPU inside the Worker per request, and where it goes (V8 sampling profiler over the inspector;` +
  ` excludes wrangler's local proxy; aim: < 10 ms every endpoint but password sign-in, < 2 ms client_credentials and refresh)`);
const cpu = await cpuBreakdown();
const cols = CATEGORY_NAMES.map((c) => c.split(/[ ,]/)[0]);
console.log(`  ${'endpoint'.padEnd(36)} ${'CPU/req'.padStart(9)}  ${cols.map((c) => c.padStart(8)).join(' ')}   (us; samples)`);
for (const r of cpu) {
  console.log(`  ${r.name.padEnd(36)} ${(r.total.toFixed(0) + ' us').padStart(9)}  ${CATEGORY_NAMES.map((c) => r.byCategory[c].toFixed(0).padStart(8)).join(' ')}` +
    `   (${r.samples} @ ${r.period} us${r.bad ? `; ${r.bad} failed` : ''})`);
}
console.log(`  columns: ${CATEGORY_NAMES.join(' | ')}. "HTTP glue" is the Request/Response and headers conversion and the`);
console.log(`  wasm-bindgen boundary; "D1" the D1 binding's JavaScript and result decoding (the query runs outside the isolate);`);
console.log(`  "crypto" WebCrypto calls and hashing/AEAD in wasm. Heaviest functions per endpoint:`);
for (const r of cpu) console.log(`  ${r.name}: ${r.top.map(([n, us]) => `${n.replace(/::h[0-9a-f]{16}$/, '').slice(0, 90)} ${us.toFixed(0)} us`).join('; ')}`);
}
