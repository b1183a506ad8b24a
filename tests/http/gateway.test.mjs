// The gateway (gateway/, a second Worker under `wrangler dev`) in front of unprotected MCP servers
// built with the official TypeScript and Python SDKs. The official TypeScript SDK client knows only
// the gateway's URL: it discovers, registers, signs in and calls tools; the tool map comes from
// mcpgate's directory. Then the attacks and edges: a tool outside the token's scopes, headers
// that disagree with the body, the token never reaching the upstream, a revoked client, a
// changed tool map, a streamed result, oversized bodies and a dead upstream.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { BASE, admin, form, bearerProxy } from './lib/client.mjs';
import { ROOT, freePort } from './lib/worker.mjs';
import { launch } from './lib/browser.mjs';
import { TestProvider, connect, callTool } from './lib/mcp.mjs';
import { startGateway, IDENTITY_SECRET, STATS_TOKEN } from './lib/gateway.mjs';
import { startTsUpstream } from './fixtures/upstream-ts.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const PASSWORD = 'correct horse battery staple';
let upstream, gateway, browser;
const f = {};

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const rpc = (method, params, id = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, params });
const ACCEPT = 'application/json, text/event-stream';

/** A raw POST to the gateway with the session's access token. */
async function post(body, { token = f.main?.provider.tokens().access_token, headers = {} } = {}) {
  const h = { 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': '2025-11-25', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  return fetch(gateway.url, { method: 'POST', headers: h, body });
}

/** The JSON-RPC message of a response, JSON or SSE. */
async function message(r) {
  const text = await r.text();
  if ((r.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const data = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
    return data.find((m) => 'result' in m || 'error' in m);
  }
  return JSON.parse(text);
}

async function until(fn, limitMs, what) {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (await fn()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${limitMs} ms`);
}

before(async () => {
  browser = await launch();
  upstream = await startTsUpstream({ secret: IDENTITY_SECRET });
  gateway = await startGateway({ issuer: BASE, upstream: upstream.url, vars: { GATEWAY_UPSTREAM_TIMEOUT_SECS: '2' } });
  const rs = await ok('/admin/v1/resource-servers', { method: 'POST', json: {
    identifier: gateway.url, name: 'Notes behind the gateway', unmapped_tools: 'deny',
    scopes: [
      { name: 'notes.read', description: 'Read your notes', tools: ['get_*', 'list_*', 'whoami'] },
      { name: 'notes.write', description: 'Create notes', implies: ['notes.read'], tools: ['create_note', 'slow_count'] },
      { name: 'notes.admin', description: 'Purge notes', implies: ['notes.write'], tools: ['purge'] },
      { name: 'conformance', description: 'The conformance tools', tools: ['test_*'] },
    ],
  } });
  f.rs = rs.id;
  const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `gw-writer-${uniq}`,
    scopes: [{ resource: gateway.url, scope: 'notes.write' }] } })).id;
  f.username = `gw-${uniq}`;
  f.user = (await ok('/admin/v1/users', { method: 'POST', json: { username: f.username, password: PASSWORD } })).id;
  await ok(`/admin/v1/users/${f.user}/roles/${role}`, { method: 'PUT' });
  // The gateway looked for its policy before the resource server existed; it retries each second.
  await until(async () => (await (await fetch(`${gateway.base}/.well-known/oauth-protected-resource/mcp`)).json()).scopes_supported, 10_000, 'policy loaded');
});

after(async () => {
  await gateway?.stop();
  await upstream?.stop();
  await browser?.close();
});

const session = (provider) => ({ provider, browser, username: f.username, password: PASSWORD });

describe('the gateway in front of an unmodified MCP server (TypeScript SDK)', () => {
  test('an unauthenticated request gets a 401 naming the resource metadata, which names mcpgate and the scopes', async () => {
    const r = await post(rpc('tools/call', { name: 'purge', arguments: {} }), { token: null, headers: { 'mcp-method': 'tools/call', 'mcp-name': 'purge' } });
    assert.equal(r.status, 401);
    const www = r.headers.get('www-authenticate');
    assert.match(www, /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    assert.match(www, /scope="notes\.admin"/, 'the scope covering the tool asked for');
    const prm = await (await fetch(`${gateway.base}/.well-known/oauth-protected-resource/mcp`)).json();
    assert.equal(prm.resource, gateway.url);
    assert.deepEqual(prm.authorization_servers, [BASE]);
    assert.deepEqual(prm.scopes_supported, ['conformance', 'notes.admin', 'notes.read', 'notes.write']);
    assert.equal(upstream.seen.length, 0, 'nothing reached the upstream');
  });

  test('the SDK client discovers, registers, signs in and lists only the tools its token may call', async () => {
    const provider = new TestProvider({ name: 'gateway e2e (MCP TypeScript SDK)' });
    f.main = { ...session(provider), ...(await connect({ mcpUrl: gateway.url, ...session(provider), screenshot: 'consent-gateway.png' })) };
    assert.match(provider.client.client_id, /^dcr_/);
    const tools = (await f.main.client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, ['create_note', 'get_note', 'list_notes', 'slow_count', 'whoami'], 'purge is hidden');
    const got = await callTool(f.main, 'get_note', { id: '7' });
    assert.deepEqual(got.content, [{ type: 'text', text: 'note 7' }]);
  });

  test('a tool outside the token\'s scopes is 403 insufficient_scope naming its scope, and never reaches the upstream', async () => {
    const before = upstream.seen.length;
    const r = await post(rpc('tools/call', { name: 'purge', arguments: {} }, 9));
    assert.equal(r.status, 403);
    assert.match(r.headers.get('www-authenticate'), /error="insufficient_scope"/);
    assert.match(r.headers.get('www-authenticate'), /scope="notes\.admin"/);
    const m = await r.json();
    assert.equal(m.id, 9);
    assert.equal(upstream.seen.length, before);
    const unmapped = await post(rpc('tools/call', { name: 'rm_rf', arguments: {} }));
    assert.equal(unmapped.status, 403, 'a tool no scope covers is refused (unmapped_tools: deny)');
  });

  test('SEP-2243 headers that disagree with the body are refused with 400 HeaderMismatch', async () => {
    const before = upstream.seen.length;
    for (const headers of [
      { 'mcp-method': 'tools/call', 'mcp-name': 'get_note' },     // body calls purge
      { 'mcp-method': 'tools/list' },                              // body is a tools/call
      { 'mcp-method': 'tools/call' },                              // Mcp-Name missing
    ]) {
      const r = await post(rpc('tools/call', { name: 'purge', arguments: {} }), { headers });
      assert.equal(r.status, 400, JSON.stringify(headers));
      assert.equal((await r.json()).error.code, -32020);
    }
    const dup = await post('{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"purge"}}');
    assert.equal(dup.status, 400, 'duplicate members are refused, not resolved');
    const batch = await post(`[${rpc('tools/call', { name: 'purge' })}]`);
    assert.equal(batch.status, 400);
    assert.equal(upstream.seen.length, before);
    const agreeing = await post(rpc('tools/call', { name: 'get_note', arguments: { id: '1' } }), { headers: { 'mcp-method': 'tools/call', 'mcp-name': 'get_note' } });
    assert.equal(agreeing.status, 200);
    assert.equal((await message(agreeing)).result.content[0].text, 'note 1');
  });

  test('the upstream never sees the client\'s token, and learns who calls from a signed assertion', async () => {
    const got = await callTool(f.main, 'whoami');
    const identity = JSON.parse(got.content[0].text);
    assert.equal(identity.typ, 'mcp-identity+jwt', JSON.stringify(identity));
    assert.equal(identity.sub, f.user);
    assert.equal(identity.client_id, f.main.provider.client.client_id);
    assert.equal(identity.iss, gateway.url);
    assert.match(identity.scope, /notes\.write/);
    assert.ok(upstream.seen.length > 3);
    for (const s of upstream.seen) {
      assert.equal(s.headers.authorization, undefined, 'no Authorization header upstream');
      assert.ok(!JSON.stringify(s.headers).includes(f.main.provider.tokens().access_token));
    }
    // A client cannot forge the assertion: its own header is dropped and replaced.
    const forged = await post(rpc('tools/call', { name: 'whoami', arguments: {} }), { headers: { 'mcp-gate-identity': 'forged' } });
    const claims = JSON.parse((await message(forged)).result.content[0].text);
    assert.equal(claims.sub, f.user);
    await assert.rejects(jwtVerify(upstream.seen.at(-1).headers['mcp-gate-identity'], new TextEncoder().encode('another secret of sufficient length!!'), { algorithms: ['HS256'] }));
  });

  test('a streamed tool result arrives incrementally', async () => {
    const r = await post(rpc('tools/call', { name: 'slow_count', arguments: { n: 4 }, _meta: { progressToken: 'p1' } }), { headers: { 'mcp-method': 'tools/call', 'mcp-name': 'slow_count' } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/event-stream/);
    const reader = r.body.getReader();
    const arrivals = [];
    const t0 = Date.now();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const chunk = new TextDecoder().decode(value);
      text += chunk;
      if (chunk.includes('notifications/progress')) arrivals.push(Date.now() - t0);
    }
    assert.match(text, /counted to 4/);
    assert.ok(arrivals.length >= 3, `progress events: ${arrivals}`);
    assert.ok(arrivals.at(-1) - arrivals[0] >= 500, `events arrived as sent, not at the end: ${arrivals}`);
  });

  test('tools/list is filtered in SSE answers too', async () => {
    const r = await post(rpc('tools/list', {}), { headers: { accept: ACCEPT, 'mcp-method': 'tools/list' } });
    assert.equal(r.status, 200);
    const m = await message(r);
    assert.ok(!m.result.tools.some((t) => t.name === 'purge'), JSON.stringify(m));
    assert.ok(m.result.tools.some((t) => t.name === 'get_note'));
  });

  test('DELETE passes through to the upstream, with the token replaced there too', async () => {
    const before = upstream.seen.length;
    const r = await fetch(gateway.url, { method: 'DELETE', headers: { authorization: `Bearer ${f.main.provider.tokens().access_token}`, 'mcp-session-id': 's1' } });
    assert.equal(r.status, 405, 'the upstream\'s own answer (it has no sessions to end)');
    const seen = upstream.seen.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].method, 'DELETE');
    assert.equal(seen[0].headers['mcp-session-id'], 's1');
    assert.equal(seen[0].headers.authorization, undefined);
    assert.ok(seen[0].headers['mcp-gate-identity']);
    const anonymous = await fetch(gateway.url, { method: 'DELETE' });
    assert.equal(anonymous.status, 401);
    assert.equal(upstream.seen.length, before + 1);
  });

  test('a resumed stream cannot replay an unfiltered tools/list', async () => {
    const r = await fetch(gateway.url, { headers: { authorization: `Bearer ${f.main.provider.tokens().access_token}`, accept: 'text/event-stream', 'last-event-id': '4' } });
    assert.equal(r.status, 200);
    const text = await r.text();
    assert.match(text, /get_note/);
    assert.doesNotMatch(text, /purge/);
  });

  test('an empty or non-object body is a 400 JSON-RPC error, never a 500', async () => {
    for (const body of ['', 'null', '[]', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["purge"]}']) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok((await r.json()).error.code < 0);
    }
  });

  test('oversized bodies are 413; a dead or silent upstream is a clean 502 or 504 JSON-RPC error', async () => {
    const big = rpc('tools/call', { name: 'get_note', arguments: { id: 'x'.repeat(5 << 20) } });
    assert.equal((await post(big)).status, 413);
    await upstream.pause();
    try {
      const r = await post(rpc('tools/call', { name: 'get_note', arguments: { id: '1' } }, 41));
      assert.equal(r.status, 502);
      const m = await r.json();
      assert.equal(m.id, 41);
      assert.equal(m.error.code, -32603);
    } finally {
      await upstream.resume();
    }
    const t0 = Date.now();
    const slow = await post(rpc('tools/call', { name: 'get_note', arguments: { id: '1' } }, 42), { headers: { 'x-test-hang': '1' } });
    assert.equal(slow.status, 504);
    assert.equal((await slow.json()).id, 42);
    assert.ok(Date.now() - t0 < 10_000, 'the gateway gave up at its timeout (2 s here)');
  });

  test('a changed tool map takes effect without redeploying the gateway', async () => {
    await ok(`/admin/v1/resource-servers/${f.rs}/scopes/notes.read`, { method: 'PATCH', json: { tools: ['list_*', 'whoami'] } });
    const ms = await until(async () => (await post(rpc('tools/call', { name: 'get_note', arguments: { id: '1' } }))).status === 403, 20_000, 'get_note refused after the map changed');
    console.log(`# tool map change enforced after ${ms} ms`);
    await ok(`/admin/v1/resource-servers/${f.rs}/scopes/notes.read`, { method: 'PATCH', json: { tools: ['get_*', 'list_*', 'whoami'] } });
    await until(async () => (await post(rpc('tools/call', { name: 'get_note', arguments: { id: '1' } }))).status === 200, 20_000, 'get_note allowed again');
  });

  test('per-tool counters record calls and denials by reason', async () => {
    assert.equal((await fetch(`${gateway.base}/.mcpgate-gateway/stats`)).status, 401);
    const r = await fetch(`${gateway.base}/.mcpgate-gateway/stats`, { headers: { authorization: `Bearer ${STATS_TOKEN}` } });
    assert.equal(r.status, 200);
    const { tools } = await r.json();
    assert.ok(tools.get_note.allowed >= 2, JSON.stringify(tools));
    assert.ok(tools.purge.insufficient_scope >= 1, JSON.stringify(tools));
    assert.ok(tools.purge.missing_token >= 1, JSON.stringify(tools));
  });

  test('a revoked client is cut off at the gateway within the polling bound', async () => {
    const token = f.main.provider.tokens().access_token;
    assert.equal((await post(rpc('ping', {}), { token })).status, 200);
    await ok(`/admin/v1/clients/${encodeURIComponent(f.main.provider.client.client_id)}`, { method: 'PATCH', json: { status: 'disabled', reason: 'gateway e2e' } });
    const ms = await until(async () => (await post(rpc('ping', {}), { token })).status === 401, 20_000, 'revoked token refused');
    console.log(`# revoked client refused by the gateway after ${ms} ms`);
    assert.ok(ms <= 15_000);
  });
});

