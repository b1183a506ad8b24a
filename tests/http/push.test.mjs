// The revocation push channel, over HTTP against wrangler dev (the hub Durable Object runs
// locally): only authenticated validators may subscribe; a connected subscriber gets every
// revocation as a signed feed document chained by cursor, within the push bound; a dropped
// subscriber catches up on reconnect without missing an entry; the per-client cap holds (Node's
// own WebSocket client, signatures checked with jose). And the example MCP server, subscribed
// through mcpgate-guard's push feature while polling only hourly, rejects a revoked client's
// token within seconds: only the push can have told it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import * as jose from 'jose';
import { BASE, admin, form } from './lib/client.mjs';
import { startNotesMcp, mcpStatus, untilStatus } from './lib/mcp.mjs';

const uniq = `${process.pid}-${Date.now()}`;
const RS = `http://127.0.0.1:9/push-${uniq}/mcp`;
const f = {};
let jwks;
let notes;

async function ok(path, opts) {
  const r = await admin(path, opts);
  assert.ok(r.status < 300, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const basic = ([id, secret]) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const wsUrl = (since) => `${BASE.replace(/^http/, 'ws')}/revocations/subscribe${since === undefined ? '' : `?since=${since}`}`;

/** A subscriber: every message verified on arrival; `next(pred)` waits for a matching one. */
function subscribe(creds, since) {
  const ws = new WebSocket(wsUrl(since), { headers: { authorization: basic(creds) } });
  const seen = [];
  const waiters = [];
  ws.addEventListener('message', async (ev) => {
    const { payload, protectedHeader } = await jose.compactVerify(String(ev.data), jwks);
    assert.equal(protectedHeader.typ, 'revocations+jwt');
    const doc = { ...JSON.parse(new TextDecoder().decode(payload)), at: Date.now() };
    seen.push(doc);
    for (const w of waiters.splice(0)) w();
  });
  const opened = new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', () => reject(new Error('the subscription was refused')), { once: true });
  });
  return {
    ws, seen, opened,
    async next(pred, limitMs = 10_000) {
      const t0 = Date.now();
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        if (Date.now() - t0 > limitMs) throw new Error(`no matching push within ${limitMs} ms: ${JSON.stringify(seen)}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
    close() { ws.close(); return new Promise((r) => ws.readyState === WebSocket.CLOSED ? r() : ws.addEventListener('close', r, { once: true })); },
  };
}

/** The status of a raw upgrade request (what a refused subscriber sees). */
function upgradeStatus(headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${BASE}/revocations/subscribe`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(101); });
    req.on('error', reject);
  });
}

const hasEntry = (kind, id) => (doc) => doc.entries.some((e) => e.kind === kind && e.id === id);

before(async () => {
  jwks = jose.createLocalJWKSet(await (await fetch(`${BASE}/.well-known/jwks.json`)).json());
  await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: RS, name: 'Push', scopes: [{ name: 'push.read' }] } });
  const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `push-${uniq}`, scopes: [{ resource: RS, scope: 'push.read' }] } })).id;
  const validator = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'Push validator', owner: 'ops', introspect: [RS] } });
  f.validator = [validator.client_id, validator.client_secret];
  const stranger = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'No rights', owner: 'ops' } });
  f.stranger = [stranger.client_id, stranger.client_secret];
  f.machines = [];
  for (let i = 0; i < 4; i++) {
    const m = await ok('/admin/v1/applications', { method: 'POST', json: { name: `Push m2m ${i}`, client_type: 'confidential', grant_types: ['client_credentials'], roles: [role] } });
    f.machines.push([m.client_id, m.client_secret]);
  }
});

after(async () => {
  await notes?.stop();
});

