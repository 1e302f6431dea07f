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
    // Squish's own int8 dynamic variants, remade every run (they follow the code).
    const recipe = join(extra, 'int8_dynamic.json');
    writeFileSync(recipe, JSON.stringify({ scheme: 'int8_dynamic' }));
    for (const src of existsSync(shared) ? ['mlp_b32', 'bert_minilm', 'mobilenetv2'].map((m) => join(shared, `${m}.onnx`)).filter(existsSync) : []) {
      const dst = join(extra, src.split('/').pop().replace(/\.onnx$/, '_squish_int8dyn.onnx'));
      execFileSync(process.execPath, [join(root, 'www/cli/squish.mjs'), 'compress', src, '--recipe', recipe, '--out', dst], { stdio: 'ignore' });
      log(`[bench] made ${dst} with squish compress (int8_dynamic)`);
    }
    // Pruned variants (magnitude: no calibration needed), to time the sparse
    // kernels against the dense model and onnxruntime-web on the same file.
    const pruned = [['mlp_b32', 'prune90', { prune: { method: 'magnitude', sparsity: 0.9 } }],
      ['mlp_b32', 'prune2of4', { prune: { method: 'magnitude', pattern: '2:4' } }],
      ['bert_minilm', 'prune50', { prune: { method: 'magnitude', sparsity: 0.5 } }],
      ['mobilenetv2', 'channels30', { prune: { method: 'magnitude', pattern: 'channels', sparsity: 0.3 } }],
      // Unstructured on a CNN: its 1×1 convolutions take the sparse kernel.
      ['mobilenetv2', 'prune50', { prune: { method: 'magnitude', sparsity: 0.5 } }],
      ['mobilenetv2', 'prune70', { prune: { method: 'magnitude', sparsity: 0.7 } }],
      // Pruned then int8: timed against the dense int8 model (int8 weights run dense).
      ['mlp_b32', 'prune50int8', { prune: { method: 'magnitude', sparsity: 0.5 }, quantize: { scheme: 'int8_dynamic' } }]];
    for (const [model, tag, r] of pruned) {
      const src = join(shared, `${model}.onnx`);
      if (!existsSync(src)) continue;
      const file = join(extra, `${tag}.json`);
      writeFileSync(file, JSON.stringify(r));
      const dst = join(extra, `${model}_squish_${tag}.onnx`);
      execFileSync(process.execPath, [join(root, 'www/cli/squish.mjs'), 'compress', src, '--recipe', file, '--out', dst], { stdio: 'ignore' });
      log(`[bench] made ${dst} with squish compress (${JSON.stringify(r)})`);
    }
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
    const bert = models.findIndex((m) => m.name === 'bert_minilm');
    const compress = bert < 0 ? [] : await page.evaluate((url) => window.runCompress(url), `/models/${bert}`);
    return { results, kernels, compress };
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

/** Squish int8 vs Squish fp32 and vs onnxruntime-web's int8 model, per runtime. */
/** The median of one model on one runtime and engine (any variant when none is given), or undefined. */
function medianOf(results, model, runtime, engine, variant) {
  return results.find((r) => r.model === model && r.runtime === runtime && r.engine === engine && (!variant || r.variant === variant) && !r.error)?.median_ms;
}

function int8Summary(results) {
  const lines = [];
  const med = (...key) => medianOf(results, ...key);
  for (const base of ['mlp_b32', 'bert_minilm', 'mobilenetv2']) {
    for (const runtime of ['node', 'chromium']) {
      for (const variant of ['simd128', 'relaxed']) {
        const fp32 = med(base, runtime, 'squish', variant);
        const int8 = med(`${base}_squish_int8dyn`, runtime, 'squish', variant);
        const ortInt8 = med(`${base}_int8dyn`, runtime, 'onnxruntime-web');
        if (!fp32 || !int8) continue;
        const vsOrt = ortInt8 ? `; vs onnxruntime-web's quantize_dynamic model ${ortInt8.toFixed(1)} ms → ratio ${(int8 / ortInt8).toFixed(2)}` : '';
        lines.push(`  ${base.padEnd(12)} ${runtime.padEnd(9)} ${variant.padEnd(8)} fp32 ${fp32.toFixed(1)} ms, int8 ${int8.toFixed(1)} ms → ${(fp32 / int8).toFixed(2)}× faster${vsOrt}`);
      }
    }
  }
  return lines.join('\n') || '  (no int8 variants measured)';
}

