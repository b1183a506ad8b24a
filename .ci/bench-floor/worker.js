// The local runtime's floor, for `make bench` (.ci/bench-peer.mjs): a Worker that makes only the
// storage call its path names, so its server CPU per request under `wrangler dev` is what the
// runtime charges for a request alone and for each kind of call. Not part of mcpgate.
const VALUE = JSON.stringify({ client_name: 'floor', redirect_uris: ['http://127.0.0.1/cb'], pad: 'x'.repeat(300) });
const BODY = '{"ok":true}';
const id = () => crypto.randomUUID();

const CALLS = {
  '/': async () => {},
  '/kv-get': (env) => env.KV.get('present'),
  '/kv-put': (env) => env.KV.put(`client:${id()}`, VALUE),
  '/kv-list': (env) => env.KV.list({ prefix: 'grant:', limit: 10 }),
  // One D1 batch with one write (a registration's shape), and one with three reads and six
  // writes (about the largest batch mcpgate sends on a hot path: a code redemption sends two
  // reads and six writes).
  '/d1': (env) => env.DB.batch([env.DB.prepare('INSERT INTO t (id, v, n) VALUES (?1, ?2, 0)').bind(id(), VALUE)]),
  '/d1-9': (env) => {
    const key = () => `seed-${Math.floor(Math.random() * 100)}`;
    const read = () => env.DB.prepare('SELECT id, v, n FROM t WHERE id = ?1').bind(key());
    const bump = () => env.DB.prepare('UPDATE t SET n = n + 1 WHERE id = ?1').bind(key());
    const insert = () => env.DB.prepare('INSERT INTO t (id, v, n) VALUES (?1, ?2, 0)').bind(id(), VALUE);
    return env.DB.batch([read(), read(), read(), insert(), insert(), insert(), bump(), bump(), bump()]);
  },
  // Two reads through D1's Sessions API, as mcpgate's /authorize reads (from the nearest replica).
  '/d1-session': (env) => {
    const session = env.DB.withSession('first-unconstrained');
    const read = () => session.prepare('SELECT id, v, n FROM t WHERE id = ?1').bind(`seed-${Math.floor(Math.random() * 100)}`);
    return session.batch([read(), read()]);
  },
  '/setup': async (env) => {
    await env.DB.exec('CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL)');
    const seed = env.DB.prepare('INSERT OR IGNORE INTO t (id, v, n) VALUES (?1, ?2, 0)');
    await env.DB.batch(Array.from({ length: 100 }, (_, i) => seed.bind(`seed-${i}`, VALUE)));
    await env.KV.put('present', VALUE);
    await Promise.all(Array.from({ length: 10 }, (_, i) => env.KV.put(`grant:${i}`, VALUE)));
  },
};

export default {
  async fetch(request, env) {
    const call = CALLS[new URL(request.url).pathname];
    if (!call) return new Response('not found\n', { status: 404 });
    await call(env);
    return new Response(BODY, { headers: { 'content-type': 'application/json' } });
  },
};