describe('the revocation push channel', () => {
  test('only a client allowed to introspect some resource server may subscribe', async () => {
    const plain = await fetch(`${BASE}/revocations/subscribe`);
    assert.equal(plain.status, 400, 'not an upgrade');
    await plain.body?.cancel();
    assert.equal(await upgradeStatus({}), 401, 'no credentials');
    assert.equal(await upgradeStatus({ authorization: basic([f.validator[0], 'wrong']) }), 401, 'wrong secret');
    assert.equal(await upgradeStatus({ authorization: basic(f.stranger) }), 400, 'no introspection right');
    assert.equal(await upgradeStatus({ authorization: basic(f.validator) }), 101);
  });

  test('a connected subscriber gets each revocation signed and chained, within the push bound', async () => {
    const sub = subscribe(f.validator);
    await sub.opened;
    const hello = await sub.next(() => true);
    assert.equal(hello.full, false);
    assert.equal(hello.iss, BASE);
    const [victim] = f.machines;
    const t0 = Date.now();
    await ok(`/admin/v1/clients/${victim[0]}`, { method: 'PATCH', json: { status: 'disabled', reason: 'push test' } });
    const ev = await sub.next(hasEntry('client', victim[0]));
    console.log(`    pushed ${ev.at - t0} ms after the disable was requested`);
    assert.ok(ev.since >= hello.seq || ev.since === hello.seq, 'chained to what the subscriber has');
    assert.ok(ev.seq > ev.since);
    assert.ok(ev.entries.some((e) => e.kind === 'sub' && e.id === victim[0]));
    // The next revocation's event starts where this one ended: no gap, no overlap.
    await ok(`/admin/v1/clients/${f.machines[1][0]}`, { method: 'PATCH', json: { status: 'disabled' } });
    const ev2 = await sub.next(hasEntry('client', f.machines[1][0]));
    assert.equal(ev2.since, ev.seq);
    await sub.close();
  });

  test('a dropped subscriber catches up on reconnect without missing an entry', async () => {
    const sub = subscribe(f.validator);
    await sub.opened;
    const hello = await sub.next(() => true);
    await sub.close();
    // Two revocations while disconnected.
    await ok(`/admin/v1/clients/${f.machines[2][0]}`, { method: 'PATCH', json: { status: 'disabled' } });
    await ok(`/admin/v1/clients/${f.machines[3][0]}`, { method: 'DELETE' });
    const again = subscribe(f.validator, hello.seq);
    await again.opened;
    const catchUp = await again.next(() => true);
    assert.ok(catchUp.since <= hello.seq, 'starts at or before the cursor it had');
    assert.ok(catchUp.seq > hello.seq);
    assert.ok(hasEntry('client', f.machines[2][0])(catchUp), JSON.stringify(catchUp));
    assert.ok(hasEntry('client', f.machines[3][0])(catchUp));
    // The feed agrees with what the hub sent.
    const page = await fetch(`${BASE}/revocations?since=${hello.seq}`);
    const { payload } = await jose.compactVerify(await page.text(), jwks);
    const feed = JSON.parse(new TextDecoder().decode(payload));
    assert.equal(feed.seq, catchUp.seq);
    await again.close();
  });

  test('a subscribed guard that polls hourly rejects a revoked client\'s token within seconds', async () => {
    const validator = await ok('/admin/v1/agents', { method: 'POST', json: { name: 'Notes validator', owner: 'ops' } });
    notes = await startNotesMcp(BASE, { pollSecs: 3600, push: [validator.client_id, validator.client_secret] });
    const { resource } = notes;
    await ok('/admin/v1/resource-servers', { method: 'POST', json: { identifier: resource, name: 'Notes (push)', scopes: [{ name: 'notes.read' }, { name: 'notes.write' }] } });
    const role = (await ok('/admin/v1/roles', { method: 'POST', json: { name: `push-notes-${uniq}`, scopes: [{ resource, scope: 'notes.read' }] } })).id;
    await ok(`/admin/v1/agents/${validator.client_id}`, { method: 'PATCH', json: { introspect: [resource] } });
    const m = await ok('/admin/v1/applications', { method: 'POST', json: { name: 'Push victim', client_type: 'confidential', grant_types: ['client_credentials'], roles: [role] } });
    const cc = await form('/token', { grant_type: 'client_credentials', resource }, { basic: [m.client_id, m.client_secret] });
    assert.equal(cc.status, 200, JSON.stringify(cc.body));
    assert.equal(await mcpStatus(resource, cc.body.access_token), 200);
    // Let the guard's subscription open (it logs when it starts; the hub then sends its segment).
    for (let i = 0; i < 50 && !notes.logs().includes('subscribing to revocation push'); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    await ok(`/admin/v1/clients/${m.client_id}`, { method: 'PATCH', json: { status: 'disabled' } });
    const ms = await untilStatus(resource, cc.body.access_token, 401, 10_000);
    console.log(`    the subscribed MCP server rejected the token ${ms} ms after the disable returned (its poll interval: 1 h)`);
  });

  test('one client holds at most 32 connections', async () => {
    const subs = [];
    for (let i = 0; i < 32; i++) subs.push(subscribe(f.validator));
    await Promise.all(subs.map((s) => s.opened));
    assert.equal(await upgradeStatus({ authorization: basic(f.validator) }), 429);
    await Promise.all(subs.map((s) => s.close()));
  });
});