// The @modelcontextprotocol/conformance server scenarios through the gateway. The runner sends no
// credentials, so a small local proxy adds an access token (client_credentials, an agent whose
// group holds the conformance scope) to each request, as an authorized client would send it.
describe('MCP conformance (server scenarios) through the gateway', () => {
  const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'tools-call-simple-text', 'tools-call-error',
    'tools-call-image', 'tools-call-audio', 'tools-call-embedded-resource', 'tools-call-mixed-content',
    'tools-call-with-progress', 'tools-call-with-logging'];
  let proxy, proxyUrl;
  before(async () => {
    const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `gw-conf-${uniq}`, scopes: ['conformance', 'notes.read'].map((scope) => ({ resource: gateway.url, scope })) } })).id;
    const group = (await ok('/admin/v1/groups', { method: 'POST', json: { name: `gw-conf-${uniq}` } })).id;
    await ok(`/admin/v1/groups/${group}/roles/${role}`, { method: 'PUT' });
    const agent = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'gateway conformance runner', owner: 'ci', groups: [group] } });
    const t = await form('/token', { grant_type: 'client_credentials', resource: gateway.url }, { basic: [agent.client_id, agent.client_secret] });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    proxy = await bearerProxy(gateway.url, t.body.access_token);
    proxyUrl = proxy.url;
  });
  after(() => proxy?.close());

  for (const scenario of SCENARIOS) {
    test(scenario, async () => {
      let out;
      try {
        out = await promisify(execFile)(join(ROOT, 'node_modules/.bin/conformance'), ['server', '--url', proxyUrl, '--scenario', scenario], { cwd: ROOT, timeout: 120_000 });
      } catch (e) {
        out = e;
      }
      const text = `${out.stdout ?? ''}${out.stderr ?? ''}`;
      assert.equal(out.code ?? 0, 0, text.slice(-3000));
    });
  }
});

