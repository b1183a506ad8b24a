// `make bench`, last part: mcpgate side by side with the Workers peer, the Worker a Workers user
// would write instead (@cloudflare/workers-oauth-provider in a minimal Worker that auto-approves
// /authorize; ../shared/bench-peer, or BENCH_PEER_DIR). Both run under mcpgate's own pinned
// wrangler (`wrangler dev`, local storage), one after the other, and the peer's load driver
// (bench/oauth-load.mjs) measures both with the same settings. Then the runtime's floor: the same
// driver against a Worker that makes only storage calls (.ci/bench-floor) prices a request and each
// kind of call; with each server's calls per flow (the peer counts its KV calls, mcpgate's answers
// name their D1 round trips), that gives each flow's floor and how far mcpgate could go against the
// peer if its own code cost nothing. Last, where the runtime's thread goes for each flow of each
// server (perf, when usable: .ci/perf-runtime.mjs). Prints figures, never asserts them; prints
// one line and exits 0 when the peer directory is absent.
//
// Driver settings from the environment (defaults here): CONCURRENCY=16, DURATION_S=5, WARMUP_S=1,
// PAUSE_S=1, and, to bound the runtime on a busy machine, QUIET_WAIT_S=4, NOISY_RETRIES=1.
// Raw figures: target/bench-peer-results/ (the driver's JSON and output, per server).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, TEST_ADMIN, freePort, startWorker } from '../tests/http/lib/worker.mjs';
import { connectProfiler } from './profile.mjs';
import { PERF_CATEGORIES, PERF_HZ, breakdown, perfUsable, recordThread } from './perf-runtime.mjs';

const PEER_SRC = resolve(ROOT, process.env.BENCH_PEER_DIR || '../shared/bench-peer');
const PEER = join(ROOT, 'target/bench-peer'); // the copy that runs (target/ is git-ignored)
const RESULTS = join(ROOT, 'target/bench-peer-results');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler'); // worker.mjs put its node 22 on PATH
const DRIVER = join(PEER, 'bench/oauth-load.mjs');
const NOT_COPIED = new Set(['node_modules', '.wrangler', 'dist', 'dist-min', 'results']);

// Same driver settings for both servers.
const LOAD = {
  CONCURRENCY: process.env.CONCURRENCY || '16',
  DURATION_S: process.env.DURATION_S || '5',
  WARMUP_S: process.env.WARMUP_S || '1',
  PAUSE_S: process.env.PAUSE_S || '1',
  QUIET_WAIT_S: process.env.QUIET_WAIT_S || '4',
  NOISY_RETRIES: process.env.NOISY_RETRIES || '1',
};
// What both servers serve (BENCH_PEER_FLOWS=metadata,register narrows a run).
const FLOWS = (process.env.BENCH_PEER_FLOWS || 'metadata,register,authcode,refresh').split(',');
// Registration limits for the bench Worker: the largest each accepts, so DCR is not rate-limited.
const REGISTRATION_LIMITS = { MCPGATE_REGISTRATION_PER_SOURCE_PER_HOUR: '1000000', MCPGATE_REGISTRATION_GLOBAL_PER_HOUR: '100000000' };
const RS = 'http://127.0.0.1:8788/mcp'; // mcpgate's resource server (as in .ci/bench.mjs)
const REDIRECT = 'http://127.0.0.1/cb';

// Servers and driver runs in flight, stopped on Ctrl-C / SIGTERM as well as on the way out.
const running = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await Promise.allSettled([...running].map((stop) => stop()));
    process.exit(130);
  });
}

// ---------------------------------------------------------------- the peer's copy

/** Copies the peer's sources to target/bench-peer where they differ; returns the paths copied. */
function syncPeer(rel = '.', copied = []) {
  mkdirSync(join(PEER, rel), { recursive: true });
  for (const e of readdirSync(join(PEER_SRC, rel), { withFileTypes: true })) {
    const path = join(rel, e.name);
    if (NOT_COPIED.has(e.name)) continue;
    if (e.isDirectory()) syncPeer(path, copied);
    if (!e.isFile()) continue;
    const src = readFileSync(join(PEER_SRC, path));
    const dst = join(PEER, path);
    if (existsSync(dst) && readFileSync(dst).equals(src)) continue;
    rmSync(dst, { force: true }); // the source files are read-only, so would be an old copy
    writeFileSync(dst, src, { mode: 0o644 });
    copied.push(path);
  }
  return copied;
}

/** `npm ci` in the copy unless node_modules was installed from this very lock file. */
function installPeer() {
  const lock = createHash('sha256').update(readFileSync(join(PEER, 'package-lock.json'))).digest('hex');
  const stamp = join(PEER, 'node_modules/.bench-peer-lock');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === lock) return;
  console.log('  (installing the peer\'s npm packages: npm ci in target/bench-peer)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: PEER, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm ci failed in ${PEER}:\n${r.stdout}${r.stderr}`);
  writeFileSync(stamp, lock);
}

