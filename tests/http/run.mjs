// Runs the HTTP suite: one shared Worker under `wrangler dev` (fresh local D1/KV state, free
// ports), then every tests/http/*.test.mjs file against it with node's test runner. The
// server is always shut down, also on failure or interrupt.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startWorker, ROOT, TEST_ADMIN, TEST_SECRET } from './lib/worker.mjs';
import { bootstrap } from './lib/client.mjs';

const dir = join(ROOT, 'tests/http');
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => join(dir, f));

const t0 = Date.now();
// The shared worker may fetch client metadata documents from loopback fixture servers; this
// setting exists for tests only and is off by default.
const worker = await startWorker({ vars: { MCPGATE_INSECURE_LOOPBACK_CLIENT_METADATA: 'true' } });
console.log(`http suite: worker ready at ${worker.base} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const [adminId, adminSecret] = await bootstrap(worker.base, TEST_ADMIN);
let stopping = false;
const shutdown = async (code) => {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  process.exit(code);
};
process.on('SIGINT', () => shutdown(130));
process.on('SIGTERM', () => shutdown(143));

const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  cwd: ROOT,
  stdio: 'inherit',
  env: {
    ...process.env,
    MCPGATE_BASE: worker.base,
    MCPGATE_ADMIN_TOKEN: TEST_ADMIN,
    MCPGATE_SECRET: TEST_SECRET,
    MCPGATE_PERSIST: worker.persistDir,
    MCPGATE_ADMIN_CLIENT_ID: adminId,
    MCPGATE_ADMIN_CLIENT_SECRET: adminSecret,
  },
});
child.on('exit', async (code) => {
  if (code !== 0) {
    console.error('--- wrangler dev log (last 4000 chars) ---');
    console.error(worker.logs().slice(-4000));
  }
  await shutdown(code ?? 1);
});
