// Foundation over HTTP: discovery, JWKS, key lifecycle and shared error behaviour of the built
// Worker under `wrangler dev` with local D1.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { calculateJwkThumbprint, importJWK } from 'jose';
import { BASE, call, admin, adminToken } from './lib/client.mjs';
import { freshState, startWorker } from './lib/worker.mjs';
import { connect } from 'node:net';
import { rmSync } from 'node:fs';

describe('RFC 8414 discovery', () => {
  test('both well-known documents carry the configured issuer, identically', async () => {
    const a = await call('/.well-known/oauth-authorization-server');
    const b = await call('/.well-known/openid-configuration');
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(a.body.issuer, BASE);
    assert.equal(b.body.issuer, a.body.issuer);
    assert.equal(a.body.jwks_uri, `${BASE}/.well-known/jwks.json`);
    assert.match(a.headers.get('content-type'), /application\/json/);
    assert.equal(a.headers.get('access-control-allow-origin'), '*');
  });

  test('CORS preflight is answered without credentials', async () => {
    const r = await call('/.well-known/oauth-authorization-server', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
  });
});

describe('JWKS', () => {
  test('publishes ES256 keys whose kid is the RFC 7638 thumbprint, cacheable', async () => {
    const r = await call('/.well-known/jwks.json');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('cache-control'), /max-age=\d+/);
    assert.ok(r.body.keys.length >= 2);
    for (const jwk of r.body.keys) {
      assert.equal(jwk.kid, await calculateJwkThumbprint(jwk, 'sha256'));
      assert.equal(jwk.alg, 'ES256');
      assert.equal(jwk.use, 'sig');
      assert.equal(jwk.d, undefined);
      await importJWK(jwk, 'ES256');
    }
  });
});

describe('signing-key rotation', () => {
  test('requires the admin credential', async () => {
    const r = await call('/admin/v1/keys/rotate', { method: 'POST' });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_token');
    const wrong = await admin('/admin/v1/keys/rotate', { method: 'POST', token: 'wrong' });
    assert.equal(wrong.status, 401);
  });

  test('rotation promotes the published next key and keeps the old one published', async () => {
    const before = (await call('/.well-known/jwks.json')).body.keys.map((k) => k.kid);
    const ring = (await admin('/admin/v1/keys')).body.keys;
    const next = ring.find((k) => k.state === 'next').kid;
    const active = ring.find((k) => k.state === 'active').kid;
    const r = await admin('/admin/v1/keys/rotate', { method: 'POST' });
    assert.equal(r.status, 200);
    assert.equal(r.body.active, next);
    assert.equal(r.body.retired, active);
    const after = (await call('/.well-known/jwks.json')).body.keys.map((k) => k.kid);
    assert.ok(after.includes(active), 'retired key stays published');
    assert.ok(after.includes(r.body.next), 'new next key is published');
    assert.equal(after.length, before.length + 1);
  });

  test('concurrent rotations never create a second active or next key', async () => {
    const results = await Promise.all([1, 2, 3].map(() => admin('/admin/v1/keys/rotate', { method: 'POST' })));
    for (const r of results) assert.ok([200, 409].includes(r.status), JSON.stringify(r.body));
    const ring = (await admin('/admin/v1/keys')).body.keys;
    assert.equal(ring.filter((k) => k.state === 'active').length, 1);
    assert.equal(ring.filter((k) => k.state === 'next').length, 1);
    const wins = results.filter((r) => r.status === 200).length;
    assert.ok(wins >= 1);
  });
});

describe('errors', () => {
  test('unknown route is a JSON 404', async () => {
    const r = await call('/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'not_found');
  });

  test('wrong method is a JSON 405 with Allow', async () => {
    const r = await call('/.well-known/jwks.json', { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.equal(r.body.error, 'method_not_allowed');
    assert.match(r.headers.get('allow'), /GET/);
  });

  test('oversized body is refused with 413 before parsing', async () => {
    const r = await admin('/admin/v1/keys/rotate', { method: 'POST', json: { pad: 'x'.repeat(70 * 1024) } });
    assert.equal(r.status, 413);
    assert.equal(r.body.error, 'invalid_request');
  });

  test('a body streamed without Content-Length is read in chunks, and refused with 413 past the cap', async () => {
    // A ReadableStream body goes out chunked: the cap is enforced while reading, not from a header.
    const token = await adminToken();
    const chunked = (parts) => ({
      method: 'POST', duplex: 'half', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: new ReadableStream({ pull(c) { const p = parts.shift(); if (p === undefined) c.close(); else c.enqueue(new TextEncoder().encode(p)); } }),
    });
    const name = `chunked-${Date.now()}`;
    const json = JSON.stringify({ name, description: 'sent in three chunks' });
    const small = await fetch(new URL('/admin/v1/groups', BASE), chunked([json.slice(0, 10), json.slice(10, 30), json.slice(30)]));
    assert.equal(small.status, 201, await small.clone().text());
    assert.equal((await small.json()).name, name);
    // Past the cap the server may answer and close before the client has written everything
    // (fetch then reports EPIPE instead of the answer): send it over a raw socket and read what
    // came back, whatever happens to the rest of the writes.
    const big = await rawChunked('/admin/v1/groups', token, Array.from({ length: 70 }, () => 'x'.repeat(1024)));
    assert.match(big, /^HTTP\/1\.1 413 /);
    assert.match(big, /"error":"invalid_request"/);
  });
});

/** POSTs `parts` chunked on a raw socket; resolves with everything the server sent. */
function rawChunked(path, token, parts) {
  const url = new URL(path, BASE);
  return new Promise((resolve, reject) => {
    const chunks = [];
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n`
        + `Authorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
      for (const p of parts) socket.write(`${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`);
      socket.write('0\r\n\r\n');
    });
    socket.setTimeout(10_000, () => { socket.destroy(); reject(new Error('no answer within 10 s')); });
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {}); // EPIPE/ECONNRESET after an early answer: what arrived is judged
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

describe('process lifecycle', () => {
  test('a restart keeps the same signing keys', async () => {
    const state = freshState();
    try {
      const w1 = await startWorker({ persistDir: state });
      let keys1;
      try {
        keys1 = (await call('/.well-known/jwks.json', { base: w1.base })).body.keys;
      } finally {
        await w1.stop();
      }
      const w2 = await startWorker({ persistDir: state });
      try {
        const keys2 = (await call('/.well-known/jwks.json', { base: w2.base })).body.keys;
        assert.deepEqual(keys2.map((k) => k.kid), keys1.map((k) => k.kid));
      } finally {
        await w2.stop();
      }
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });

  test('a missing secret is a clear error, not a crash', async () => {
    const w = await startWorker({ vars: { MCPGATE_SECRET: null } });
    try {
      const r = await call('/.well-known/jwks.json', { base: w.base });
      assert.equal(r.status, 500);
      assert.equal(r.body.error, 'server_error');
      assert.match(r.body.error_description, /misconfigured/);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      // The worker keeps serving (no crash) and the log names the variable.
      const again = await call('/.well-known/oauth-authorization-server', { base: w.base });
      assert.equal(again.status, 500);
      assert.ok(await w.waitForLog(/MCPGATE_SECRET is not set/), w.logs());
    } finally {
      await w.stop();
    }
  });
});