const versionOf = (dir, pkg) => JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;

// ---------------------------------------------------------------- servers

/** Polls `url` until it answers 200; throws (with `logs()`) if `alive()` turns false or on timeout. */
async function waitReady(url, alive, logs, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive()) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(`${url} did not come up:\n${logs()}`);
}

/**
 * Starts a JavaScript Worker (the peer, or the floor Worker) under mcpgate's wrangler, in its own
 * process group, with fresh local storage; `vars(base)` gives its vars.
 */
async function startJsWorker(cwd, vars, readyPath) {
  const port = await freePort();
  const inspector = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const persist = mkdtempSync(join(tmpdir(), 'bench-peer-state-'));
  const child = spawn(WRANGLER, ['dev', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspector), '--show-interactive-dev-session=false', '--log-level', 'warn',
    ...Object.entries(vars(base)).flatMap(([k, v]) => ['--var', `${k}:${v}`]), '--persist-to', persist], {
    cwd,
    detached: true,
    env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = async () => {
    running.delete(stop);
    if (!exited) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    }
    rmSync(persist, { recursive: true, force: true });
  };
  running.add(stop);
  try {
    await waitReady(`${base}${readyPath}`, () => !exited, () => out);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base, pid: child.pid, inspector, stop };
}

/** The peer, with fresh local KV; `counting` turns on its count of KV calls (never when timed). */
const startPeer = (counting = false) => startJsWorker(PEER, (base) => ({ RESOURCE: `${base}/mcp`,
  ...(counting ? { BENCH_COUNT_KV: '1' } : {}) }), '/.well-known/oauth-authorization-server');

/** Every process: pid, parent, process group and command line. Empty without /proc. */
function processes() {
  const out = [];
  for (const d of existsSync('/proc') ? readdirSync('/proc') : []) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const [, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(d), ppid: Number(ppid), pgrp: Number(pgrp), args: readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0') });
    } catch {} // the process went away
  }
  return out;
}

/**
 * The pid of the `wrangler dev` that startWorker spawned: the process-group leader whose command
 * line names the run's own state directory (startWorker does not return it). 0 without /proc.
 */
function wranglerPid(persistDir) {
  return processes().find((p) => p.pgrp === p.pid && p.args.includes(persistDir))?.pid ?? 0;
}

/** Starts mcpgate (built Worker, fresh local D1) with the registration limits lifted. */
async function startMcpgate() {
  // Bench headers: each answer names its D1 round trips (for the floor below).
  const w = await startWorker({ vars: { ...REGISTRATION_LIMITS, MCPGATE_BENCH_HEADERS: 'true' }, quiet: true });
  const stop = async () => {
    running.delete(stop);
    await w.stop(); // which removes its fresh state directory
  };
  running.add(stop);
  return { base: w.base, pid: wranglerPid(w.persistDir), inspector: w.inspector, logs: w.logs, stop };
}

// ---------------------------------------------------------------- mcpgate's directory (as .ci/bench.mjs)

