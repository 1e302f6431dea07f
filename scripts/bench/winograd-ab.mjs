#!/usr/bin/env node
// Same-run A/B of the Winograd tile sizes on a model, in the benchmark's
// Node build (target/bench-pkg/simd, `node scripts/build.mjs --bench --only
// simd`): F(2×2) forced, F(4×4) forced, and by plane (the default), run in
// turn; medians of whole runs, of the Conv steps, and per Conv node where the
// two forced sizes differ by more than 0.3 ms.
//   node scripts/bench/winograd-ab.mjs MODEL.onnx [ROUNDS]
// (resnet50_random: `.cache/venv/bin/python scripts/bench/prepare_models.py .cache/bench-models`)
import { readFileSync } from 'node:fs';
import { loadEngine } from '../../www/cli/engine.mjs';
const path = process.argv[2];
if (!path) {
  console.error('usage: node scripts/bench/winograd-ab.mjs MODEL.onnx [ROUNDS]');
  process.exit(2);
}
const rounds = Number(process.argv[3] ?? 7);
const eng = await loadEngine({ dir: new URL('../../target/bench-pkg/simd/', import.meta.url) });
const bytes = readFileSync(path);
const handles = {};
const probe = new eng.ModelHandle(bytes);
const feeds = probe.randomInputs(JSON.stringify({ count: 1 }))[0];
// Ops are built when a handle first runs: plan each under its preference.
for (const t of [2, 4, 0]) { eng.forceWinogradTile(t); handles[t] = new eng.ModelHandle(bytes); handles[t].run(feeds); }
eng.forceWinogradTile(0);
for (const t of [2, 4, 0]) for (let i = 0; i < 5; i++) handles[t].run(feeds);
const times = { 2: [], 4: [], 0: [], conv2: [], conv4: [], conv0: [] };
for (let r = 0; r < rounds; r++) for (const t of [2, 4, 0]) {
  const t0 = performance.now(); handles[t].run(feeds); times[t].push(performance.now() - t0);
  const conv = handles[t].profile(feeds).filter((x) => x.op_type.startsWith('Conv')).reduce((a, x) => a + x.ms, 0);
  times[`conv${t}`].push(conv);
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`${path}: run F2 ${med(times[2]).toFixed(1)} ms, F4 ${med(times[4]).toFixed(1)} ms, by plane ${med(times[0]).toFixed(1)} ms; Conv F2 ${med(times.conv2).toFixed(1)}, F4 ${med(times.conv4).toFixed(1)}, by plane ${med(times.conv0).toFixed(1)} ms`);
// Per node: median over rounds, both tiles; nodes whose time differs by > 0.3 ms.
const per = { 2: new Map(), 4: new Map(), 0: new Map() };
for (let r = 0; r < 5; r++) for (const t of [2, 4, 0]) for (const x of handles[t].profile(feeds)) {
  if (!x.op_type.startsWith('Conv')) continue;
  (per[t].get(x.node) ?? per[t].set(x.node, []).get(x.node)).push(x.ms);
}
let sum2 = 0, sum4 = 0;
for (const [node, a] of per[2]) {
  const b = per[4].get(node); const [ma, mb, mc] = [med(a), med(b), med(per[0].get(node))];
  if (Math.abs(ma - mb) > 0.3) { console.log(`  ${node.padEnd(40)} F2 ${ma.toFixed(2)}  F4 ${mb.toFixed(2)}  by plane ${mc.toFixed(2)}`); sum2 += ma; sum4 += mb; }
}
console.log(`  differing nodes: F2 ${sum2.toFixed(1)} ms, F4 ${sum4.toFixed(1)} ms`);
