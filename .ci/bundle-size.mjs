// Prints the deployable bundle's size (raw and gzip -9, per file and in total) and fails when
// the total gzip size exceeds the budget. Used by `make test` (enforced) and `make bench`.
// Usage: node .ci/bundle-size.mjs <dir> [budget KiB]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dir = process.argv[2] ?? 'target/dist-dry';
const budgetKiB = Number(process.argv[3] ?? 512);
let raw = 0;
let gz = 0;
for (const name of readdirSync(dir).sort()) {
  const path = join(dir, name);
  if (!statSync(path).isFile()) continue;
  const bytes = readFileSync(path);
  const z = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length;
  gz += z;
  console.log(`  ${name.padEnd(40)} ${String(bytes.length).padStart(9)} B raw ${String(z).padStart(9)} B gzip`);
}
console.log(`  ${'total'.padEnd(40)} ${String(raw).padStart(9)} B raw ${String(gz).padStart(9)} B gzip (${Math.floor(gz / 1024)} KiB of ${budgetKiB} KiB)`);
if (gz > budgetKiB * 1024) {
  console.error(`bundle-size: ${Math.ceil(gz / 1024)} KiB gzip exceeds the ${budgetKiB} KiB budget`);
  process.exit(1);
}