async function req(base, path, { method = 'GET', headers = {}, body } = {}) {
  const r = await fetch(base + path, { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, headers: r.headers, json, text };
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (id, s) => 'Basic ' + Buffer.from(`${id}:${s}`).toString('base64');
const cookiesOf = (r) => r.headers.getSetCookie().map((c) => c.split(';')[0]);
// RFC 7636 Appendix B: this verifier's S256 challenge is the one `session` and `oneOfEach` send.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
/** The fetch options of a dynamic registration: a public client of the code flow, as the driver's. */
const registration = (name) => ({ method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
  body: JSON.stringify({ client_name: name, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'], token_endpoint_auth_method: 'none' }) });

/** Admin client, resource server, role, a confidential app (client_credentials), a public app
 *  (code flow) and a user holding the role. */
async function directory(base) {
  const boot = await req(base, '/admin/v1/bootstrap', { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN}` } });
  const tok = await req(base, '/token', { method: 'POST', headers: { ...FORM, authorization: basic(boot.json.client_id, boot.json.client_secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${base}/admin/v1` }) });
  const A = { authorization: `Bearer ${tok.json.access_token}`, 'content-type': 'application/json' };
  const api = async (path, json, method = 'POST') => {
    const r = await req(base, `/admin/v1${path}`, { method, headers: A, body: json ? JSON.stringify(json) : undefined });
    if (r.status >= 300) throw new Error(`admin ${method} ${path}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    return r.json;
  };
  await api('/resource-servers', { identifier: RS, name: 'Notes', scopes: [{ name: 'notes.read' }, { name: 'notes.write', implies: ['notes.read'] }] });
  const role = (await api('/roles', { name: 'reader', scopes: [{ resource: RS, scope: 'notes.read' }] })).id;
  const app = await api('/applications', { name: 'bench m2m', client_type: 'confidential', grant_types: ['client_credentials'], roles: [role] });
  const pub = await api('/applications', { name: 'bench ui', client_type: 'public', redirect_uris: [REDIRECT], roles: [role] });
  const user = await api('/users', { username: 'bench', password: 'bench password 123' });
  await api(`/users/${user.id}/roles/${role}`, undefined, 'PUT');
  return { app, pub };
}

/** Signs `bench` in and consents to notes.read for the public app; returns the session cookie,
 *  with which /authorize redirects straight back with a code (as the peer's auto-consent does). */
async function session(base, pub) {
  const q = new URLSearchParams({ response_type: 'code', client_id: pub.client_id, redirect_uri: REDIRECT,
    code_challenge: CHALLENGE, code_challenge_method: 'S256',
    resource: RS, scope: 'notes.read', state: 'x' }).toString();
  const page = await req(base, `/authorize?${q}`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!csrf) throw new Error(`no login page at /authorize: HTTP ${page.status} ${page.text.slice(0, 200)}`);
  const csrfCookie = cookiesOf(page).join('; ');
  const login = await req(base, '/authorize/login', { method: 'POST', headers: { ...FORM, cookie: csrfCookie },
    body: new URLSearchParams({ csrf, continue: q, username: 'bench', password: 'bench password 123' }) });
  const cookie = [csrfCookie, ...cookiesOf(login)].join('; ');
  const consent = await req(base, `/authorize?${q}`, { headers: { cookie } });
  if (consent.status === 200) {
    const request = /name="request" value="([^"]+)"/.exec(consent.text)[1].replaceAll('&amp;', '&');
    await req(base, '/authorize/consent', { method: 'POST', headers: { ...FORM, cookie }, body: new URLSearchParams({ csrf, request, decision: 'allow' }) });
  }
  const again = await req(base, `/authorize?${q}`, { headers: { cookie } });
  if (!/[?&]code=/.test(again.headers.get('location') || '')) {
    throw new Error(`signed-in /authorize did not redirect with a code: HTTP ${again.status} ${again.text.slice(0, 200)}`);
  }
  return cookie;
}

// ---------------------------------------------------------------- the driver

/** Runs the driver once (cwd: the peer copy, for its undici); returns its per-run results. */
async function drive(name, server, vars) {
  const outJson = join(RESULTS, `${name}.json`);
  rmSync(outJson, { force: true });
  const env = { ...process.env, ...LOAD, BASE_URL: server.base, SERVER_PID: String(server.pid || ''), OUT_JSON: outJson, LABEL: name,
    CLIENT_ID: '', CLIENT_SECRET: '', CLIENT_AUTH: 'none', COOKIE: '', CC_SCOPE: '', ...vars };
  const child = spawn(process.execPath, [DRIVER], { cwd: PEER, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = async () => { try { child.kill('SIGTERM'); } catch {} };
  running.add(kill);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((res) => child.on('close', res));
  running.delete(kill);
  writeFileSync(join(RESULTS, `${name}.txt`), out);
  if (code !== 0 || !existsSync(outJson)) throw new Error(`driver (${name}) exited with ${code}:\n${out}`);
  const results = JSON.parse(readFileSync(outJson, 'utf8')).results;
  // The runtime thread's share of the run and CPU per operation (see `runtimePid`).
  const rt = runtimePid(server.pid);
  for (const r of results) {
    const secs = rt && r.server_cpu_by_process
      ? Object.entries(r.server_cpu_by_process).find(([k]) => k.startsWith(`${rt} `))?.[1] : undefined;
    if (typeof secs === 'number' && r.seconds > 0 && r.ok > 0) {
      r.runtime_busy = secs / r.seconds;
      r.runtime_us_per_op = (secs * 1e6) / r.ok;
    }
  }
  return results;
}

/**
 * The workerd process that runs the Worker itself, among wrangler's descendants: the one with an
 * inspector (the other is wrangler's proxy). The local D1 and KV simulators run in it too, and it
 * runs them and the Worker on one thread, so once it is near 100% busy its CPU per operation is
 * what bounds a server's throughput. 0 if not found.
 */
function runtimePid(root) {
  const all = processes();
  for (const todo = root ? [root] : []; todo.length;) {
    const pid = todo.pop();
    const args = all.find((p) => p.pid === pid)?.args ?? [];
    if (args[0]?.endsWith('/workerd') && args.some((a) => a.startsWith('--inspector-addr'))) return pid;
    todo.push(...all.filter((p) => p.ppid === pid).map((p) => p.pid));
  }
  return 0;
}

// ---------------------------------------------------------------- CPU inside each isolate

const PROFILE_N = Number(process.env.BENCH_PROFILE_N || 300);
// The flows both servers answer with one request, profiled inside each Worker's isolate with
// the same requests (the driver's registration body), 4 in flight.
const PROFILED = {
  metadata: (base) => fetch(`${base}/.well-known/oauth-authorization-server`),
  register: (base, i) => fetch(`${base}/register`, registration(`bench-client-p${i}`)),
};

/** Microseconds of isolate CPU per request for each PROFILED flow (V8's sampling profiler). */
async function isolateCpu(server) {
  if (!server.inspector) return {};
  const prof = await connectProfiler(server.inspector);
  const out = {};
  try {
    for (const [flow, send] of Object.entries(PROFILED)) {
      if (!FLOWS.includes(flow)) continue;
      let next = 0;
      let failed = 0;
      const run = () => Promise.all(Array.from({ length: 4 }, async () => {
        while (next < PROFILE_N) {
          const r = await send(server.base, next++);
          await r.arrayBuffer();
          if (r.status >= 300) failed++;
        }
      }));
      await run(); // warm-up
      next = 0;
      const m = await prof.measure(PROFILE_N, run);
      out[flow] = failed ? null : m.total;
    }
  } finally {
    prof.close();
  }
  return out;
}

/** The driver's settings for the peer's flows. */
const peerFlowVars = (peer) => ({ SCOPE: 'mcp:read', RESOURCE: `${peer.base}/mcp`, REDIRECT_URI: '' });

async function benchPeer(tag) {
  const peer = await startPeer();
  try {
    const results = await drive(`peer${tag}`, peer, { SCENARIOS: FLOWS.join(','), ...peerFlowVars(peer) });
    return { results, isolate: await isolateCpu(peer) };
  } finally {
    await peer.stop();
  }
}

// ---------------------------------------------------------------- rounds

// Rounds (BENCH_PEER_ROUNDS, default 1), each the peer then mcpgate on fresh servers. With more
// than one, each figure is the median over the rounds: one run moves by up to a third here.
const ROUNDS = Math.max(1, Number(process.env.BENCH_PEER_ROUNDS || 1));
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : NaN;
};

/** One server's rounds as one: per flow, the median of each figure (the rest from the median run). */
function mergeRounds(rounds) {
  const scenarios = [...new Set(rounds.flatMap((r) => r.results.map((x) => x.scenario)))];
  const results = scenarios.map((sc) => {
    const runs = rounds.map((r) => r.results.find((x) => x.scenario === sc)).filter(measured);
    if (!runs.length) return rounds[0].results.find((x) => x.scenario === sc);
    const mid = [...runs].sort((a, b) => a.per_s - b.per_s)[Math.floor(runs.length / 2)];
    const m = (k) => median(runs.map((x) => x[k]));
    return { ...mid, per_s: m('per_s'), server_cpu_us_per_op: m('server_cpu_us_per_op'), p50_ms: m('p50_ms'),
      runtime_busy: m('runtime_busy'), runtime_us_per_op: m('runtime_us_per_op') };
  });
  const flows = [...new Set(rounds.flatMap((r) => Object.keys(r.isolate)))];
  const isolate = Object.fromEntries(flows.map((f) => [f, median(rounds.map((r) => r.isolate[f]))]));
  return { results, isolate, calls: rounds[0].calls, rounds };
}

/** Each round's mcpgate/peer per flow, so the spread behind the medians shows. */
function roundRatios(peer, gate) {
  if (peer.rounds.length < 2) return;
  const flows = [...new Set(gate.results.map((r) => r.scenario))].filter((f) => peer.results.some((r) => r.scenario === f));
  const per = flows.map((f) => `${f} ${peer.rounds.map((p, i) => {
    const [a, b] = [p.results.find((r) => r.scenario === f), gate.rounds[i].results.find((r) => r.scenario === f)];
    return measured(a) && measured(b) && a.per_s > 0 ? (b.per_s / a.per_s).toFixed(2) : '-';
  }).join(' ')}`);
  console.log(`  mcpgate/peer in each of the ${peer.rounds.length} rounds: ${per.join('; ')}`);
}

// ---------------------------------------------------------------- storage calls per flow

const codeOf = (r) => new URL(r.headers.get('location') || 'http://x/').searchParams.get('code');

/**
 * One registration, one code flow and one refresh against `base`, each step checked; `after(flow)`
 * is called after each flow's requests with the answers it got and returns what they cost.
 */
async function oneOfEach(base, { clientId, cookie = '', scope, resource }, after) {
  const out = {};
  const reg = await req(base, '/register', registration('calls'));
  if (![200, 201].includes(reg.status)) throw new Error(`register: HTTP ${reg.status} ${reg.text.slice(0, 200)}`);
  out.register = await after('register', [reg]);
  const client = clientId || reg.json.client_id;
  const q = new URLSearchParams({ response_type: 'code', client_id: client, redirect_uri: REDIRECT, code_challenge: CHALLENGE,
    code_challenge_method: 'S256', scope, resource, state: 'x' });
  const auth = await req(base, `/authorize?${q}`, { headers: { cookie } });
  const code = codeOf(auth);
  if (!code) throw new Error(`authorize: HTTP ${auth.status} without a code`);
  const redeem = await req(base, '/token', { method: 'POST', headers: FORM, body: new URLSearchParams({ grant_type: 'authorization_code',
    code, client_id: client, redirect_uri: REDIRECT, code_verifier: VERIFIER, resource }) });
  if (!redeem.json?.refresh_token) throw new Error(`redemption: HTTP ${redeem.status} ${redeem.text.slice(0, 200)}`);
  out.authcode = await after('authcode', [auth, redeem]);
  const refresh = await req(base, '/token', { method: 'POST', headers: FORM, body: new URLSearchParams({ grant_type: 'refresh_token',
    refresh_token: redeem.json.refresh_token, client_id: client }) });
  if (!refresh.json?.access_token) throw new Error(`refresh: HTTP ${refresh.status} ${refresh.text.slice(0, 200)}`);
  out.refresh = await after('refresh', [refresh]);
  out.metadata = { requests: 1 };
  return out;
}

/** mcpgate's D1 round trips per flow, from the bench header on each answer. */
function mcpgateCalls(gate, pub, cookie) {
  return oneOfEach(gate.base, { clientId: pub.client_id, cookie, scope: 'notes.read', resource: RS }, (_, answers) => ({
    requests: answers.length,
    d1: answers.reduce((n, a) => n + Number(a.headers.get('x-mcpgate-d1-round-trips') ?? NaN), 0),
  }));
}

/** The peer's KV calls per flow, counted by the peer itself (BENCH_COUNT_KV) in a run of its own. */
async function peerCalls() {
  const peer = await startPeer(true);
  try {
    const counts = async () => (await req(peer.base, '/__kv-stats?reset=1')).json;
    await counts();
    return await oneOfEach(peer.base, { scope: 'mcp:read', resource: `${peer.base}/mcp` }, async (_, answers) => {
      const kv = await counts();
      return { requests: answers.length, ...Object.fromEntries(Object.entries(kv).map(([k, v]) => [`kv ${k}`, v])) };
    });
  } finally {
    await peer.stop();
  }
}

// ---------------------------------------------------------------- the runtime's floor

const FLOOR_SRC = join(ROOT, '.ci/bench-floor');
const FLOOR = join(ROOT, 'target/bench-floor'); // the copy that runs, so wrangler's files stay in target/
// What the floor Worker measures, by path: the request alone, then one storage call each.
const FLOOR_PATHS = { request: '/', 'kv get': '/kv-get', 'kv put': '/kv-put', 'kv list': '/kv-list',
  d1: '/d1', 'd1 (3 reads, 6 writes)': '/d1-9', 'd1 session (2 reads)': '/d1-session' };

// Rounds over every path (FLOOR_ROUNDS), each path's figure the median of its rounds: one run of a
// few seconds moves by up to a third on this kind of machine.
const FLOOR_ROUNDS = Number(process.env.FLOOR_ROUNDS || 3);

// What the floor prices: the server's CPU (wrangler and all its children), and the runtime
// thread's alone (see `runtimePid`), which is what bounds the throughput once it is saturated.
const MEASURES = [['server_cpu_us_per_op', 'server CPU'], ['runtime_us_per_op', 'runtime thread']];

/** Per MEASURES entry, the floor Worker's CPU per request for each FLOOR_PATHS entry (same driver). */
async function floorCosts() {
  cpSync(FLOOR_SRC, FLOOR, { recursive: true });
  const w = await startJsWorker(FLOOR, () => ({}), '/');
  try {
    const setup = await req(w.base, '/setup');
    if (setup.status !== 200) throw new Error(`floor setup: HTTP ${setup.status}`);
    const runs = Object.fromEntries(MEASURES.map(([m]) => [m, Object.fromEntries(Object.keys(FLOOR_PATHS).map((k) => [k, []]))]));
    for (let round = 0; round < FLOOR_ROUNDS; round++) {
      for (const [call, path] of Object.entries(FLOOR_PATHS)) {
        const [r] = await drive(`floor-${path.slice(1) || 'request'}-${round}`, w, { SCENARIOS: 'metadata', METADATA_PATH: path,
          DISCOVER: '0', DURATION_S: '3', WARMUP_S: '1' });
        for (const [m] of MEASURES) if (measured(r) && r[m]) runs[m][call].push(r[m]);
      }
    }
    return Object.fromEntries(MEASURES.map(([m]) => [m,
      Object.fromEntries(Object.entries(runs[m]).map(([k, xs]) => [k, median(xs)]))]));
  } finally {
    await w.stop();
  }
}

/** The directory and the signed-in session; a failure carries the end of wrangler's log. */
async function prepare(gate) {
  try {
    const { app, pub } = await directory(gate.base);
    return { app, pub, cookie: await session(gate.base, pub) };
  } catch (e) {
    e.message += `\n--- end of mcpgate's wrangler log:\n${gate.logs().slice(-3000)}`;
    throw e;
  }
}

/** The driver's settings for mcpgate's flows (those it shares with the peer): DCR ignores
 *  CLIENT_ID; the code flow and refresh use the public app and the signed-in session. */
const gateFlowVars = (pub, cookie) => ({ CLIENT_ID: pub.client_id, CLIENT_AUTH: 'none', COOKIE: cookie, SCOPE: 'notes.read',
  RESOURCE: RS, REDIRECT_URI: REDIRECT });

async function benchMcpgate(tag) {
  const gate = await startMcpgate();
  try {
    const { app, pub, cookie } = await prepare(gate);
    const flows = await drive(`mcpgate${tag}`, gate, { SCENARIOS: FLOWS.join(','), ...gateFlowVars(pub, cookie) });
    const cc = await drive(`mcpgate-cc${tag}`, gate, { SCENARIOS: 'cc', CLIENT_ID: app.client_id, CLIENT_SECRET: app.client_secret,
      CLIENT_AUTH: 'client_secret_basic', SCOPE: '', RESOURCE: RS, REDIRECT_URI: '' });
    const isolate = await isolateCpu(gate);
    return { results: [...flows, ...cc], isolate, calls: await mcpgateCalls(gate, pub, cookie) };
  } finally {
    await gate.stop();
  }
}

// ---------------------------------------------------------------- the table

const measured = (r) => r && !r.setup_error;
const fixed = (v, d) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '-');
const rate = (r) => (measured(r) ? `${fixed(r.per_s, 1)} ${r.unit}/s` : '-');
const pair = (a, b, f) => `${a ? f(a) : '-'} / ${b ? f(b) : '-'}`;
const busy = (r) => (measured(r) ? `${r.busy_pct_before ?? '?'}%` : '-');
/** Share of all cores that other processes took during the run; * = the driver found it noisy. */
const others = (r) => (measured(r) && typeof r.other_cpu_s === 'number'
  ? `${Math.round((100 * r.other_cpu_s) / (cpus().length * r.seconds))}%${r.noisy ? '*' : ''}` : '-');

/** Prints rows (the first the header) in aligned columns: `left` ones left-aligned, the rest right. */
function printTable(rows, left) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) console.log('  ' + row.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   '));
}

function table({ results: peer, isolate: peerCpu }, { results: gate, isolate: gateCpu }) {
  const key = (r) => `${r.scenario} ${r.concurrency}`;
  const byKey = (rs) => new Map(rs.map((r) => [key(r), r]));
  const [p, g] = [byKey(peer), byKey(gate)];
  const keys = [...new Set([...peer, ...gate].map(key))];
  const oneC = new Set([...peer, ...gate].map((r) => r.concurrency)).size === 1;
  const rows = [['flow', 'peer', 'mcpgate', 'mcpgate/peer', 'server CPU/op (peer / mcpgate)', 'runtime thread: busy, CPU/op',
    'isolate CPU/op', 'p50 (peer / mcpgate)', 'busy before', 'others during']];
  for (const k of keys) {
    const [a, b] = [p.get(k), g.get(k)];
    const r = a || b;
    const ok = (x) => measured(x) && x.per_s > 0;
    rows.push([
      oneC ? r.scenario : `${r.scenario} c=${r.concurrency}`,
      rate(a),
      rate(b),
      ok(a) && ok(b) ? `${(b.per_s / a.per_s).toFixed(2)}x` : '-',
      `${pair(a, b, (x) => fixed(x.server_cpu_us_per_op, 0))} us`,
      pair(a, b, (x) => (Number.isFinite(x.runtime_busy) ? `${fixed(100 * x.runtime_busy, 0)}% ${fixed(x.runtime_us_per_op, 0)} us` : '-')),
      r.scenario in peerCpu || r.scenario in gateCpu ? `${fixed(peerCpu[r.scenario], 0)} / ${fixed(gateCpu[r.scenario], 0)} us` : '-',
      `${pair(a, b, (x) => fixed(x.p50_ms, 1))} ms`,
      pair(a, b, busy),
      pair(a, b, others),
    ]);
  }
  printTable(rows, [0]);
  // Failures, if any, under the table.
  for (const [who, rs] of [['peer', peer], ['mcpgate', gate]]) {
    for (const r of rs) {
      const errs = Object.entries(r.errors || {}).map(([e, n]) => `${e} x${n}`).join(', ');
      if (r.setup_error) console.log(`  ! ${who} ${r.scenario}: setup failed: ${r.setup_error}`);
      else if (errs) console.log(`  ! ${who} ${r.scenario}: ${errs} (${(r.sample_errors || [])[0] || ''})`);
    }
  }
}

/**
 * Each flow's floor for each server: its requests and storage calls priced at what the floor
 * Worker paid for them; and the most mcpgate could reach against this run of the peer if it cost
 * only its floor (the peer's measured CPU per flow over mcpgate's floor: both are CPU-bound here).
 */
function floorTable(costs, { results: peer, calls: peerCalls }, { results: gate, calls: gateCalls }) {
  const ms = (v) => (typeof v === 'number' && Number.isFinite(v) ? (v / 1000).toFixed(2) : '-');
  /** Per measure: the request's price, each call's, and a flow's calls priced (NaN if unmeasured). */
  const pricing = Object.fromEntries(MEASURES.map(([m, label]) => {
    const base = costs[m].request;
    const each = Object.fromEntries(Object.entries(costs[m]).map(([k, v]) => [k, v - base]));
    console.log(`  ${label} per request: the request alone ${fixed(base, 0)} us; one call adds ` +
      Object.keys(FLOOR_PATHS).slice(1).map((k) => `${k} ${fixed(each[k], 0)}`).join(', ') + ' us');
    const price = { ...each, d1: Math.min(each.d1, each['d1 (3 reads, 6 writes)']) };
    const floor = ({ requests, ...ops }) => requests * base + Object.entries(ops).reduce((sum, [k, n]) => sum + n * (price[k] ?? NaN), 0);
    return [m, floor];
  }));
  const callsOf = ({ requests, ...ops }) => `${requests} req${Object.entries(ops).map(([k, n]) => `, ${k} ${n}`).join('')}`;
  /** "server / runtime" for one figure per measure. */
  const both = (f) => MEASURES.map(([m]) => f(m)).join(' / ');
  const rows = [['flow', 'peer: requests and calls', 'floor', 'mcpgate: requests and calls', 'floor', 'mcpgate/peer measured',
    'if mcpgate cost its floor only']];
  for (const flow of FLOWS) {
    if (!peerCalls[flow] || !gateCalls[flow]) continue;
    const [a, b] = [peer.find((r) => r.scenario === flow), gate.find((r) => r.scenario === flow)];
    const ok = measured(a) && measured(b) && a.per_s > 0 && b.per_s > 0;
    const ceiling = (m) => {
      const gf = pricing[m](gateCalls[flow]);
      return measured(a) && gf > 0 && a[m] ? `${(a[m] / gf).toFixed(2)}x` : '-';
    };
    rows.push([flow, callsOf(peerCalls[flow]), `${both((m) => ms(pricing[m](peerCalls[flow])))} ms`, callsOf(gateCalls[flow]),
      `${both((m) => ms(pricing[m](gateCalls[flow])))} ms`, ok ? `${(b.per_s / a.per_s).toFixed(2)}x` : '-', both(ceiling)]);
  }
  printTable(rows, [0, 1, 3]);
  console.log(`  floor = the flow's requests and calls priced at the floor Worker's figures (medians of ${FLOOR_ROUNDS} rounds`);
  console.log(`    of 3 s; mcpgate's D1 round trips at the cheapest plain batch), in server CPU / the runtime thread's.`);
  console.log(`    Last column: the peer's CPU per flow in this run over mcpgate's floor, each measure, the ratio mcpgate`);
  console.log(`    would reach if its own code cost nothing; the runtime thread's is the one that bounds the throughput.`);
}

// ---------------------------------------------------------------- main

async function main() {
  if (!existsSync(join(PEER_SRC, 'bench/oauth-load.mjs'))) {
    console.log(`== side by side with the Workers peer: skipped (no peer at ${PEER_SRC}; BENCH_PEER_DIR names another)`);
    return;
  }
  if (!existsSync(join(ROOT, 'build/index.js'))) throw new Error('build/index.js is missing: run `bash .ci/build` first');
  console.log('== side by side: mcpgate and the Workers peer, one after the other, measured by the same driver');
  syncPeer();
  installPeer();
  mkdirSync(RESULTS, { recursive: true });
  if (process.env.BENCH_PEER_PERF === 'only') return runtimeBreakdown(); // that section alone
  console.log(`  peer: @cloudflare/workers-oauth-provider ${versionOf(PEER, '@cloudflare/workers-oauth-provider')} in a minimal Worker` +
    ` (${PEER_SRC}, run from target/bench-peer)`);
  console.log(`  both under wrangler ${versionOf(ROOT, 'wrangler')} dev (local D1/KV) on node ${process.version}; driver oauth-load.mjs` +
    ` (undici ${versionOf(PEER, 'undici')}), concurrency ${LOAD.CONCURRENCY}, ${LOAD.DURATION_S} s (+${LOAD.WARMUP_S} s warmup) per flow`);
  console.log(`  machine: ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} at start;` +
    ` mcpgate's registration limits lifted (${Object.entries(REGISTRATION_LIMITS).map(([k, v]) => `${k}=${v}`).join(', ')})`);
  const peerRounds = [];
  const gateRounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    const tag = ROUNDS > 1 ? `-r${i + 1}` : '';
    const of = ROUNDS > 1 ? ` (round ${i + 1} of ${ROUNDS})` : '';
    console.log(`  measuring the peer${of}...`);
    peerRounds.push(await benchPeer(tag));
    console.log(`  measuring mcpgate${of}...`);
    gateRounds.push(await benchMcpgate(tag));
  }
  const [peer, gate] = [mergeRounds(peerRounds), mergeRounds(gateRounds)];
  console.log('  counting the peer\'s KV calls, measuring the floor...');
  peer.calls = await peerCalls();
  const costs = await floorCosts();
  console.log();
  table(peer, gate);
  roundRatios(peer, gate);
  if (ROUNDS > 1) console.log(`  figures: the median over ${ROUNDS} rounds (BENCH_PEER_ROUNDS), each the peer then mcpgate on fresh servers.`);
  console.log(`  mcpgate/peer > 1: mcpgate serves more. authcode = GET /authorize (302 with a code) + POST /token;`);
  console.log(`    peer: a DCR client per lane and no login (auto-consent); mcpgate: one public app and a signed-in`);
  console.log(`    session whose consent covers notes.read. refresh rotates one chain per lane. cc (client_credentials)`);
  console.log(`    is mcpgate's only: the peer has none. server CPU/op = wrangler and all its children per request/flow;`);
  console.log(`    runtime thread = the workerd process that runs the Worker and the local D1/KV simulators, on one thread:`);
  console.log(`    its share of one core during the run, and its CPU per request/flow. Near 100% it is what bounds the`);
  console.log(`    throughput, so mcpgate/peer follows the ratio of these CPU figures (the proxy process has room to spare).`);
  console.log(`    isolate CPU/op = the Worker's own isolate only (V8 profiler, ${PROFILE_N} requests after the driver, 4 in flight).`);
  console.log(`  busy before = whole machine before the run; others during = share of the ${cpus().length} cores other processes`);
  console.log(`    took in the run (* = noisy even after ${LOAD.NOISY_RETRIES} retry). Raw figures: target/bench-peer-results/.`);
  console.log(`\n== the runtime's floor: a Worker that makes only storage calls (.ci/bench-floor), same wrangler and driver`);
  floorTable(costs, peer, gate);
  await runtimeBreakdown();
}

// ---------------------------------------------------------------- where the runtime thread goes

/**
 * One more run of each flow per server, with `perf` sampling the runtime's main thread (see
 * .ci/perf-runtime.mjs): that thread's CPU per operation, split by what it was doing. Skipped
 * with a line when `perf` is not usable, or with BENCH_PEER_PERF=0.
 */
async function runtimeBreakdown() {
  console.log(`\n== where the runtime thread goes: perf samples its main thread (${PERF_HZ} Hz, call stacks), one more run per flow`);
  if (process.env.BENCH_PEER_PERF === '0') return console.log('  skipped (BENCH_PEER_PERF=0)');
  if (!perfUsable()) return console.log('  skipped: `perf record` is not usable here (install perf, or lower kernel.perf_event_paranoid)');
  const rows = [];
  const sample = async (who, server, vars) => {
    const rt = runtimePid(server.pid);
    if (!rt) throw new Error(`no runtime process under ${who}'s wrangler`);
    for (const flow of FLOWS) {
      const file = join(RESULTS, `perf-${who}-${flow}.data`);
      const stop = recordThread(rt, file); // the main thread's id is the process id
      let r;
      try {
        [r] = await drive(`perf-${who}-${flow}`, server, { ...vars, SCENARIOS: flow });
      } finally {
        await stop();
      }
      let split;
      try {
        split = breakdown(file);
      } catch (e) {
        console.log(`  ${who} ${flow}: no samples (${e.message.split('\n')[0]})`);
        continue;
      }
      if (measured(r) && r.ok > 0 && split.total > 0) rows.push({ flow, who, r, ...split });
    }
  };
  const peer = await startPeer();
  try {
    await sample('peer', peer, peerFlowVars(peer));
  } finally {
    await peer.stop();
  }
  const gate = await startMcpgate();
  try {
    const { pub, cookie } = await prepare(gate);
    await sample('mcpgate', gate, gateFlowVars(pub, cookie));
  } finally {
    await gate.stop();
  }
  // The thread's CPU per operation over the measured window (as in the side by side), split in
  // the shares of the samples (which also cover the warmup).
  const out = [['flow', 'server', 'thread CPU/op', ...PERF_CATEGORIES]];
  for (const flow of FLOWS) {
    for (const { who, r, counts, total } of rows.filter((x) => x.flow === flow)) {
      const perOp = r.runtime_us_per_op;
      out.push([flow, who, `${fixed(perOp, 0)} us`, ...PERF_CATEGORIES.map((c) => fixed((perOp * counts[c]) / total, 0))]);
    }
  }
  printTable(out, [0, 1]);
  console.log('  us per request or flow: the thread\'s CPU per operation in the measured window, split by the share of');
  console.log('    the samples in each category. Each sample goes to the first category its call stack matches: SQLite prepare');
  console.log('    (parsing and planning: the local D1 simulator prepares every statement anew), SQLite commit (with');
  console.log('    its fsync), SQLite run, JSON (V8 parsing or writing it), WebAssembly (the Worker\'s own code),');
  console.log('    HTTP hops (the request\'s, and each D1 or KV call\'s, between the runtime\'s workers), JavaScript');
  console.log('    (the Worker\'s glue and the simulators\'), kernel, runtime (workerd\'s own code, its event loop).');
  console.log('    perf\'s sampling adds to the thread\'s CPU (up to about a fifth here): these runs are not the side by side\'s.');
}

try {
  await main();
} finally {
  await Promise.allSettled([...running].map((stop) => stop()));
}