// The second pair of official SDKs: the Python SDK client, knowing only a gateway's URL, in front
// of an unprotected server built with the Python SDK.
describe('the Python SDK client through the gateway in front of a Python SDK server', () => {
  let py, pyGateway;
  before(async () => {
    const port = await freePort();
    py = spawn(join(ROOT, '.venv/bin/python'), [join(ROOT, 'tests/http/fixtures/upstream_py.py'), String(port), IDENTITY_SECRET], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    py.stdout.on('data', (d) => (out += d));
    py.stderr.on('data', (d) => (out += d));
    await until(async () => out.includes('ready'), 30_000, `python upstream: ${out}`);
    pyGateway = await startGateway({ issuer: BASE, upstream: `http://127.0.0.1:${port}/mcp` });
    await ok('/admin/v1/resource-servers', { method: 'POST', json: {
      identifier: pyGateway.url, name: 'Python notes behind the gateway',
      scopes: [
        { name: 'notes.read', tools: ['get_note', 'list_notes', 'whoami'] },
        { name: 'notes.write', implies: ['notes.read'], tools: ['create_note'] },
        { name: 'notes.admin', implies: ['notes.write'], tools: ['purge'] },
      ],
    } });
    const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `gw-py-${uniq}`, scopes: [{ resource: pyGateway.url, scope: 'notes.write' }] } })).id;
    await ok(`/admin/v1/users/${f.user}/roles/${role}`, { method: 'PUT' });
    await until(async () => (await (await fetch(`${pyGateway.base}/.well-known/oauth-protected-resource/mcp`)).json()).scopes_supported, 10_000, 'policy loaded');
  });
  after(async () => {
    await pyGateway?.stop();
    py?.kill('SIGTERM');
  });

  test('discovers, registers, signs in, sees only its tools and calls them; the upstream verifies who calls and never sees a token', async () => {
    const { stdout } = await promisify(execFile)(join(ROOT, '.venv/bin/python'), [join(ROOT, 'tests/http/python_mcp_client.py')], {
      env: { ...process.env, MCP_URL: pyGateway.url, MCP_USERNAME: f.username, MCP_PASSWORD: PASSWORD,
        MCP_CALLS: JSON.stringify([['get_note', { id: '3' }], ['create_note', { title: 'py' }], ['whoami', {}]]) },
      timeout: 120_000,
    });
    const lines = stdout.trim().split('\n');
    assert.match(lines[0], /^registered dcr_/);
    assert.equal(lines[1], 'tools create_note get_note list_notes whoami', 'purge is hidden');
    assert.equal(lines[2], 'get_note error=False');
    assert.equal(lines[3], 'create_note error=False');
    assert.equal(lines[4], 'whoami error=False');
    const seen = JSON.parse(lines[5].slice('whoami '.length));
    assert.equal(seen.authorization_seen, 0, 'no request reached the upstream with a bearer token');
    assert.ok(seen.requests >= 3);
    assert.equal(seen.identity.sub, f.user, JSON.stringify(seen.identity));
    assert.equal(seen.identity.iss, pyGateway.url);
    assert.match(seen.identity.client_id, /^dcr_/);
  });

  test('the Python server\'s JSON answers: 403 with the tool\'s scope, mismatch refused, list filtered, a revoked agent cut off', async () => {
    const group = (await ok('/admin/v1/groups', { method: 'POST', json: { name: `gw-py-agents-${uniq}` } })).id;
    const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `gw-py-reader-${uniq}`, scopes: [{ resource: pyGateway.url, scope: 'notes.read' }] } })).id;
    await ok(`/admin/v1/groups/${group}/roles/${role}`, { method: 'PUT' });
    const agent = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'python gateway agent', owner: 'ci', groups: [group] } });
    const t = await form('/token', { grant_type: 'client_credentials', resource: pyGateway.url }, { basic: [agent.client_id, agent.client_secret] });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const send = (body, headers = {}) => fetch(pyGateway.url, { method: 'POST', body,
      headers: { authorization: `Bearer ${t.body.access_token}`, 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': '2025-11-25', ...headers } });
    const list = await send(rpc('tools/list', {}));
    assert.equal(list.status, 200);
    assert.match(list.headers.get('content-type'), /application\/json/, 'the JSON path of the filter');
    assert.deepEqual((await list.json()).result.tools.map((x) => x.name).sort(), ['get_note', 'list_notes', 'whoami']);
    const denied = await send(rpc('tools/call', { name: 'create_note', arguments: { title: 'x' } }));
    assert.equal(denied.status, 403);
    assert.match(denied.headers.get('www-authenticate'), /scope="notes\.write"/);
    const mismatch = await send(rpc('tools/call', { name: 'create_note', arguments: { title: 'x' } }), { 'mcp-method': 'tools/call', 'mcp-name': 'get_note' });
    assert.equal(mismatch.status, 400);
    assert.equal((await send(rpc('tools/call', { name: 'get_note', arguments: { id: '1' } }))).status, 200);
    await ok(`/admin/v1/clients/${agent.client_id}`, { method: 'PATCH', json: { status: 'disabled', reason: 'python gateway e2e' } });
    await until(async () => (await send(rpc('ping', {}))).status === 401, 15_000, 'the disabled agent refused');
  });
});

