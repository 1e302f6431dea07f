#!/usr/bin/env node
// The code habits `npm test` holds the tree to: rustfmt-clean, and clippy
// without a warning natively (every target, tests included) and for the
// wasm build (the bindings exist only there). Prints `# pass N` / `# fail N`
// for the test runner's summary.
//   node scripts/lint.mjs
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHECKS = [
  ['cargo fmt --check', ['fmt', '--check']],
  ['cargo clippy (native, all targets)', ['clippy', '--all-targets', '--features', 'bench', '--', '-D', 'warnings']],
  ['cargo clippy (wasm32 library)', ['clippy', '--lib', '--features', 'bench', '--target', 'wasm32-unknown-unknown', '--', '-D', 'warnings']],
];

let pass = 0;
let fail = 0;
for (const [name, args] of CHECKS) {
  const r = spawnSync('cargo', args, { cwd: root, stdio: 'inherit' });
  if (r.status === 0) {
    pass += 1;
    console.log(`ok - ${name}`);
  } else {
    fail += 1;
    console.log(`not ok - ${name}`);
  }
}
console.log(`# pass ${pass}`);
console.log(`# fail ${fail}`);
process.exit(fail ? 1 : 0);
