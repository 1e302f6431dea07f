#!/usr/bin/env node
// `npm run bench`: Squish against onnxruntime-web (wasm, SIMD, 1 thread) on
// the same models and inputs, in Node and in headless Chromium, alternating
// engines run by run. Prints a table of medians with ratios (Squish / ORT:
// below 1 means Squish is faster) and writes target/bench/bench.json.
//   node scripts/bench/run.mjs [--models DIR] [--runs N] [--only node|chromium]
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../../tests/e2e/helpers.mjs';
import { benchNode } from './node.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : dflt);
const runs = Number(opt('runs', 10));
const only = opt('only', null);
const log = (msg) => console.error(msg);

function modelList() {
  const dirs = [];
  const explicit = opt('models', null);
  if (explicit) dirs.push(resolve(explicit));
  else {
    const shared = process.env.SQUISH_BENCH_MODELS || resolve(root, '../shared/bench-models');
    const extra = join(root, '.cache/bench-models');
    const python = join(root, '.cache/venv/bin/python');
    const quantize = existsSync(shared) ? ['mlp_b32', 'bert_minilm'].map((m) => join(shared, `${m}.onnx`)).filter(existsSync) : [];
    execFileSync(python, [join(root, 'scripts/bench/prepare_models.py'), extra, ...quantize], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (existsSync(shared)) dirs.push(shared);
    else log(`[bench] ${shared} not found: benchmarking only the prepared models`);
    dirs.push(extra);
  }
  return dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.onnx')).sort()
    .map((f) => ({ name: f.replace(/\.onnx$/, ''), path: join(d, f), dir: d, file: f })));
}

const TYPES = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** Serves the repository and /models/<n>/<file> on a loopback port. */
function serve(models) {
  const server = createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let path;
    const m = url.match(/^\/models\/(\d+)$/);
    if (m) path = models[Number(m[1])]?.path;
    else path = join(root, url);
    if (!path || !path.startsWith(root) && !m || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

async function benchChromium(models, { warmup, runs }) {
  const server = await serve(models);
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await launchBrowser();
  const page = await browser.newPage();
  page.on('pageerror', (e) => log(`[bench] page error: ${e.message}`));
  try {
    await page.goto(`${base}/scripts/bench/page.html`);
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60_000 });
    const results = [];
    for (const [i, m] of models.entries()) {
      const r = await page.evaluate((cfg) => window.runModel(cfg), { name: m.name, url: `/models/${i}`, warmup, runs });
      results.push(...r);
      log(`[bench] chromium ${m.name} done`);
    }
    const kernels = await page.evaluate(() => window.runKernels());
    return { results, kernels };
  } finally {
    await browser.close();
    server.close();
  }
}

function table(results) {
  const rows = [];
  const key = (r) => `${r.model}|${r.runtime}`;
  const groups = new Map();
  for (const r of results) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  const fmt = (r) => (!r ? '—' : r.error ? 'error' : r.median_ms.toFixed(1));
  rows.push(['model', 'runtime', 'squish simd128', 'squish relaxed', 'onnxruntime-web', 'ratio (best squish / ort)']);
  for (const [, rs] of groups) {
    const get = (e, v) => rs.find((r) => r.engine === e && r.variant === v);
    const s1 = get('squish', 'simd128');
    const s2 = get('squish', 'relaxed');
    const o = get('onnxruntime-web', 'wasm-simd');
    const best = [s1, s2].filter((r) => r && !r.error).map((r) => r.median_ms);
    const ratio = best.length && o && !o.error ? (Math.min(...best) / o.median_ms).toFixed(2) : '—';
    rows.push([rs[0].model, rs[0].runtime, fmt(s1), fmt(s2), fmt(o), ratio]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((v, c) => String(v).padEnd(widths[c])).join('  ')).join('\n');
}

const started = Date.now();
const models = modelList();
log(`[bench] ${models.length} models: ${models.map((m) => m.name).join(', ')}`);
const all = { results: [], kernels: [] };
if (only !== 'chromium') {
  const r = await benchNode(models, { warmup: 5, runs, log });
  all.results.push(...r.results);
  all.kernels.push(...r.kernels);
}
if (only !== 'node') {
  const r = await benchChromium(models, { warmup: 30, runs });
  all.results.push(...r.results);
  all.kernels.push(...r.kernels);
}
mkdirSync(join(root, 'target/bench'), { recursive: true });
writeFileSync(join(root, 'target/bench/bench.json'), JSON.stringify([...all.results, ...all.kernels], null, 2));
console.log(`\nmedian ms over ${runs} alternating runs (warm-up: Node 5, Chromium 30); ratio < 1: Squish faster\n`);
console.log(table(all.results));
console.log('\nmodel load ms (bytes → ready to run):');
for (const r of all.results.filter((r) => r.load_ms !== undefined)) {
  console.log(`  ${r.model.padEnd(20)} ${r.runtime.padEnd(9)} ${`${r.engine} ${r.variant}`.padEnd(26)} ${r.load_ms.toFixed(1)}`);
}
console.log('\nerrors:');
for (const r of all.results.filter((r) => r.error)) console.log(`  ${r.model} ${r.runtime} ${r.engine} ${r.variant ?? ''}: ${r.error.split('\n')[0].slice(0, 160)}`);
console.log('\nf32 GEMM GFLOP/s (squish = packing included; ceiling = prepacked micro-kernel):');
for (const k of all.kernels) console.log(`  ${k.runtime.padEnd(9)} ${(k.variant ?? '').padEnd(8)} ${k.kernel.padEnd(22)} ${k.gflops.toFixed(1)}`);
console.log('  int8 GEMM: not measured yet (the int8 kernels arrive with the quantisation issue)');
console.log(`\nwrote target/bench/bench.json in ${((Date.now() - started) / 1000).toFixed(0)} s`);
