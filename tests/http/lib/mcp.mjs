// The official MCP TypeScript SDK client, with an OAuthClientProvider whose "browser" is
// headless Chromium signing in and consenting on mcpgate's pages.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { authorizeInBrowser } from './browser.mjs';
import { ROOT, freePort } from './worker.mjs';

export const REDIRECT = 'http://127.0.0.1:8998/oauth/callback';

/** An in-memory OAuthClientProvider. `keepRefresh: false` drops refresh tokens. */
export class TestProvider {
  constructor({ keepRefresh = true, name = 'mcpgate e2e (MCP TypeScript SDK)' } = {}) {
    this.keepRefresh = keepRefresh;
    this.name = name;
    this.authorizations = 0;
    this.refreshes = 0;
  }
  get redirectUrl() { return REDIRECT; }
  get clientMetadata() {
    return { client_name: this.name, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.savedTokens; }
  saveTokens(t) {
    if (this.savedTokens) this.refreshes++;
    this.savedTokens = this.keepRefresh ? t : { ...t, refresh_token: undefined };
  }
  redirectToAuthorization(url) { this.authorizationUrl = url; this.authorizations++; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  discoveryState() { return this.discovery; }
  saveDiscoveryState(s) { this.discovery = s; }
}

/**
 * Connects an SDK client to `mcpUrl`. On UnauthorizedError the provider's authorization URL is
 * completed in the browser and the transport finishes the flow, then the client connects again.
 */
export async function connect({ mcpUrl, provider, browser, username, password, screenshot }) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    const client = new Client({ name: 'mcpgate-e2e', version: '1.0.0' });
    try {
      await client.connect(transport);
      return { client, transport };
    } catch (e) {
      if (!(e instanceof UnauthorizedError)) throw e;
      const code = await completeInBrowser({ provider, browser, username, password, screenshot });
      await transport.finishAuth(code);
    }
  }
  throw new Error('could not connect after three authorizations');
}

/** Drives the provider's pending authorization URL through login and consent; returns the code. */
export async function completeInBrowser({ provider, browser, username, password, screenshot }) {
  const context = await browser.newContext();
  try {
    const landed = new URL(await authorizeInBrowser(context, provider.authorizationUrl.href, { username, password, redirectPrefix: REDIRECT, screenshot }));
    const code = landed.searchParams.get('code');
    if (!code) throw new Error(`authorization failed: ${landed.search}`);
    return code;
  } finally {
    await context.close();
  }
}

/** Calls a tool; on UnauthorizedError (a step-up that needs the browser) completes it and retries. */
export async function callTool({ client, transport, provider, browser, username, password }, name, args = {}) {
  try {
    return await client.callTool({ name, arguments: args });
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    const code = await completeInBrowser({ provider, browser, username, password });
    await transport.finishAuth(code);
    return client.callTool({ name, arguments: args });
  }
}

/** Starts the example MCP server (examples/notes-mcp) against an mcpgate issuer. */
export async function startNotesMcp(issuer, { pollSecs = 1, push } = {}) {
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const bin = join(ROOT, 'target/debug/notes-mcp');
  let out = '';
  const args = ['--issuer', issuer, '--resource', resource, '--listen', `127.0.0.1:${port}`,
    '--revocation-poll-secs', String(pollSecs)];
  // The push credentials go through the environment, never the command line.
  const env = push ? { ...process.env, NOTES_PUSH_CLIENT_ID: push[0], NOTES_PUSH_CLIENT_SECRET: push[1] } : process.env;
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`);
      if (r.ok) break;
    } catch {}
    await sleep(100);
  }
  return {
    resource,
    logs: () => out,
    stop: async () => { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); },
  };
}

/** An MCP server's verdict on a token: the HTTP status of an MCP initialize request. */
export async function mcpStatus(resource, token) {
  const r = await fetch(resource, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '0' } } }),
  });
  await r.body?.cancel();
  return r.status;
}

/** Waits until the MCP server answers `status` for `token`; returns the milliseconds it took. */
export async function untilStatus(resource, token, status, limitMs = 20_000) {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if ((await mcpStatus(resource, token)) === status) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the MCP server did not answer ${status} within ${limitMs} ms`);
}
