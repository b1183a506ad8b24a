import { createServer, request as httpRequest } from 'node:http';
// Small helpers shared by the HTTP test files.
export const BASE = process.env.MCPGATE_BASE;
export const BOOTSTRAP = process.env.MCPGATE_ADMIN_TOKEN;
const ADMIN_ID = process.env.MCPGATE_ADMIN_CLIENT_ID;
const ADMIN_SECRET = process.env.MCPGATE_ADMIN_CLIENT_SECRET;

/** fetch relative to the Worker, returning { status, headers, body (parsed JSON or text) }. */
export async function call(path, { method = 'GET', headers = {}, body, base = BASE } = {}) {
  const r = await fetch(new URL(path, base), { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch {}
  return { status: r.status, headers: r.headers, body: parsed };
}

/** A form post with optional HTTP Basic client authentication. */
export function form(path, params, { basic, base = BASE, headers = {} } = {}) {
  const h = { 'content-type': 'application/x-www-form-urlencoded', ...headers };
  if (basic) h.authorization = 'Basic ' + Buffer.from(`${encodeURIComponent(basic[0])}:${encodeURIComponent(basic[1])}`).toString('base64');
  return call(path, { method: 'POST', headers: h, body: new URLSearchParams(params).toString(), base });
}

let cached = null;
/** An admin API access token (client_credentials with the suite's admin client). */
export async function adminToken({ base = BASE, creds = [ADMIN_ID, ADMIN_SECRET] } = {}) {
  if (base === BASE && cached && cached.exp - 30_000 > Date.now()) return cached.token;
  const r = await form('/token', { grant_type: 'client_credentials', resource: `${base}/admin/v1` }, { basic: creds, base });
  if (r.status !== 200) throw new Error(`admin token: ${r.status} ${JSON.stringify(r.body)}`);
  const t = { token: r.body.access_token, exp: Date.now() + r.body.expires_in * 1000 };
  if (base === BASE) cached = t;
  return t.token;
}

/** Creates the first admin client with the bootstrap credential. */
export async function bootstrap(base = BASE, secret = BOOTSTRAP) {
  const r = await call('/admin/v1/bootstrap', { method: 'POST', headers: { authorization: `Bearer ${secret}` }, base });
  if (r.status !== 201) throw new Error(`bootstrap: ${r.status} ${JSON.stringify(r.body)}`);
  return [r.body.client_id, r.body.client_secret];
}

/** An admin API call; `token` overrides the suite's admin access token. */
export async function admin(path, { method = 'GET', json, base = BASE, token } = {}) {
  const headers = { authorization: `Bearer ${token ?? (await adminToken({ base }))}` };
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  }
  return call(path, { method, headers, body, base });
}

/**
 * A local proxy to `targetUrl`'s origin that adds `Authorization: Bearer <token>` to every
 * request (the MCP conformance runner sends no credentials). Returns { url, close() }, `url`
 * being the proxy's address with the target's path.
 */
export async function bearerProxy(targetUrl, token) {
  const target = new URL(targetUrl);
  const proxy = createServer((req, res) => {
    // The proxy's own Host becomes the target's; any other (a DNS-rebinding probe) passes as sent.
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    if (req.headers.host?.startsWith('127.0.0.1')) headers.host = target.host;
    const up = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${proxy.address().port}${target.pathname}`, close: () => proxy.close() };
}
