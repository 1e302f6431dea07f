#!/usr/bin/env node
// Time per op type of one or more models in the Node wasm build (baseline
// SIMD128): `node scripts/bench/profile.mjs MODEL.onnx … [--runs N] [--nodes K]`;
// `--nodes K` also lists the K slowest nodes by name.
// Inputs are seeded random values (integers in the README's default ranges,
// `input_ids` in [1000, 30000) so that BERT-style models run).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { loadEngine } from '../../www/cli/engine.mjs';

const args = process.argv.slice(2);
const option = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const runs = option('--runs', 10);
const slowest = option('--nodes', 0);
const paths = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!paths.length) {
  console.error('usage: node scripts/bench/profile.mjs MODEL.onnx … [--runs N] [--nodes K]');
  process.exit(2);
}
const engine = await loadEngine();
for (const path of paths) {
  const session = new engine.ModelHandle(readFileSync(path));
  const inputs = session.inputNames();
  const ranges = Object.fromEntries(inputs.filter((name) => name === 'input_ids').map((name) => [name, [1000, 30000]]));
  const feeds = session.randomInputs(JSON.stringify({ count: 1, ranges }))[0];
  for (let i = 0; i < 10; i++) session.run(feeds); // warm-up
  const byOp = new Map();
  const byNode = new Map();
  for (let i = 0; i < runs; i++) {
    for (const t of session.profile(feeds)) {
      byOp.set(t.op_type, (byOp.get(t.op_type) ?? 0) + t.ms / runs);
      const key = `${t.node} (${t.op_type})`;
      byNode.set(key, (byNode.get(key) ?? 0) + t.ms / runs);
    }
  }
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) session.run(feeds);
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  console.log(`${basename(path)}: run ${((performance.now() - t0) / runs).toFixed(1)} ms (mean of ${runs}), per-node sum ${total.toFixed(1)} ms`);
  for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${op.padEnd(24)} ${ms.toFixed(2)} ms`);
  if (slowest > 0) {
    console.log(`  slowest ${slowest} nodes:`);
    for (const [node, ms] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, slowest)) console.log(`    ${ms.toFixed(3).padStart(8)} ms  ${node}`);
  }
  session.free();
}
