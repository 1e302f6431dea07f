// The Node half of the benchmark: Squish's baseline SIMD128 build (Node 20
// cannot run the relaxed build correctly) against onnxruntime-web's wasm
// backend, single thread.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { loadEngine } from '../../www/cli/engine.mjs';
import { compareFigures, compressFigures, gemmFigures, makeInputs, stats, timeAlternating } from './common.mjs';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

export function toOrtFeeds(inputs) {
  return Object.fromEntries(inputs.map((t) => [t.name, new ort.Tensor(t.dtype, t.data, t.dims)]));
}

// The benchmark's own build: the shipped one plus the bench-only exports (GemmBench).
const benchBuild = new URL('../../target/bench-pkg/simd/', import.meta.url);

/**
 * GFLOP/s of a model's convolutions: all of them, and its dense 3×3 ones
 * (group 1: the layers the Winograd path serves), each over the median of
 * `runs` profiled runs of those Conv steps' time.
 */
function convFigures(eng, inputs, conv, runs, name) {
  const isConv = (t) => t.op_type === 'Conv' || t.op_type === 'ConvActivation';
  const dense3x3 = new Set(Object.entries(conv.nodes ?? {}).filter(([, n]) => n.kernel === '3x3' && n.group === 1).map(([k]) => k));
  const flop3x3 = [...dense3x3].reduce((s, k) => s + conv.nodes[k].flop, 0);
  const all = [];
  const three = [];
  for (let i = 0; i < runs; i++) {
    const steps = eng.profile(inputs).filter(isConv);
    all.push(steps.reduce((sum, t) => sum + t.ms, 0));
    three.push(steps.filter((t) => dense3x3.has(t.node)).reduce((sum, t) => sum + t.ms, 0));
  }
  const median = (a) => stats(a).median_ms;
  const rows = [{ kernel: `conv_f32_${name}`, gflops: conv.flop / median(all) / 1e6 }];
  if (flop3x3 > 0 && median(three) > 0) rows.push({ kernel: `conv3x3_f32_${name}`, gflops: flop3x3 / median(three) / 1e6 });
  return rows;
}

export async function benchNode(models, { warmup, runs, log, convFlop = {} }) {
  const squish = await loadEngine({ dir: benchBuild });
  const now = () => performance.now();
  const results = [];
  const convRows = [];
  for (const m of models) {
    const bytes = readFileSync(m.path);
    let inputs;
    try {
      inputs = makeInputs(squish.inspect(bytes));
    } catch (e) {
      results.push({ model: m.name, runtime: 'node', error: `cannot read model: ${e.message}` });
      continue;
    }
    const runners = [];
    try {
      const t0 = performance.now();
      const eng = new squish.ModelHandle(bytes);
      eng.run(inputs); // plans the session: part of loading
      runners.push({ engine: 'squish', variant: 'simd128', load_ms: performance.now() - t0, run: async () => eng.run(inputs) });
      if (convFlop[m.path]) convRows.push(...convFigures(eng, inputs, convFlop[m.path], runs, m.name));
    } catch (e) {
      runners.push({ engine: 'squish', variant: 'simd128', error: e.message });
    }
    runners.push({ engine: 'squish', variant: 'relaxed', error: 'not run in Node: Node 20 lacks correct relaxed SIMD (see README)' });
    try {
      const t0 = performance.now();
      const sess = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
      const load_ms = performance.now() - t0;
      const feeds = toOrtFeeds(inputs);
      runners.push({ engine: 'onnxruntime-web', variant: 'wasm-simd', load_ms, run: () => sess.run(feeds) });
    } catch (e) {
      runners.push({ engine: 'onnxruntime-web', variant: 'wasm-simd', error: e.message });
    }
    for (const r of await timeAlternating(runners, { warmup, runs, now })) {
      results.push({ model: m.name, runtime: 'node', ...r });
    }
    log(`[bench] node ${m.name} done`);
  }
  const kernels = [...gemmFigures(squish, [256, 1024], now), ...convRows].map((k) => ({ ...k, runtime: 'node', variant: 'simd128' }));
  const compress = [];
  const bert = models.find((m) => m.name === 'bert_minilm');
  if (bert) {
    // A fresh instance, so that its memory size reflects compression alone.
    const fresh = await loadEngine({ fresh: true, dir: benchBuild });
    try {
      compress.push({ kind: 'compress', runtime: 'node', variant: 'simd128', ...compressFigures(fresh, readFileSync(bert.path), now) });
    } catch (e) {
      compress.push({ kind: 'compress', runtime: 'node', variant: 'simd128', error: e.message });
    }
    try {
      compress.push({ runtime: 'node', variant: 'simd128', ...compareFigures(squish, readFileSync(bert.path), now) });
    } catch (e) {
      compress.push({ kind: 'compare', runtime: 'node', variant: 'simd128', error: e.message });
    }
  }
  return { results, kernels, compress };
}
