// Starts the gateway Worker (gateway/) under `wrangler dev` on free ports, in front of an
// upstream MCP server, against the shared mcpgate Worker.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, freePort, spawnWrangler } from './worker.mjs';

export const IDENTITY_SECRET = 'gateway-identity-secret-0123456789abcdef';
export const STATS_TOKEN = 'gateway-stats-token-0123456789';

export async function startGateway({ issuer, upstream, vars = {}, port: chosen, timeoutMs = 120_000 }) {
  const port = chosen ?? await freePort();
  const inspector = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const all = {
    MCPGATE_ISSUER: issuer,
    GATEWAY_RESOURCE: resource,
    GATEWAY_UPSTREAM: upstream,
    GATEWAY_IDENTITY_SECRET: IDENTITY_SECRET,
    GATEWAY_STATS_TOKEN: STATS_TOKEN,
    GATEWAY_POLICY_REFRESH_SECS: '1',
    GATEWAY_REVOCATION_POLL_SECS: '1',
    ...vars,
  };
  const state = mkdtempSync(join(tmpdir(), 'mcpgate-gateway-'));
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', state, '--show-interactive-dev-session=false',
    '--env-file', join(ROOT, 'tests/http/lib/empty.env')];
  for (const [k, v] of Object.entries(all)) args.push('--var', `${k}:${v}`);
  const w = spawnWrangler(args, join(ROOT, 'gateway'), state);
  const stop = w.stop;
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`);
      await r.arrayBuffer();
      if (r.ok) break;
    } catch {}
    if (w.exited() || Date.now() > deadline) {
      await stop();
      throw new Error(`gateway did not start:\n${w.logs()}`);
    }
    await sleep(200);
  }
  return { url: resource, base: `http://127.0.0.1:${port}`, inspector, logs: w.logs, stop };
}
