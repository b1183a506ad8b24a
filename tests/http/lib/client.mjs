// Small helpers shared by the HTTP test files.
export const BASE = process.env.MCPGATE_BASE;
export const ADMIN = process.env.MCPGATE_ADMIN_TOKEN;

/** fetch relative to the Worker, returning { status, headers, body (parsed JSON or text) }. */
export async function call(path, { method = 'GET', headers = {}, body, base = BASE } = {}) {
  const r = await fetch(new URL(path, base), { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch {}
  return { status: r.status, headers: r.headers, body: parsed };
}

/** An admin API call with the bootstrap credential. */
export function admin(path, { method = 'GET', json, base = BASE, token = ADMIN } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  }
  return call(path, { method, headers, body, base });
}
