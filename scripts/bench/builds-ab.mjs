#!/usr/bin/env node
// Same-run A/B of Squish builds in Node against onnxruntime-web (wasm, SIMD,
// 1 thread): every engine runs each model in turn, alternating run by run,
// and the medians print with their ratio to onnxruntime-web.
//   node scripts/bench/builds-ab.mjs MODEL.onnx … [--builds DIR,DIR] [--runs N]
// A build is a wasm-bindgen `--target web` folder (squish.js, squish_bg.wasm),
// e.g. www/pkg/simd of another checkout (default: this checkout's).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { loadEngine } from '../../www/cli/engine.mjs';
import { makeInputs } from './common.mjs';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const builds = opt('--builds', '').split(',').filter(Boolean).map((d) => resolve(d));
const runs = Number(opt('--runs', 12));
const warmup = 3;
const models = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!models.length) {
  console.error('usage: node scripts/bench/builds-ab.mjs MODEL.onnx … [--builds DIR,DIR] [--runs N]');
  process.exit(2);
}
const engines = builds.length
  ? await Promise.all(builds.map((d) => loadEngine({ fresh: true, dir: pathToFileURL(d + '/') })))
  : [await loadEngine()];
const names = builds.length ? builds : ['www/pkg/simd'];
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const path of models) {
  const bytes = readFileSync(path);
  const inputs = makeInputs(engines[0].inspect(bytes));
  const runners = engines.map((e, i) => {
    const handle = new e.ModelHandle(bytes);
    return { name: names[i], run: async () => handle.run(inputs) };
  });
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const feeds = Object.fromEntries(inputs.map((t) => [t.name, new ort.Tensor(t.dtype, t.data, t.dims)]));
  runners.push({ name: 'onnxruntime-web', run: () => session.run(feeds) });
  const times = runners.map(() => []);
  for (let i = 0; i < warmup + runs; i++) {
    for (const [j, r] of runners.entries()) {
      const t0 = performance.now();
      await r.run();
      if (i >= warmup) times[j].push(performance.now() - t0);
    }
  }
  const ortMs = median(times.at(-1));
  console.log(path.split('/').pop());
  for (const [j, r] of runners.entries()) console.log(`  ${median(times[j]).toFixed(1).padStart(8)} ms  ${(median(times[j]) / ortMs).toFixed(2)}×  ${r.name}`);
}