/** Pruned variants against the dense model, Squish (sparse kernels) and onnxruntime-web (same file). */
function prunedSummary(results) {
  const lines = [];
  const med = (...key) => medianOf(results, ...key);
  for (const [base, tag] of [['mlp_b32', 'prune90'], ['mlp_b32', 'prune2of4'], ['bert_minilm', 'prune50'], ['mobilenetv2', 'channels30'],
    ['mobilenetv2', 'prune50'], ['mobilenetv2', 'prune70'], ['mlp_b32_squish_int8dyn', 'prune50int8']]) {
    for (const runtime of ['node', 'chromium']) {
      const ortDense = med(base, runtime, 'onnxruntime-web');
      const name = `${base.replace(/_squish_int8dyn$/, '')}_squish_${tag}`;
      const ortPruned = med(name, runtime, 'onnxruntime-web');
      for (const variant of ['simd128', 'relaxed']) {
        const dense = med(base, runtime, 'squish', variant);
        const pruned = med(name, runtime, 'squish', variant);
        if (!dense || !pruned) continue;
        const ort = ortDense && ortPruned ? `; onnxruntime-web dense ${ortDense.toFixed(1)} ms, pruned ${ortPruned.toFixed(1)} ms → ${(ortDense / ortPruned).toFixed(2)}×` : '';
        lines.push(`  ${`${base} ${tag}`.padEnd(22)} ${runtime.padEnd(9)} ${variant.padEnd(8)} dense ${dense.toFixed(1)} ms, pruned ${pruned.toFixed(1)} ms → ${(dense / pruned).toFixed(2)}× faster${ort}`);
      }
    }
  }
  return lines.join('\n') || '  (no pruned variants measured)';
}

