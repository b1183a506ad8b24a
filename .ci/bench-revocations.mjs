// `make bench`: the revocation feed and push channel at scale, under `wrangler dev` (local D1,
// KV and Durable Objects). Prints figures, never asserts them.
//
// - BENCH_REVOCATIONS (default 100,000) live revocations are written to D1 before the Worker
//   starts (the log numbers them through its triggers); one more revocation through the admin
//   API makes the hub publish the whole backlog to KV (a one-off: normally each publish carries
//   one revocation).
// - The feed: an up-to-date poll, a conditional one, one a segment behind, and the full
//   snapshot paged as mcpgate-guard pages it (cold, then with the pages kept at the edge).
// - The previous design, in the same run: the same number of keys in the previous KV layout
//   (one key per entry, the entry in its metadata) listed the way its feed listed them on every
//   request (listing only: a lower bound of what its requests cost).
// - Fan-out: BENCH_SUBSCRIBERS (default 1,000) WebSocket subscribers, then one revocation:
//   when the first, the median and the last subscriber had it.
import { execFileSync } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startWorker, freshState, TEST_ADMIN, ROOT } from '../tests/http/lib/worker.mjs';

const LIVE = Number(process.env.BENCH_REVOCATIONS || 100_000);
const SUBS = Number(process.env.BENCH_SUBSCRIBERS || 1000);
const PER_CLIENT = 32; // the hub's cap per subscribing client
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (x) => `${x.toFixed(1).padStart(7)} ms`;
const basic = (id, s) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(s)}`).toString('base64');
const payload = (jws) => JSON.parse(Buffer.from(jws.split('.')[1], 'base64url'));

function wrangler(args, persistDir) {
  execFileSync(WRANGLER, [...args, '--local', '--persist-to', persistDir], {
    cwd: ROOT, env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false' }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20,
  });
}

async function timed(base, path, headers = {}) {
  const t0 = performance.now();
  const r = await fetch(base + path, { headers });
  const text = await r.text();
  return { status: r.status, text, etag: r.headers.get('etag'), ms: performance.now() - t0 };
}

async function series(n, job) {
  const lat = [];
  for (let i = 0; i < n; i++) lat.push((await job()).ms);
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

const now = Math.floor(Date.now() / 1000);
const persistDir = freshState();
// The current layout's source: LIVE revocations in D1 (numbered by the log's triggers).
wrangler(['d1', 'execute', 'DB', '--command',
  `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${LIVE}) ` +
  `INSERT INTO revocations (kind, id, revoked_at, expires_at) SELECT 'jti', 'bench-' || i, ${now}, ${now + 86_400} FROM n`], persistDir);
// The previous layout in the same namespace: one key per entry, the entry in its metadata.
const bulk = join(tmpdir(), `mcpgate-bench-kv-${process.pid}.json`);
writeFileSync(bulk, JSON.stringify(Array.from({ length: LIVE }, (_, i) => ({
  key: `jti:old-${i}`, value: String(now), expiration: now + 86_400,
  metadata: { kind: 'jti', id: `old-${i}`, revoked_at: now, expires_at: now + 86_400 },
}))));
wrangler(['kv', 'bulk', 'put', bulk, '--binding', 'REVOCATIONS'], persistDir);
rmSync(bulk);

const w = await startWorker({ persistDir, vars: { MCPGATE_BENCH_HEADERS: 'true' }, quiet: true });
try {
  const base = w.base;
  const boot = await (await fetch(`${base}/admin/v1/bootstrap`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN}` } })).json();
  const tok = await (await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(boot.client_id, boot.client_secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${base}/admin/v1` }) })).json();
  const api = async (path, json, method = 'POST') => {
    const r = await fetch(`${base}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' }, body: json ? JSON.stringify(json) : undefined });
    return r.status === 204 ? null : r.json();
  };
  const RS = 'http://127.0.0.1:9/bench-revocations/mcp';
  await api('/resource-servers', { identifier: RS, name: 'Bench', scopes: [{ name: 'x' }] });
  const victims = [];
  for (let i = 0; i < 2; i++) victims.push((await api('/agents', { name: `victim ${i}`, owner: 'bench' })).client_id);

  console.log(`== revocations at scale under wrangler dev (${LIVE.toLocaleString('en')} live revocations; local D1, KV, Durable Objects)`);
  let t0 = performance.now();
  await api(`/clients/${victims[0]}`, { status: 'disabled' }, 'PATCH');
  console.log(`  hub publishes the whole backlog once (one-off)   ${ms(performance.now() - t0)}`);

  const full = await timed(base, '/revocations');
  const first = payload(full.text);
  // Up to date: the open segment's page from the head (kept at the edge after the first).
  const head = await (async () => { let p = first, path; while (p.more) { path = `/revocations?since=${p.seq}`; p = payload((await timed(base, path)).text); } return p; })();
  const upToDate = `/revocations?since=${head.seq}`;
  const fresh = await timed(base, upToDate);
  const poll = await series(200, () => timed(base, upToDate));
  const cond = await series(200, () => timed(base, upToDate, { 'if-none-match': fresh.etag }));
  const behind = await series(50, () => timed(base, `/revocations?since=${Math.max(0, head.seq - 600)}`));
  console.log('  feed (current design: head + at most one segment per request)');
  console.log(`    up-to-date poll (?since=<cursor>)              p50 ${ms(poll.p50)}   p99 ${ms(poll.p99)}   ${Buffer.byteLength(fresh.text)} bytes`);
  console.log(`    same, conditional (304)                        p50 ${ms(cond.p50)}   p99 ${ms(cond.p99)}`);
  console.log(`    a segment behind                               p50 ${ms(behind.p50)}   p99 ${ms(behind.p99)}`);
  for (const label of ['cold', 'pages kept at the edge']) {
    let pages = 0, bytes = 0, entries = 0;
    t0 = performance.now();
    let path = '/revocations';
    for (;;) {
      const r = await timed(base, path);
      const p = payload(r.text);
      pages++; bytes += Buffer.byteLength(r.text); entries += p.entries.length;
      if (!p.more) break;
      path = `/revocations?since=${p.seq}`;
    }
    console.log(`    full snapshot, ${label.padEnd(22)}          ${ms(performance.now() - t0)}   ${pages} pages, ${entries.toLocaleString('en')} entries, ${(bytes / 1048576).toFixed(1)} MiB`);
  }
  const old = await series(5, () => timed(base, '/.bench/kv-list'));
  const listed = (await timed(base, '/.bench/kv-list')).text;
  console.log('  feed (previous design: every request lists the KV namespace)');
  console.log(`    one request, listing only (${Number(listed).toLocaleString('en')} keys)          p50 ${ms(old.p50)}   p99 ${ms(old.p99)}   (lower bound: before filtering and signing)`);
  console.log(`    -> an up-to-date poll costs ${(old.p50 / poll.p50).toFixed(0)}x less than the previous design's listing alone`);

  // Fan-out.
  const clients = [];
  for (let i = 0; i * PER_CLIENT < SUBS; i++) {
    const a = await api('/agents', { name: `validator ${i}`, owner: 'bench', introspect: [RS] });
    clients.push([a.client_id, a.client_secret]);
  }
  const wsBase = base.replace(/^http/, 'ws');
  const sockets = [];
  t0 = performance.now();
  await Promise.all(Array.from({ length: SUBS }, (_, i) => new Promise((resolve, reject) => {
    const [id, secret] = clients[Math.floor(i / PER_CLIENT)];
    const ws = new WebSocket(`${wsBase}/revocations/subscribe`, { headers: { authorization: basic(id, secret) } });
    const s = { ws, hello: false, at: null };
    ws.addEventListener('message', (ev) => {
      if (!s.hello) { s.hello = true; resolve(); return; }
      if (s.at === null && String(ev.data).length > 10 && payload(String(ev.data)).entries.some((e) => e.id === victims[1])) s.at = performance.now();
    });
    ws.addEventListener('error', () => reject(new Error(`subscriber ${i} refused`)));
    sockets.push(s);
  })));
  const connected = performance.now() - t0;
  t0 = performance.now();
  await api(`/clients/${victims[1]}`, { status: 'disabled' }, 'PATCH');
  const returned = performance.now() - t0;
  for (let i = 0; i < 200 && sockets.some((s) => s.at === null); i++) await new Promise((r) => setTimeout(r, 50));
  const arrivals = sockets.filter((s) => s.at !== null).map((s) => s.at - t0);
  console.log(`  push fan-out to ${SUBS.toLocaleString('en')} subscribers (${clients.length} clients; all connected in ${(connected / 1000).toFixed(1)} s)`);
  console.log(`    the disable request returned after                  ${ms(returned)}`);
  console.log(`    first / median / last subscriber had it after       ${ms(Math.min(...arrivals))} / ${ms(pct(arrivals, 50))} / ${ms(Math.max(...arrivals))}   (${arrivals.length} of ${SUBS})`);
  for (const s of sockets) s.ws.close();
} finally {
  await w.stop();
  rmSync(persistDir, { recursive: true, force: true });
}
