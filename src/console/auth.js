// The console as an OAuth client of mcpgate: authorization code + PKCE (S256), a public client.
// Tokens live in this module's memory only (never localStorage or sessionStorage); a reload
// signs in again, which is a redirect round trip while mcpgate's own browser session lasts. Only
// the PKCE verifier and state of a sign-in in progress sit in sessionStorage, for the redirect.

const cfg = document.getElementById('app').dataset;
export const issuer = cfg.issuer;
export const resource = cfg.resource;
const clientId = cfg.clientId;
const redirectUri = `${issuer}/console`;
const PENDING = 'mcpgate.console.signin';
const ATTEMPTS = 'mcpgate.console.attempts';

let tokens = null; // { access, refresh, scopes: Set, sub }
let refreshing = null;
const listeners = new Set();

export function onAuthChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function changed() {
  for (const fn of listeners) fn(tokens);
}

export const session = () => tokens;
export const canWrite = () => !!tokens?.scopes.has('admin.write');

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

/**
 * Leaves for mcpgate's /authorize; comes back to `route` (a hash) once signed in. `prompt`
 * `login` asks mcpgate to ask for the password again (after a sign-out). Refuses (returns
 * false) after three sign-ins in two minutes that did not complete: no redirect loop.
 */
export async function signIn(route = location.hash, prompt) {
  const now = Date.now();
  const tries = JSON.parse(sessionStorage.getItem(ATTEMPTS) || '[]').filter((t) => now - t < 120_000);
  if (tries.length >= 3) return false;
  sessionStorage.setItem(ATTEMPTS, JSON.stringify([...tries, now]));
  const verifier = random(32);
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, route }));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource,
    scope: cfg.scope,
  });
  if (prompt) q.set('prompt', prompt);
  location.assign(`${issuer}/authorize?${q}`);
  return true;
}

function claims(jwt) {
  try {
    return JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return {};
  }
}

async function tokenRequest(params) {
  const r = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, ...params }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body.error_description || body.error || `HTTP ${r.status}`), body);
  const c = claims(body.access_token);
  tokens = {
    access: body.access_token,
    refresh: body.refresh_token ?? null,
    scopes: new Set((body.scope || '').split(' ').filter(Boolean)),
    sub: c.sub,
  };
  changed();
}

/**
 * Completes a sign-in when the URL carries mcpgate's answer. Returns { route } when signed in,
 * { error } when mcpgate refused, or null when there was no answer to complete.
 */
export async function completeSignIn() {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  // The code must not stay in the address bar or the history.
  history.replaceState(null, '', `${location.pathname}${pending?.route || ''}`);
  if (!pending || q.get('state') !== pending.state) return { error: 'The sign-in answer did not match a sign-in started here.' };
  // RFC 9207: the answer must come from this issuer (mcpgate always names itself).
  if (q.get('iss') !== issuer) return { error: 'The sign-in answer did not come from this issuer.' };
  if (q.has('error')) return { error: q.get('error_description') || q.get('error') };
  try {
    await tokenRequest({
      grant_type: 'authorization_code',
      code: q.get('code'),
      redirect_uri: redirectUri,
      code_verifier: pending.verifier,
      resource,
    });
  } catch (e) {
    return { error: e.message };
  }
  sessionStorage.removeItem(ATTEMPTS);
  return { route: pending.route };
}

/** A fresh access token from the refresh token (one exchange at a time: it rotates). */
function refresh() {
  if (!tokens?.refresh) return Promise.reject(new Error('no refresh token'));
  refreshing ??= tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh, resource }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** The session ended (refresh refused): back to sign in, to the same page. */
async function expired() {
  tokens = null;
  changed();
  if (!(await signIn())) onStuck?.();
}

let onStuck = null;
/** What to do when signing in keeps failing (shown instead of redirecting again). */
export function whenStuck(fn) {
  onStuck = fn;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body.error_description || body.error || `HTTP ${status}`);
    this.status = status;
    this.field = body.field;
    this.code = body.error;
  }
}

/** Calls the admin API: `path` below /admin/v1. Returns the parsed body (null for 204). */
export async function api(method, path, body) {
  const call = () =>
    fetch(`${resource}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens?.access}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  let r = await call();
  if (r.status === 401) {
    try {
      await refresh();
    } catch {
      expired();
      throw new ApiError(401, { error: 'session_expired', error_description: 'Your session ended; signing in again.' });
    }
    r = await call();
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** Signs out of the console: the refresh token is revoked and the tokens forgotten. */
export async function signOut() {
  const t = tokens;
  tokens = null;
  changed();
  if (t?.refresh) {
    await fetch(`${issuer}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, token: t.refresh, token_type_hint: 'refresh_token' }),
    }).catch(() => {});
  }
}