const started = Date.now();
const models = modelList();
log(`[bench] ${models.length} models: ${models.map((m) => m.name).join(', ')}`);
const all = { results: [], kernels: [], compress: [] };
/** Conv FLOP per model path (null where shapes are not static), from onnx shape inference. */
function convFlop(models) {
  const python = join(root, '.cache/venv/bin/python');
  if (!existsSync(python)) return {};
  // Float models only: quantised convolutions run as other (integer) steps.
  const float = models.filter((m) => !/int8|qdq/.test(m.name));
  const out = execFileSync(python, [join(root, 'scripts/bench/conv_flops.py'), ...float.map((m) => m.path)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.toString());
}

if (only !== 'chromium') {
  const r = await benchNode(models, { warmup: 5, runs, log, convFlop: convFlop(models) });
  all.results.push(...r.results);
  all.kernels.push(...r.kernels);
  all.compress.push(...r.compress);
}
if (only !== 'node') {
  const r = await benchChromium(models, { warmup: 30, runs });
  all.results.push(...r.results);
  all.kernels.push(...r.kernels);
  all.compress.push(...r.compress);
}
mkdirSync(join(root, 'target/bench'), { recursive: true });
writeFileSync(join(root, 'target/bench/bench.json'), JSON.stringify([...all.results, ...all.kernels, ...all.compress], null, 2));
console.log(`\nmedian ms over ${runs} alternating runs (warm-up: Node 5, Chromium 30); ratio < 1: Squish faster\n`);
console.log(table(all.results));
console.log('\nmodel load ms (bytes → ready to run):');
for (const r of all.results.filter((r) => r.load_ms !== undefined)) {
  console.log(`  ${r.model.padEnd(20)} ${r.runtime.padEnd(9)} ${`${r.engine} ${r.variant}`.padEnd(26)} ${r.load_ms.toFixed(1)}`);
}
console.log('\nerrors:');
for (const r of all.results.filter((r) => r.error)) console.log(`  ${r.model} ${r.runtime} ${r.engine} ${r.variant ?? ''}: ${r.error.split('\n')[0].slice(0, 160)}`);
console.log('\nGEMM figures (squish = packing included; ceiling = prepacked f32 micro-kernel; packed_b = constant weights as MatMul runs them; int8 = MatMulInteger with u8 activations, GOP/s; conv_f32_MODEL = the fp32 models\' Conv nodes, conv3x3_f32_MODEL = their dense 3×3 ones, FLOP = 2 × multiply-adds of the direct convolution (Winograd layers included) over the median per-run time of those Conv and fused ConvActivation steps in a profiled run, with the share of squish_gemm_f32_1024 in the same runtime):');
const gemmOf = (runtime) => all.kernels.find((g) => g.runtime === runtime && g.kernel === 'squish_gemm_f32_1024')?.gflops;
const ofGemm = (k) => (k.kernel.startsWith('conv') && gemmOf(k.runtime) ? `  (${((100 * k.gflops) / gemmOf(k.runtime)).toFixed(0)}% of squish_gemm_f32_1024)` : '');
for (const k of all.kernels) console.log(`  ${k.runtime.padEnd(9)} ${(k.variant ?? '').padEnd(8)} ${k.kernel.padEnd(32)} ${k.gflops.toFixed(1)}${ofGemm(k)}${k.speedup_vs_f32 ? `  (${k.speedup_vs_f32.toFixed(2)}× the f32 packed_b)` : ''}${k.speedup_vs_dense ? `  (${k.speedup_vs_dense.toFixed(2)}× the dense packed_b on the same weights)` : ''}`);
console.log('\nint8 dynamic (Squish-made *_squish_int8dyn vs the fp32 model, same run):');
console.log(int8Summary(all.results));
console.log('\npruned (Squish-made *_squish_prune*/*_channels*, magnitude) vs the dense model, same run (prune50int8: vs the dense int8 model); unstructured and 2:4: Squish runs the sparse kernels (int8 weights run dense), onnxruntime-web multiplies the zeros; channels: a smaller model for both:');
console.log(prunedSummary(all.results));
console.log('\ncompressing bert_minilm to int8_dynamic (bytes → compressed bytes, in the wasm build):');
for (const c of all.compress.filter((c) => c.kind === 'compress')) console.log(`  ${c.runtime.padEnd(9)} ${(c.variant ?? '').padEnd(8)} ${c.error ? `error: ${c.error}` : `${c.ms.toFixed(0)} ms, wasm memory ${(c.memory_bytes / 2 ** 20).toFixed(0)} MiB = ${(c.memory_bytes / c.model_bytes).toFixed(2)}× the ${(c.model_bytes / 2 ** 20).toFixed(1)} MiB model`}`);
console.log('\ncomparing bert_minilm fp32 vs its int8_dynamic on 32 random inputs of length 128, per-layer diagnosis and latency (10 runs each) included:');
for (const c of all.compress.filter((c) => c.kind === 'compare')) {
  const stages = c.stages ? Object.entries(c.stages).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ') : '';
  console.log(`  ${c.runtime.padEnd(9)} ${(c.variant ?? '').padEnd(8)} ${c.error ? `error: ${c.error}` : `${(c.ms / 1000).toFixed(1)} s (${stages}); ${c.tensors} tensors diagnosed, output cosine min ${c.cosine_min.toFixed(5)}, worst entry ${c.worst_entry}`}`);
}
console.log(`\nwrote target/bench/bench.json in ${((Date.now() - started) / 1000).toFixed(0)} s`);
