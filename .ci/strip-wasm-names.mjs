// Drops the `name` custom section from the built wasm. worker-build always asks wasm-opt to
// keep it (--debuginfo); it only labels stack traces, and costs ~15% of the bundle.
import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2];
const b = readFileSync(path);
if (b.readUInt32LE(0) !== 0x6d736100) throw new Error(`${path} is not a wasm module`);
const out = [b.subarray(0, 8)];
let i = 8;
const leb = () => {
  let r = 0, s = 0, x;
  do { x = b[i++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80);
  return r;
};
let dropped = 0;
while (i < b.length) {
  const start = i;
  const id = b[i++];
  const len = leb();
  const body = i;
  i = body + len;
  if (id === 0) {
    const save = i;
    i = body;
    const nameLen = leb();
    const name = b.subarray(i, i + nameLen).toString();
    i = save;
    if (name === 'name') { dropped += i - start; continue; }
  }
  out.push(b.subarray(start, i));
}
writeFileSync(path, Buffer.concat(out));
console.log(`build: stripped ${dropped} bytes of wasm names from ${path}`);
