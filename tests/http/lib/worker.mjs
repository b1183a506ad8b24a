// Starts the built Worker under `wrangler dev` with its own local D1/KV state, on free ports,
// and stops it (the whole process group) afterwards.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'node_modules/.bin');
const WRANGLER = join(BIN, 'wrangler');
// wrangler runs on the node 22 from node_modules (its shebang looks node up on PATH).
if (!process.env.PATH.startsWith(BIN)) process.env.PATH = `${BIN}:${process.env.PATH}`;

export const TEST_SECRET = 'http-suite-root-secret-0123456789abcdef';
export const TEST_ADMIN = 'http-suite-admin-token-0123456789abcdef';

/** A TCP port that was free a moment ago. */
export async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** A fresh persistence directory with every D1 migration applied. */
export function freshState() {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-state-'));
  execFileSync(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', dir], {
    cwd: ROOT,
    env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return dir;
}

export function migrationCount() {
  return readdirSync(join(ROOT, 'migrations')).filter((f) => f.endsWith('.sql')).length;
}

/**
 * Starts `wrangler dev`. `vars` are passed with --var (null drops the default). Returns
 * { base, port, persistDir, logs(), stop() }. Without `persistDir` it runs on a fresh state
 * directory that `stop` removes; a `persistDir` passed in is the caller's to keep or remove.
 */
export async function startWorker({ persistDir, vars = {}, timeoutMs = 180_000, quiet = false } = {}) {
  const owned = !persistDir;
  persistDir ??= freshState();
  const port = await freePort();
  const inspector = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const all = {
    MCPGATE_ISSUER: base,
    MCPGATE_SECRET: TEST_SECRET,
    MCPGATE_ADMIN_TOKEN: TEST_ADMIN,
    ...vars,
  };
  const args = [
    'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--persist-to', persistDir, '--show-interactive-dev-session=false', '--test-scheduled',
    // Keeps a developer's .dev.vars out of the test run.
    '--env-file', join(ROOT, 'tests/http/lib/empty.env'),
  ];
  // `quiet`: no line per request from wrangler's proxy (benchmarks: the logging costs CPU that is
  // not the Worker's). Then "Ready on" is not printed either, and readiness is polled below.
  if (quiet) args.push('--log-level', 'warn');
  for (const [k, v] of Object.entries(all)) {
    if (v !== null && v !== undefined) args.push('--var', `${k}:${v}`);
  }
  const w = spawnWrangler(args, ROOT, owned ? persistDir : undefined);
  const stop = w.stop;
  const deadline = Date.now() + timeoutMs;
  while (!quiet && !/Ready on/.test(w.logs())) {
    if (w.exited() || Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not start:\n${w.logs()}`);
    }
    await sleep(200);
  }
  // The proxy is ready; wait until the Worker itself answers.
  while (true) {
    try {
      const r = await fetch(`${base}/.well-known/oauth-authorization-server`);
      await r.arrayBuffer();
      break;
    } catch (e) {
      if (w.exited() || Date.now() > deadline) {
        await stop();
        throw new Error(`wrangler dev did not answer: ${e.message}\n${w.logs()}`);
      }
      await sleep(200);
    }
  }
  /** Waits until the log matches `re` (worker console output arrives asynchronously). */
  const waitForLog = async (re, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!re.test(w.logs()) && Date.now() < end) await sleep(100);
    return re.test(w.logs());
  };
  return { base, port, inspector, persistDir, logs: w.logs, waitForLog, stop };
}

/**
 * Runs `wrangler <args>` in `cwd` in its own process group, collecting its output. Returns
 * { logs(), exited(), stop() }; `stop` ends the whole group (wrangler and workerd), then removes
 * `ownedDir` (the run's own state directory), if given.
 */
export function spawnWrangler(args, cwd, ownedDir) {
  let out = '';
  const child = spawn(WRANGLER, args, {
    cwd,
    detached: true,
    env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  let exited = false;
  child.on('exit', () => (exited = true));
  const stop = async () => {
    if (!exited) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch {}
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) try { process.kill(-child.pid, 'SIGKILL'); } catch {}
    }
    if (ownedDir) rmSync(ownedDir, { recursive: true, force: true });
  };
  return { logs: () => out, exited: () => exited, stop };
}
