// CPU inside the Worker, per request, and where it goes: V8's sampling profiler, driven over the
// inspector port of `wrangler dev` (the Chrome DevTools protocol). Samples are taken only while
// the Worker's isolate runs (its JavaScript, its WebAssembly, and the runtime's native code it
// calls, such as WebCrypto), so the figures leave out wrangler's local proxy and the HTTP
// plumbing outside the isolate, which production does not have either. Used by `make bench`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../tests/http/lib/worker.mjs';

// Names of the wasm functions, kept by .ci/strip-wasm-names.mjs when it strips them from the build.
const NAMES_FILE = join(ROOT, 'target/wasm-function-names.json');

/** Where a sample's time goes, from the function it was in (first match wins). */
const CATEGORIES = [
  // The D1 binding's JavaScript (cloudflare-internal:d1-api, its tracing spans, the fetch to the
  // database and reading its answer), KV calls, and decoding what they return.
  ['D1, KV', (f) => /d1|tracing/i.test(f.url) || /serde_wasm_bindgen|worker::d1|worker::kv|mcpgate::store::(d1|kv)/.test(f.name)
    || !f.wasm && !f.url && /^(fetch|read|enterSpan|setAttributes|withSpan|get|put|list|delete|json)$/.test(f.name)],
  ['crypto', (f) => !f.wasm && /^(sign|verify|digest|importKey|exportKey|deriveBits|deriveKey|encrypt|decrypt|getRandomValues|generateKey)$/.test(f.name)
    || f.wasm && /sha2|hmac|hkdf|aes|gcm|ghash|polyval|p256|ecdsa|elliptic|primeorder|subtle|crypto|getrandom|rand_core|base64|constant_time/i.test(f.name)],
  ['JSON', (f) => /serde_json|serde_core|serde::/.test(f.name) || !f.wasm && /^(parse|stringify)$/.test(f.name)],
  ['memory', (f) => f.wasm && /dlmalloc|__rdl_|__rust_(alloc|dealloc|realloc)|alloc::raw_vec|^mem(cpy|move|set|cmp)$|drop_in_place|RawVec/.test(f.name)],
  // Request/Response and header conversion, the wasm-bindgen boundary and its futures.
  ['HTTP glue', (f) => f.url.endsWith('index.js') || f.wasm && /^(<?worker|<?wasm_bindgen|<?js_sys|<?web_sys|<?http::|<?futures|mcpgate::http)|externref|__wbg|__wbindgen|shim|closures|js-to-wasm/.test(f.name)
    || !f.wasm && !f.url && /^(Response|Request|Headers|append|entries|next|decode|encode|URL|queueMicrotask|then|wasm-to-js|js-to-wasm|arrayBuffer|text|set tracing)$/.test(f.name)],
  ['runtime, GC', (f) => !f.wasm],
  ['mcpgate (routing, policy, encoding)', () => true],
];
export const CATEGORY_NAMES = CATEGORIES.map(([n]) => n);

/** Connects to the inspector of a `wrangler dev` started with `--inspector-port`. */
export async function connectProfiler(inspectorPort) {
  // The inspector proxy refuses connections without an allowed Origin (DNS rebinding guard).
  const ws = new WebSocket(`ws://127.0.0.1:${inspectorPort}/ws`, { headers: { origin: 'http://localhost' } });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = (e) => reject(new Error(`inspector: ${e.message ?? 'connection failed'}`));
  });
  let seq = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    const done = msg.id && pending.get(msg.id);
    if (!done) return;
    pending.delete(msg.id);
    if (msg.error) done.reject(new Error(`${msg.error.message}`));
    else done.resolve(msg.result);
  };
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++seq;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 50 });
  const names = existsSync(NAMES_FILE) ? JSON.parse(readFileSync(NAMES_FILE, 'utf8')) : {};
  return {
    /** Profiles `run()` (which makes `n` requests); returns the CPU per request, by category. */
    async measure(n, run) {
      await send('Profiler.start');
      try {
        await run();
      } finally {
        var { profile } = await send('Profiler.stop');
      }
      return perRequest(profile, names, n);
    },
    close: () => ws.close(),
  };
}

/**
 * The sampler's real period: V8 samples only while the isolate runs, so a gap between samples
 * is either one period (inside a burst of work) or a period plus idle time. The periods are the
 * tight cluster at the low end of the gaps (within twice the 5th percentile); their median is
 * the period. (The median of all gaps is not: when the Worker is idle more than half the time,
 * as with requests of a few hundred microseconds, it is an idle gap.)
 */
export function samplingPeriod(timeDeltas) {
  const gaps = timeDeltas.slice(1).filter((g) => g > 0).sort((a, b) => a - b);
  const floor = gaps[Math.floor(gaps.length * 0.05)] ?? 0;
  const regular = gaps.filter((g) => g <= 2 * floor);
  return regular[Math.floor(regular.length / 2)] ?? 0;
}

/**
 * Microseconds of isolate CPU per request, in total and by category. Each sample stands for one
 * sampling period ([`samplingPeriod`]).
 */
function perRequest(profile, names, n) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const period = samplingPeriod(profile.timeDeltas);
  const out = Object.fromEntries(CATEGORY_NAMES.map((c) => [c, 0]));
  let samples = 0;
  let top = new Map();
  for (const id of profile.samples) {
    const frame = byId.get(id).callFrame;
    if (frame.functionName === '(idle)' || frame.functionName === '(root)') continue;
    const m = /^wasm-function\[(\d+)\]$/.exec(frame.functionName);
    const f = { name: m ? (names[m[1]] ?? frame.functionName) : frame.functionName, url: frame.url, wasm: !!m || frame.url.startsWith('wasm://') };
    const [category] = CATEGORIES.find(([, test]) => test(f));
    out[category] += period;
    const label = `${f.name || `(anonymous:${frame.lineNumber}:${frame.columnNumber})`}${f.wasm ? '' : ` [${frame.url || 'native'}] -> ${category}`}`;
    top.set(label, (top.get(label) ?? 0) + period);
    samples++;
  }
  for (const c of CATEGORY_NAMES) out[c] /= n;
  top = [...top].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.BENCH_PROFILE_TOP || 5)).map(([name, us]) => [name, us / n]);
  return { total: (samples * period) / n, byCategory: out, samples, period, top };
}
