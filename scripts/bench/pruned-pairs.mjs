#!/usr/bin/env node
// Pruned models against their dense original, in one alternating loop per
// pair (dense, pruned, dense, …) in the Node wasm build (baseline SIMD128),
// so that the machine's drift between separate timings does not enter the
// ratio. Uses the variants `npm run bench` made in .cache/bench-models/.
//   node scripts/bench/pruned-pairs.mjs [--runs N] [--warmup N] [--only SUBSTRING]
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine } from '../../www/cli/engine.mjs';
import { makeInputs, timeAlternating } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const option = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const shared = process.env.SQUISH_BENCH_MODELS ?? join(root, '../shared/bench-models');
const made = join(root, '.cache/bench-models');
const PAIRS = [['mlp_b32', 'mlp_b32_squish_prune90'], ['mlp_b32', 'mlp_b32_squish_prune2of4'], ['bert_minilm', 'bert_minilm_squish_prune50'],
  ['mobilenetv2', 'mobilenetv2_squish_prune50'], ['mobilenetv2', 'mobilenetv2_squish_prune70'], ['mobilenetv2', 'mobilenetv2_squish_channels30'],
  ['mlp_b32_squish_int8dyn', 'mlp_b32_squish_prune50int8']];

const find = (name) => [join(shared, `${name}.onnx`), join(made, `${name}.onnx`)].find(existsSync);
const squish = await loadEngine();
console.log(`dense vs pruned, Squish simd128 in Node, alternating, warm-up ${option('--warmup', 30)}, ${option('--runs', 40)} runs each (medians):`);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
for (const [dense, pruned] of PAIRS.filter(([, p]) => !only || p.includes(only))) {
  const [a, b] = [find(dense), find(pruned)];
  if (!a || !b) {
    console.log(`  ${pruned}: skipped (${!a ? dense : pruned} not found; run npm run bench first)`);
    continue;
  }
  const handles = [a, b].map((p) => new squish.ModelHandle(readFileSync(p)));
  const inputs = makeInputs(squish.inspect(readFileSync(a)));
  const runners = handles.map((h, i) => ({ engine: i ? 'pruned' : 'dense', run: async () => h.run(inputs) }));
  const [d, p] = await timeAlternating(runners, { warmup: option('--warmup', 30), runs: option('--runs', 40), now: () => performance.now() });
  handles.forEach((h) => h.free());
  console.log(`  ${pruned.padEnd(30)} dense ${d.median_ms.toFixed(2)} ms, pruned ${p.median_ms.toFixed(2)} ms → ${(d.median_ms / p.median_ms).toFixed(2)}× faster`);
}
