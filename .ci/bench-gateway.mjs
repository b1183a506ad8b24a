// `make bench`, the gateway: the latency it adds to a tool call (p50/p99) and its CPU per proxied
// request, next to calling the upstream MCP server directly, in the same run. The upstream is the
// TypeScript SDK server of the HTTP tests; the gateway and mcpgate run under `wrangler dev`.
// Prints, never asserts. Figures include wrangler's local proxy (one extra hop for the gateway).
import { startWorker, TEST_ADMIN } from '../tests/http/lib/worker.mjs';
import { startGateway, IDENTITY_SECRET } from '../tests/http/lib/gateway.mjs';
import { startTsUpstream } from '../tests/http/fixtures/upstream-ts.mjs';
import { connectProfiler } from './profile.mjs';

const N = Number(process.env.BENCH_N || 300);
const C = Number(process.env.BENCH_CONCURRENCY || 8);

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const basic = (id, s) => 'Basic ' + Buffer.from(`${id}:${s}`).toString('base64');

async function timed(url, init) {
  const t0 = performance.now();
  const r = await fetch(url, init);
  await r.arrayBuffer();
  return { status: r.status, ms: performance.now() - t0 };
}

async function load(n, c, job) {
  const lat = [];
  let next = 0;
  let bad = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) {
      next++;
      const r = await job();
      lat.push(r.ms);
      if (r.status !== 200) { bad++; (globalThis.codes ??= {})[r.status] = ((globalThis.codes ?? {})[r.status] ?? 0) + 1; }
    }
  }));
  return { rps: n / ((performance.now() - t0) / 1000), p50: pct(lat, 50), p99: pct(lat, 99), bad };
}

const mcp = await startWorker({ quiet: true });
const upstream = await startTsUpstream({ secret: IDENTITY_SECRET });
const gateway = await startGateway({ issuer: mcp.base, upstream: upstream.url, vars: { GATEWAY_POLICY_REFRESH_SECS: '10', GATEWAY_REVOCATION_POLL_SECS: '10' } });
const prof = await connectProfiler(gateway.inspector);
try {
  const j = async (path, { method = 'GET', headers = {}, body } = {}) => {
    const text = await (await fetch(mcp.base + path, { method, headers, body })).text();
    return text ? JSON.parse(text) : null;
  };
  const boot = await j('/admin/v1/bootstrap', { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN}` } });
  const adminTok = (await j('/token', { method: 'POST', headers: { authorization: basic(boot.client_id, boot.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${mcp.base}/admin/v1` }) })).access_token;
  const api = (path, json, method = 'POST') => j(`/admin/v1${path}`, { method, headers: { authorization: `Bearer ${adminTok}`, 'content-type': 'application/json' }, body: json ? JSON.stringify(json) : undefined });
  await api('/resource-servers', { identifier: gateway.url, name: 'bench', scopes: [{ name: 'r', tools: ['get_*', 'list_*'] }, { name: 'w', tools: ['create_note', 'purge'] }] });
  const role = await api('/roles', { name: 'bench-gw', scopes: [{ resource: gateway.url, scope: 'r' }] });
  const group = await api('/groups', { name: 'bench-gw' });
  await api(`/groups/${group.id}/roles/${role.id}`, null, 'PUT');
  const agent = await api('/agents', { name: 'bench', owner: 'bench', groups: [group.id] });
  const token = (await j('/token', { method: 'POST', headers: { authorization: basic(agent.client_id, agent.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: gateway.url }) })).access_token;

  const call = (url, auth, body) => () => timed(url, { method: 'POST', body, headers: {
    'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25',
    ...(auth ? { authorization: `Bearer ${token}` } : {}) } });
  const toolCall = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_note', arguments: { id: '1' } } });
  const toolsList = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
  for (let i = 0; i < 30; i++) { await call(gateway.url, true, toolCall)(); await call(upstream.url, false, toolCall)(); }

  console.log(`== gateway: latency it adds and CPU per proxied request (${N} requests, ${C} in flight; upstream: TypeScript SDK server)`);
  const rows = [
    ['tools/call, upstream directly', await load(N, C, call(upstream.url, false, toolCall))],
    ['tools/call through the gateway', await load(N, C, call(gateway.url, true, toolCall))],
    ['tools/list, upstream directly', await load(N, C, call(upstream.url, false, toolsList))],
    ['tools/list through the gateway (filtered)', await load(N, C, call(gateway.url, true, toolsList))],
    // What the local runtime alone costs: the gateway answering from memory, no upstream.
    ['gateway metadata (local runtime floor)', await load(N, C, () => timed(`${gateway.base}/.well-known/oauth-protected-resource/mcp`))],
  ];
  for (const [name, r] of rows) {
    console.log(`  ${name.padEnd(44)} ${r.rps.toFixed(1).padStart(7)} req/s   p50 ${r.p50.toFixed(1).padStart(6)} ms   p99 ${r.p99.toFixed(1).padStart(6)} ms${r.bad ? `  (${r.bad} not 200: ${JSON.stringify(globalThis.codes)})` : ''}`);
  }
  console.log(`  (the local runtime floor above is wrangler's proxy and workerd on this machine; the gateway's own work is its CPU below)`);
  console.log(`  added by the gateway: tools/call p50 +${(rows[1][1].p50 - rows[0][1].p50).toFixed(1)} ms, p99 +${(rows[1][1].p99 - rows[0][1].p99).toFixed(1)} ms;` +
    ` tools/list p50 +${(rows[3][1].p50 - rows[2][1].p50).toFixed(1)} ms, p99 +${(rows[3][1].p99 - rows[2][1].p99).toFixed(1)} ms`);
  const P = Math.min(N, 200);
  const cpuCall = await prof.measure(P, () => load(P, 4, call(gateway.url, true, toolCall)));
  const cpuList = await prof.measure(P, () => load(P, 4, call(gateway.url, true, toolsList)));
  console.log(`  gateway CPU per request (V8 sampling profiler, isolate only): tools/call ${cpuCall.total.toFixed(0)} us, tools/list ${cpuList.total.toFixed(0)} us`);
} finally {
  prof.close();
  await gateway.stop();
  await upstream.stop();
  await mcp.stop();
}
