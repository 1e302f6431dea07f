#!/usr/bin/env node
// Builds everything: two wasm builds (baseline SIMD128 and relaxed SIMD),
// their JS bindings (wasm-bindgen), wasm-opt on both, then the page (Vite).
// The CLI (www/cli) uses the baseline build directly; it needs no extra step.
//   node scripts/build.mjs [--wasm-only] [--only simd|relaxed]  (--only: one wasm build, for quick iteration)
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wasmOnly = process.argv.includes('--wasm-only');
const onlyBuild = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;

// Features the Rust wasm32 target enables by default, which wasm-opt must be
// allowed to keep; relaxed SIMD is added only to the relaxed build.
const BASE_FEATURES = ['--enable-simd', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue'];

const BUILDS = [
  { name: 'simd', rustflags: '-C target-feature=+simd128', targetDir: 'target', opt: BASE_FEATURES },
  { name: 'relaxed', rustflags: '-C target-feature=+simd128,+relaxed-simd', targetDir: 'target/relaxed',
    opt: [...BASE_FEATURES, '--enable-relaxed-simd'] },
];

function run(cmd, args, env = {}) {
  console.log(`[build] ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
}

const started = Date.now();
for (const b of BUILDS.filter((b) => !onlyBuild || b.name === onlyBuild)) {
  // RUSTFLAGS replaces .cargo/config.toml's flags, so +simd128 is repeated here.
  run('cargo', ['build', '--lib', '--release', '--target', 'wasm32-unknown-unknown', '--target-dir', b.targetDir],
    { RUSTFLAGS: b.rustflags });
  const wasm = join(root, b.targetDir, 'wasm32-unknown-unknown/release/squish.wasm');
  const out = join(root, 'www/pkg', b.name);
  run('wasm-bindgen', ['--target', 'web', '--out-dir', out, '--out-name', 'squish', wasm]);
  const bg = join(out, 'squish_bg.wasm');
  run(join(root, 'node_modules/.bin/wasm-opt'), ['-O3', ...b.opt, bg, '-o', bg]);
  console.log(`[build] ${b.name}: ${(statSync(bg).size / 1024).toFixed(0)} KiB`);
}
if (!wasmOnly) {
  run(join(root, 'node_modules/.bin/vite'), ['build', '--config', 'www/vite.config.js', '--logLevel', 'warn']);
  if (!existsSync(join(root, 'dist/index.html'))) throw new Error('vite build produced no dist/index.html');
}
console.log(`[build] done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
