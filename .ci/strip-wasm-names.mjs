// Drops the `name` custom section from the built wasm. worker-build always asks wasm-opt to
// keep it (--debuginfo); it only labels stack traces, and costs ~15% of the bundle. The function
// names are kept beside the build, in target/wasm-function-names.json (index -> name), where
// `make bench`'s CPU profile reads them to say where the Worker's time goes.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

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
const names = {};
/** Reads the function-names subsection (id 1) of a `name` section body [from, to). */
function functionNames(from, to) {
  i = from;
  while (i < to) {
    const sub = b[i++];
    const size = leb();
    const end = i + size;
    if (sub === 1) {
      for (let n = leb(); n > 0; n--) {
        const idx = leb();
        const len = leb();
        names[idx] = b.subarray(i, i + len).toString();
        i += len;
      }
    }
    i = end;
  }
}
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
    const payload = i + nameLen;
    const name = b.subarray(i, payload).toString();
    i = save;
    if (name === 'name') {
      const after = i;
      functionNames(payload, after);
      i = after;
      dropped += i - start;
      continue;
    }
  }
  out.push(b.subarray(start, i));
}
writeFileSync(path, Buffer.concat(out));
const namesFile = join(dirname(path), '..', 'target', 'wasm-function-names.json');
mkdirSync(dirname(namesFile), { recursive: true });
writeFileSync(namesFile, JSON.stringify(names));
console.log(`build: stripped ${dropped} bytes of wasm names from ${path}`);
