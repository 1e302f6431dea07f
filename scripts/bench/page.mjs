// The browser half of the benchmark, driven by run.mjs through Playwright:
// both Squish builds and onnxruntime-web (wasm, 1 thread) in one page.
import * as ort from '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
// The benchmark's builds: the shipped ones plus the bench-only exports (GemmBench).
import * as simd from '/target/bench-pkg/simd/squish.js';
import * as relaxed from '/target/bench-pkg/relaxed/squish.js';
import { compareFigures, compressFigures, gemmFigures, makeInputs, timeAlternating } from './common.mjs';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
ort.env.logLevel = 'error';

const builds = { simd128: simd, relaxed };
const ready = Promise.all([simd.default(), relaxed.default()]);
const now = () => performance.now();

window.runModel = async ({ name, url, warmup, runs }) => {
  await ready;
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const inputs = makeInputs(simd.inspect(bytes));
  const runners = [];
  for (const [variant, mod] of Object.entries(builds)) {
    try {
      const t0 = now();
      const eng = new mod.ModelHandle(bytes);
      eng.run(inputs); // plans the session: part of loading
      runners.push({ engine: 'squish', variant, load_ms: now() - t0, run: async () => eng.run(inputs) });
    } catch (e) {
      runners.push({ engine: 'squish', variant, error: e.message });
    }
  }
  try {
    const t0 = now();
    const sess = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const load_ms = now() - t0;
    const feeds = Object.fromEntries(inputs.map((t) => [t.name, new ort.Tensor(t.dtype, t.data, t.dims)]));
    runners.push({ engine: 'onnxruntime-web', variant: 'wasm-simd', load_ms, run: () => sess.run(feeds) });
  } catch (e) {
    runners.push({ engine: 'onnxruntime-web', variant: 'wasm-simd', error: String(e.message ?? e) });
  }
  const out = await timeAlternating(runners, { warmup, runs, now });
  return out.map((r) => ({ model: name, runtime: 'chromium', ...r }));
};

window.runKernels = async () => {
  await ready;
  const out = [];
  for (const [variant, mod] of Object.entries(builds)) {
    for (const k of gemmFigures(mod, [256, 1024], now)) out.push({ ...k, runtime: 'chromium', variant });
  }
  return out;
};

// Compression in fresh module instances (memory sizes then reflect compression alone).
window.runCompress = async (url) => {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const out = [];
  for (const [variant, path] of [['simd128', '/target/bench-pkg/simd/squish.js'], ['relaxed', '/target/bench-pkg/relaxed/squish.js']]) {
    try {
      const mod = await import(`${path}?fresh=${Date.now()}`);
      await mod.default();
      out.push({ kind: 'compress', runtime: 'chromium', variant, ...compressFigures(mod, bytes, now) });
    } catch (e) {
      out.push({ kind: 'compress', runtime: 'chromium', variant, error: String(e.message ?? e) });
    }
  }
  for (const [variant, mod] of Object.entries(builds)) {
    try {
      out.push({ runtime: 'chromium', variant, ...compareFigures(mod, bytes, now) });
    } catch (e) {
      out.push({ kind: 'compare', runtime: 'chromium', variant, error: String(e.message ?? e) });
    }
  }
  return out;
};

document.getElementById('status').textContent = 'ready';
window.benchReady = true;
