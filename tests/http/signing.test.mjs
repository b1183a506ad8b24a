// ES256 signed by WebCrypto inside workerd verifies with p256 and ring natively (the guard
// crate) and with jose; signed by p256 compiled to WebAssembly (MCPGATE_SIGNER=p256, a second
// Worker) it verifies with WebCrypto (mcpgate's own introspection) and the same verifiers; a
// tampered token fails everywhere.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { BASE, admin, call, form, bootstrap, adminToken } from './lib/client.mjs';
import { startWorker, ROOT, TEST_ADMIN } from './lib/worker.mjs';

const RS = `http://127.0.0.1:9/signing-${process.pid}/mcp`;
let wasmWorker;

async function setup(base, token) {
  const H = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const post = async (path, json) => {
    const r = await call(`/admin/v1${path}`, { base, method: 'POST', headers: H, body: JSON.stringify(json) });
    assert.ok(r.status < 300, JSON.stringify(r.body));
    return r.body;
  };
  await post('/resource-servers', { identifier: RS, name: 'Signing', scopes: [{ name: 's.read' }] });
  const role = (await post('/roles', { name: `signing-${process.pid}`, scopes: [{ resource: RS, scope: 's.read' }] })).id;
  const app = await post('/applications', { name: 'signer check', client_type: 'confidential', grant_types: ['client_credentials'], roles: [role] });
  return [app.client_id, app.client_secret];
}

async function token(base, creds) {
  const r = await form('/token', { grant_type: 'client_credentials', resource: RS }, { base, basic: creds });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token;
}

function tamper(t) {
  const [h, p, s] = t.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  claims.sub = 'someone-else';
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
}

/** Verdicts of the guard crate's two native backends (p256, ring) for each token. */
async function native(base, tokens) {
  const jwks = (await call('/.well-known/jwks.json', { base })).body;
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-jwks-'));
  try {
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
    const out = execFileSync(join(ROOT, 'target/debug/examples/verify'), [base, RS, join(dir, 'jwks.json')], { input: tokens.join('\n') + '\n', encoding: 'utf8' });
    return out.trim().split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

before(async () => {
  wasmWorker = await startWorker({ vars: { MCPGATE_SIGNER: 'p256' } });
});

after(async () => {
  await wasmWorker?.stop();
});

describe('signatures made either way verify everywhere', () => {
  test('WebCrypto-signed tokens verify with p256, ring and jose; tampered ones fail everywhere', async () => {
    const creds = await setup(BASE, await adminToken());
    const t = await token(BASE, creds);
    const bad = tamper(t);
    assert.deepEqual(await native(BASE, [t, bad]), ['p256=ok ring=ok', 'p256=BadSignature ring=BadSignature']);
    const jwks = createRemoteJWKSet(new URL(`${BASE}/.well-known/jwks.json`));
    await jwtVerify(t, jwks, { issuer: BASE, audience: RS, typ: 'at+jwt' });
    await assert.rejects(jwtVerify(bad, jwks, { issuer: BASE, audience: RS }));
  });

  test('p256-in-wasm-signed tokens verify with WebCrypto (introspection), p256, ring and jose', async () => {
    const boot = await bootstrap(wasmWorker.base, TEST_ADMIN);
    const creds = await setup(wasmWorker.base, await adminToken({ base: wasmWorker.base, creds: boot }));
    const t = await token(wasmWorker.base, creds);
    const bad = tamper(t);
    const introspect = async (tok) => (await form('/introspect', { token: tok }, { base: wasmWorker.base, basic: creds })).body.active;
    assert.equal(await introspect(t), true, 'WebCrypto verified a p256 signature');
    assert.equal(await introspect(bad), false);
    assert.deepEqual(await native(wasmWorker.base, [t, bad]), ['p256=ok ring=ok', 'p256=BadSignature ring=BadSignature']);
    const jwks = createRemoteJWKSet(new URL(`${wasmWorker.base}/.well-known/jwks.json`));
    await jwtVerify(t, jwks, { issuer: wasmWorker.base, audience: RS, typ: 'at+jwt' });
    await assert.rejects(jwtVerify(bad, jwks, { issuer: wasmWorker.base, audience: RS }));
  });
});
