#!/usr/bin/env node
// Builds everything: two wasm builds (baseline SIMD128 and relaxed SIMD),
// their JS bindings (wasm-bindgen), wasm-opt on both, then the page (Vite).
// The CLI (www/cli) uses the baseline build directly; it needs no extra step.
//   node scripts/build.mjs [--wasm-only] [--only simd|relaxed] [--bench]
//   --only: one wasm build, for quick iteration; --bench: the benchmark's
//   builds instead (feature `bench`: the shipped code plus the GEMM timing
//   harness) into target/bench-pkg/, never shipped.
//
// Steps whose inputs have not changed are skipped: cargo decides for itself,
// and wasm-bindgen + wasm-opt and Vite each keep a stamp with the SHA-256 of
// their inputs (the cargo output; the page's sources and the wasm builds), so
// a second `npm start` with nothing changed serves the page in seconds.
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wasmOnly = process.argv.includes('--wasm-only');
const onlyBuild = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const bench = process.argv.includes('--bench');

// Features the Rust wasm32 target enables by default, which wasm-opt must be
// allowed to keep; relaxed SIMD is added only to the relaxed build.
const BASE_FEATURES = ['--enable-simd', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue'];

// wasm-opt's -O3 also inlines every function that has one caller, however
// large, which undoes the Rust side's inlining choices: V8 then allocated the
// depthwise kernel's registers worse (mobilenetv2 in Node, same process, the
// same wasm optimised both ways: depthwise convolutions 9.2 → 5.7 ms, whole
// model 32.2 → 28.3 ms, resnet50 247 → 235 ms).
const OPTIMISE = ['-O3', '--one-caller-inline-max-function-size', '0'];

const BUILDS = [
  { name: 'simd', rustflags: '-C target-feature=+simd128', targetDir: 'target', opt: BASE_FEATURES },
  { name: 'relaxed', rustflags: '-C target-feature=+simd128,+relaxed-simd', targetDir: 'target/relaxed',
    opt: [...BASE_FEATURES, '--enable-relaxed-simd'] },
].map((b) => (bench ? { ...b, targetDir: join('target/bench', b.name), features: ['--features', 'bench'], pkg: join('target/bench-pkg', b.name) }
  : { ...b, features: [], pkg: join('www/pkg', b.name) }));

function run(cmd, args, env = {}) {
  console.log(`[build] ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
}

/// The same as `run`, without blocking: each output line is prefixed with the
/// build's name, since the two wasm builds run side by side.
function runAsync(tag, cmd, args, env = {}) {
  console.log(`[build ${tag}] ${cmd} ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
      let rest = '';
      from.on('data', (d) => {
        const lines = (rest + d).split('\n');
        rest = lines.pop();
        for (const l of lines) to.write(`[${tag}] ${l}\n`);
      });
      from.on('end', () => { if (rest) to.write(`[${tag}] ${rest}\n`); });
    }
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args[0]} (${tag}) exited with ${code}`))));
  });
}

function output(cmd, args) {
  return execFileSync(cmd, args, { cwd: root, encoding: 'utf8' }).trim();
}

/// Every file under `dir` (sorted), skipping the named sub-folders.
function filesUnder(dir, skip = []) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!skip.includes(p)) out.push(...filesUnder(p, skip));
    } else {
      out.push(p);
    }
  }
  return out;
}

/// SHA-256 over the given strings and files (paths and contents).
function digest(strings, files) {
  const h = createHash('sha256');
  for (const s of strings) h.update(`${s}\0`);
  for (const f of files) {
    h.update(`${relative(root, f)}\0`);
    h.update(readFileSync(f));
  }
  return h.digest('hex');
}

/// Runs `step` (sync or async) unless `stamp` holds `hash` and every output exists; then records the hash.
async function unlessUnchanged(what, stamp, hash, outputs, step) {
  const fresh = existsSync(stamp) && readFileSync(stamp, 'utf8') === hash && outputs.every((o) => existsSync(o));
  if (fresh) {
    console.log(`[build] ${what}: unchanged, skipped`);
    return;
  }
  await step();
  writeFileSync(stamp, hash);
}

const started = Date.now();
const tools = [output('wasm-bindgen', ['--version']), output(join(root, 'node_modules/.bin/wasm-opt'), ['--version'])];
/// One wasm build: cargo, then wasm-bindgen and wasm-opt unless the wasm is unchanged.
async function buildWasm(b) {
  // RUSTFLAGS replaces .cargo/config.toml's flags, so +simd128 is repeated here.
  await runAsync(b.name, 'cargo', ['build', '--lib', '--release', '--target', 'wasm32-unknown-unknown', '--target-dir', b.targetDir, ...b.features],
    { RUSTFLAGS: b.rustflags });
  const wasm = join(root, b.targetDir, 'wasm32-unknown-unknown/release/squish.wasm');
  const out = join(root, b.pkg);
  const bg = join(out, 'squish_bg.wasm');
  const hash = digest([...tools, ...OPTIMISE, ...b.opt], [wasm]);
  await unlessUnchanged(`wasm-bindgen + wasm-opt (${b.name})`, join(root, b.targetDir, `squish-${b.name}.stamp`), hash,
    [bg, join(out, 'squish.js')], async () => {
      await runAsync(b.name, 'wasm-bindgen', ['--target', 'web', '--out-dir', out, '--out-name', 'squish', wasm]);
      await runAsync(b.name, join(root, 'node_modules/.bin/wasm-opt'), [...OPTIMISE, ...b.opt, bg, '-o', bg]);
      console.log(`[build] ${b.name}: ${(statSync(bg).size / 1024).toFixed(0)} KiB`);
    });
}

// The two builds side by side: the crate's own (LTO, one codegen unit) compile
// is single-threaded, so on two cores this takes little more than one build.
const results = await Promise.allSettled(BUILDS.filter((b) => !onlyBuild || b.name === onlyBuild).map(buildWasm));
const failures = results.filter((r) => r.status === 'rejected');
if (failures.length) {
  for (const f of failures) console.error(`[build] ${f.reason.message}`);
  process.exit(1);
}
if (!wasmOnly && !bench) {
  const config = ['package-lock.json', 'package.json'].map((f) => join(root, f));
  // The page's sources and wasm builds, and the demo model it bundles from the fixtures.
  const hash = digest([], [...config, ...filesUnder(join(root, 'www')), ...filesUnder(join(root, 'tests/fixtures/digits_mlp'))]);
  await unlessUnchanged('page (vite build)', join(root, 'target/page.stamp'), hash, [join(root, 'dist/index.html')], () => {
    run(join(root, 'node_modules/.bin/vite'), ['build', '--config', 'www/vite.config.js', '--logLevel', 'warn']);
    if (!existsSync(join(root, 'dist/index.html'))) throw new Error('vite build produced no dist/index.html');
  });
}
console.log(`[build] done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
