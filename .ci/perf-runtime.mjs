// Where the local runtime's thread goes, for `make bench` (.ci/bench-peer.mjs): Linux `perf`
// samples the main thread of the workerd process that runs the Worker and the local D1/KV
// simulators (see `runtimePid` there) with call stacks, and each sample is put in one category
// by what its stack holds. workerd ships with symbols, so SQLite's, V8's and the runtime's own
// functions are named; the Worker's WebAssembly and the simulators' JavaScript are not, but
// V8's builtins on their stacks are. Optional: without a usable `perf`, `perfUsable()` is false
// and the bench says so.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

/** Sampling frequency (Hz): every sample stands for 1/PERF_HZ s of the thread's CPU. */
export const PERF_HZ = 1999;

/**
 * Categories, first match wins, tested against every frame of a sample's stack (innermost
 * first). The order matters: SQLite's commit calls into the kernel (fsync), JSON is read and
 * written for the WebAssembly and the JavaScript, and the HTTP hops between workers (the
 * request's, and each D1 or KV call's) run JavaScript.
 */
const CATEGORIES = [
  ['SQLite prepare', (fs) => fs.some(({ sym }) => /sqlite3(LockAnd)?Prepare|sqlite3RunParser/.test(sym))],
  ['SQLite commit', (fs) => fs.some(({ sym }) => /vdbeCommit|sqlite3PagerCommit|\bfsync\b/.test(sym))],
  ['SQLite run', (fs) => fs.some(({ sym }) => /sqlite3/.test(sym))],
  ['JSON', (fs) => fs.some(({ sym }) => /JsonParse|JsonStringif/.test(sym))],
  ['WebAssembly', (fs) => fs.some(({ sym }) => /Wasm|wasm-function|js-to-wasm|wasm-to-js/.test(sym))],
  ['HTTP hops', (fs) => fs.some(({ sym }) => /kj::Http|HttpHeaders|HttpServer|HttpClient|fetchImpl|Fetcher::fetch/.test(sym))],
  ['JavaScript', (fs) => fs.some(({ sym }) => /^Builtins_|v8::internal::/.test(sym))],
  ['kernel', (fs) => fs.length > 0 && fs[0].kernel],
  ['runtime', () => true],
];
export const PERF_CATEGORIES = CATEGORIES.map(([name]) => name);

/** Whether `perf record` works here (installed, and allowed to record). */
export function perfUsable() {
  const r = spawnSync('perf', ['record', '-q', '-F', '99', '-o', '/dev/null', '--', 'true'], { encoding: 'utf8' });
  return r.status === 0;
}

/** Starts sampling thread `tid` into `file`; the returned function stops it (and waits). */
export function recordThread(tid, file) {
  const child = spawn('perf', ['record', '-q', '-F', String(PERF_HZ), '-g', '-t', String(tid), '-o', file], { stdio: 'ignore' });
  const done = new Promise((resolve) => child.on('close', resolve));
  return async () => {
    child.kill('SIGINT');
    await done;
  };
}

/** Samples per category in `file` (which it then removes), and their total. */
export function breakdown(file) {
  const r = spawnSync('perf', ['script', '-i', file, '-F', 'tid,ip,sym'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  rmSync(file, { force: true });
  if (r.status !== 0) throw new Error(`perf script: ${r.stderr.slice(0, 300)}`);
  const counts = Object.fromEntries(PERF_CATEGORIES.map((c) => [c, 0]));
  let total = 0;
  // Each sample: a header line (the thread id), its frames indented ("<ip> <symbol>"), a blank line.
  for (const block of r.stdout.split(/\n\s*\n/)) {
    const frames = block.split('\n').filter((l) => l.startsWith('\t')).map((l) => {
      const [, ip, sym = ''] = /^\s*([0-9a-f]+)\s*(.*)$/.exec(l) ?? [];
      return { sym, kernel: (ip ?? '').startsWith('ffff') };
    });
    if (!frames.length) continue;
    const [name] = CATEGORIES.find(([, test]) => test(frames));
    counts[name]++;
    total++;
  }
  return { counts, total };
}
