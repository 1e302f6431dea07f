#!/usr/bin/env node
// The training issue's digits figures, in Node and in headless Chromium,
// both on the baseline SIMD128 build (www/pkg/simd):
//  - a student MLP (64-20-10: 1,510 parameters, under a quarter of the
//    teacher's 6,570) distilled on the training split (teacher outputs plus
//    labels): test accuracy, agreement with the teacher, time;
//  - a student CNN (8×8 image: conv 6 → pool → conv 12 → pool → linear,
//    1,210 parameters), with mixup and with one-pixel shifts;
//  - gradual pruning to 90% (Zhu & Gupta) while distilling from the
//    unpruned model, five seeds; 90% magnitude pruning one-shot, and then
//    fine-tuned with its mask kept;
//  - the student's file hashed in both: bit-identical weights.
//   node scripts/bench/distill-digits.mjs [--runs N]
// Needs `npm run build` (www/pkg).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../tests/e2e/helpers.mjs';
import { loadEngine } from '../../www/cli/engine.mjs';
import { distilDigits } from './distill-core.js';
import { median, opt, openPage } from './minilm-server.mjs';

const runs = Number(opt('--runs', 1));
const fixture = (f) => join(repoRoot, 'tests/fixtures/digits_mlp', f);
const STUDENT = '{"student":"mlp:20","epochs":300,"learning_rate":0.01,"mixup":0.4}';
const GRADUAL = (seed) => `{"epochs":200,"learning_rate":0.01,"gradual":{"sparsity":0.9,"end":0.5},"seed":${seed}}`;
const RUNS = [
  { name: 'student mlp:20 (labels + teacher)', section: STUDENT },
  { name: 'student cnn:6,12 (labels + teacher, mixup)', section: '{"student":"cnn:6,12","epochs":100,"learning_rate":0.01,"mixup":0.4}' },
  { name: 'student cnn:6,12 (labels + teacher, 1-pixel shifts)', section: '{"student":"cnn:6,12","epochs":100,"learning_rate":0.01,"shift":1}' },
  ...[0, 1, 2, 3, 4].map((seed) => ({ name: `gradual 90% (seed ${seed})`, gradual: true, section: GRADUAL(seed) })),
  { name: 'one-shot 90% magnitude, then fine-tuned', finetune: '{"prune":{"method":"magnitude","sparsity":0.9,"include_classifier":true}}', section: '{"epochs":100,"learning_rate":0.01}' },
];
const files = { model: 'model.onnx', xTrain: 'X_train.npy', yTrain: 'y_train.npy', xTest: 'X_test.npy', yTest: 'y_test.npy' };

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { distilDigits } from '/distill-core.js';
window.distil = async (runs) => {
  const mod = await import('/pkg/simd/squish.js');
  await mod.default();
  const names = ${JSON.stringify(files)};
  const files = {};
  for (const [k, f] of Object.entries(names)) files[k] = new Uint8Array(await (await fetch('/' + f)).arrayBuffer());
  return distilDigits(mod, files, runs);
};
window.ready = true;
</script>`;

function summarise(where, results) {
  const t = results[0].teacher;
  console.log(`${where}: teacher test accuracy ${t.accuracy.toFixed(4)}`);
  for (let i = 0; i < RUNS.length; i++) {
    const rs = results.map((r) => r.runs[i]);
    const r = rs[0];
    const before = r.before ? `; before fine-tuning: accuracy ${r.before.accuracy.toFixed(4)}, agreement ${r.before.agreement.toFixed(4)}` : '';
    const zeros = r.zeros > 0 ? ` (${(100 * r.zeros).toFixed(1)}% of weights zero)` : '';
    console.log(`  ${r.name}: ${r.parameters} parameters${zeros}, test accuracy ${r.accuracy.toFixed(4)}, agreement ${r.agreement.toFixed(4)}${before}; `
      + `time median ${(median(rs.map((x) => x.ms)) / 1000).toFixed(2)} s (runs ${rs.map((x) => (x.ms / 1000).toFixed(2)).join(', ')} s)`);
  }
}

const nodeResults = [];
const mod = await loadEngine();
const bytes = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, new Uint8Array(readFileSync(fixture(f)))]));
for (let i = 0; i < runs; i++) nodeResults.push(await distilDigits(mod, bytes, RUNS));
summarise(`Node ${process.version} (simd)`, nodeResults);

const served = Object.fromEntries(Object.values(files).map((f) => [`/${f}`, fixture(f)]));
served['/distill-core.js'] = join(repoRoot, 'scripts/bench/distill-core.js');
const { page, browser, close } = await openPage(PAGE, served);
try {
  const chromium = [];
  for (let i = 0; i < runs; i++) chromium.push(await page.evaluate((r) => window.distil(r), RUNS));
  summarise(`Chromium ${browser.version()} (simd)`, chromium);
  for (let i = 0; i < RUNS.length; i++) {
    const hashes = new Set([...nodeResults, ...chromium].map((r) => r.runs[i].sha256));
    console.log(`  ${RUNS[i].name}: ${hashes.size === 1 ? 'bit-identical' : 'DIFFERENT'} files in Node and Chromium (sha256 ${[...hashes].map((h) => h.slice(0, 12)).join(', ')})`);
  }
} finally {
  await close();
}