// Revocation push at the gateway: a relay Durable Object holds the subscription; the gateway
// polls the feed only hourly here, so only the push can tell it of a revocation within seconds.
describe('revocation pushed to the gateway', () => {
  let pushGateway, machine;
  before(async () => {
    const port = await freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: resource, name: 'Pushed gateway',
      scopes: [{ name: 'notes.read', tools: ['get_*'] }] } });
    const validator = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'gateway relay', owner: 'ops', introspect: [resource] } });
    const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `gw-push-${uniq}`, scopes: [{ resource, scope: 'notes.read' }] } })).id;
    machine = await ok('/admin/v1/applications', { method: 'POST', json: { name: 'gateway push m2m', client_type: 'confidential', grant_types: ['client_credentials'], roles: [role] } });
    pushGateway = await startGateway({ issuer: BASE, upstream: upstream.url, port, vars: {
      GATEWAY_REVOCATION_POLL_SECS: '3600', GATEWAY_PUSH_CLIENT_ID: validator.client_id, GATEWAY_PUSH_CLIENT_SECRET: validator.client_secret } });
  });
  after(async () => { await pushGateway?.stop(); });

  test('a connected gateway refuses a revoked client\'s token within the push bound', async () => {
    const t = await form('/token', { grant_type: 'client_credentials', resource: pushGateway.url }, { basic: [machine.client_id, machine.client_secret] });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const call = () => fetch(pushGateway.url, { method: 'POST', body: rpc('tools/call', { name: 'get_note', arguments: { id: '1' } }),
      headers: { authorization: `Bearer ${t.body.access_token}`, 'content-type': 'application/json', accept: ACCEPT } });
    assert.equal((await call()).status, 200);
    // The first request made the relay subscribe; let it connect and the isolate sync once.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await call()).status, 200);
    await ok(`/admin/v1/clients/${machine.client_id}`, { method: 'PATCH', json: { status: 'disabled', reason: 'gateway push e2e' } });
    const ms = await until(async () => (await call()).status === 401, 10_000, 'the pushed revocation reached the gateway');
    console.log(`# revoked client refused by the pushed gateway after ${ms} ms (feed polled hourly)`);
    assert.ok(ms <= 3_000, `within the push bound: ${ms} ms`);
  });
});
