// `squish compare` end to end: the digits classifier against a destructive
// int4 variant, reports written, exclusion list applied, bad inputs named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'www/cli/squish.mjs');
const fx = (p) => join(root, 'tests/fixtures', p);
const digits = fx('digits_mlp/model.onnx');

function squish(...args) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function compressed(dir, recipe, name) {
  const r = join(dir, `${name}.json`);
  writeFileSync(r, JSON.stringify(recipe));
  const out = join(dir, `${name}.onnx`);
  const c = squish('compress', digits, '--recipe', r, '--out', out);
  assert.equal(c.code, 0, c.err);
  return { recipe: r, model: out };
}

test('compare writes JSON and Markdown reports and a repaired recipe that raises agreement', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-compare-'));
  const bad = compressed(dir, { scheme: 'int4_weight', per_channel: false }, 'int4');
  const args = ['--inputs', fx('digits_mlp/X_test.npy'), '--labels', fx('digits_mlp/y_test.npy'), '--runs', '3'];
  const r = squish('compare', digits, bad.model, ...args, '--report', join(dir, 'r.json'), '--markdown', join(dir, 'r.md'),
    '--recipe', bad.recipe, '--suggest-recipe', join(dir, 'fixed.json'));
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.equal(report.schema, 1);
  const c = report.outputs[0].classification;
  assert.equal(report.outputs[0].examples, 450);
  assert.ok(Math.abs(c.accuracy_original - 0.9778) < 1e-3);
  assert.ok(c.top1_agreement < 0.99);
  assert.equal(report.layers.entry_points[0].node, 'MatMul');
  assert.ok(report.sizes.compressed.raw < report.sizes.original.raw && report.sizes.compressed.gzip > 0);
  assert.ok(report.latency.original_median_ms > 0);
  assert.deepEqual(report.sensitivity.exclusion, ['MatMul2']);
  assert.match(readFileSync(join(dir, 'r.md'), 'utf8'), /## Where the error enters[\s\S]*## Sensitivity/);
  // The suggestion goes into the step that compressed the layer (canonical form).
  const fixed = JSON.parse(readFileSync(join(dir, 'fixed.json'), 'utf8'));
  assert.deepEqual(fixed.steps[0].quantize.exclude.nodes, ['MatMul2']);
  // Recompress with the suggestion, compare again: agreement rises.
  const c2 = squish('compress', digits, '--recipe', join(dir, 'fixed.json'), '--out', join(dir, 'fixed.onnx'));
  assert.equal(c2.code, 0, c2.err);
  const r2 = squish('compare', digits, join(dir, 'fixed.onnx'), ...args, '--report', join(dir, 'r2.json'));
  assert.equal(r2.code, 0, r2.err);
  const after = JSON.parse(readFileSync(join(dir, 'r2.json'), 'utf8')).outputs[0].classification;
  assert.ok(after.top1_agreement > c.top1_agreement, `${c.top1_agreement} → ${after.top1_agreement}`);
});

test('compare --per-class --handback: the tables in JSON and Markdown; bad flags named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-compare-'));
  const bad = compressed(dir, { scheme: 'int4_weight', per_channel: false }, 'int4');
  const args = ['--inputs', fx('digits_mlp/X_test.npy'), '--runs', '0'];
  const r = squish('compare', digits, bad.model, ...args, '--labels', fx('digits_mlp/y_test.npy'), '--per-class', '--handback', '--handback-target', '0.99',
    '--report', join(dir, 'r.json'));
  assert.equal(r.code, 0, r.err);
  const c = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).outputs[0].classification;
  assert.equal(c.per_class.rows.length, 10);
  assert.equal(c.per_class.rows.reduce((n, row) => n + row.examples, 0), 450);
  assert.equal(c.per_class.flip_pairs.reduce((n, f) => n + f.count, 0), c.flipped_count);
  assert.equal(c.handback.target, 0.99);
  assert.ok(c.handback.chosen.agreement >= 0.99 && c.handback.chosen.coverage > 0.9);
  assert.match(r.out, /### Per class \(by labels;[\s\S]*### Hand back to the original/);
  // Without labels the original's answers are the truth; without the flags nothing is added.
  const u = squish('compare', digits, bad.model, ...args, '--per-class', '--report', join(dir, 'u.json'));
  assert.equal(u.code, 0, u.err);
  const cu = JSON.parse(readFileSync(join(dir, 'u.json'), 'utf8')).outputs[0].classification;
  assert.equal(cu.per_class.truth, 'original');
  assert.equal(cu.handback, null);
  assert.equal(squish('compare', digits, bad.model, ...args, '--handback-target', '0.9').code, 2);
  const opts = join(dir, 'o.json');
  writeFileSync(opts, JSON.stringify({ handback: true, handback_target: 1.5 }));
  const o = squish('compare', digits, bad.model, ...args, '--options', opts);
  assert.equal(o.code, 1);
  assert.match(o.err, /handback_target is an agreement from 0 to 1, got 1.5/);
  // Probes: saved inputs, bad kinds, a probe the input cannot take.
  const p = squish('compare', digits, bad.model, ...args, '--probes', 'noise,occlusion', '--severities', '2', '--save-probes', join(dir, 'probes'), '--report', join(dir, 'p.json'));
  assert.equal(p.code, 0, p.err);
  const rows = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')).probes.rows.map((r) => `${r.probe}:${r.severity}`);
  assert.deepEqual(rows, ['noise:2', 'occlusion:2']);
  assert.ok(existsSync(join(dir, 'probes/noise_2/input_0.pb')) && existsSync(join(dir, 'probes/occlusion_2/input_0.pb')));
  assert.match(p.out, /## Edge-case probes \(output `probabilities`, seed 0\)/);
  assert.equal(squish('compare', digits, bad.model, ...args, '--severities', '1').code, 2);
  // Slices: a feature, or the user's names (one per example).
  const names = join(dir, 'names.txt');
  writeFileSync(names, Array.from({ length: 450 }, (_, i) => (i < 100 ? 'first hundred' : 'rest')).join('\n'));
  const sl = squish('compare', digits, bad.model, ...args, '--slices', names, '--report', join(dir, 's.json'));
  assert.equal(sl.code, 0, sl.err);
  const sliced = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8')).slices;
  assert.equal(sliced.by, 'names');
  assert.deepEqual(sliced.rows.map((r) => r.examples).sort((a, b) => a - b), [100, 350]);
  assert.match(sl.out, /## Slices \(output `probabilities`, by names; worst first\)/);
  writeFileSync(names, 'a\nb\n');
  const short = squish('compare', digits, bad.model, ...args, '--slices', names);
  assert.equal(short.code, 1);
  assert.match(short.err, /slices: 2 slice names or input rows for 450 examples/);
  const lengths = squish('compare', digits, bad.model, ...args, '--slices', 'length');
  assert.equal(lengths.code, 1);
  assert.match(lengths.err, /slices by length: the model has no token-id input/);
  const rain = squish('compare', digits, bad.model, ...args, '--probes', 'rain');
  assert.equal(rain.code, 1);
  assert.match(rain.err, /unknown probe 'rain'/);
});

test('text probes change the texts before tokenising: saved texts, rows, a skipped probe, errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-text-probes-'));
  const model = fx('synthetic/text_classifier/model.onnx');
  const recipe = join(dir, 'r.json');
  writeFileSync(recipe, JSON.stringify({ scheme: 'fp16' }));
  const half = join(dir, 'fp16.onnx');
  assert.equal(squish('compress', model, '--recipe', recipe, '--out', half).code, 0);
  const lines = ['The quick brown fox jumps over the lazy dog.', 'Hello, world! This is a test of the tokenizer.', 'We run the model on the job it is meant to do.'];
  const text = join(dir, 'texts.txt');
  writeFileSync(text, lines.join('\n') + '\n');
  const tok = fx('text/tokenizer.json');
  const args = ['--text', text, '--tokenizer', tok, '--runs', '0', '--probes', 'text', '--severities', '2,4', '--probe-seed', '3'];
  const r = squish('compare', model, half, ...args, '--save-probes', join(dir, 'probes'), '--report', join(dir, 'r.json'));
  assert.equal(r.code, 0, r.err);
  const p = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).probes;
  assert.deepEqual(p.inputs, ['text']);
  assert.deepEqual(p.rows.map((row) => `${row.probe}:${row.severity}`),
    ['typo:2', 'typo:4', 'drop:2', 'drop:4', 'repeat:2', 'repeat:4', 'whitespace:2', 'whitespace:4', 'truncate:2', 'truncate:4']);
  assert.ok(p.rows.every((row) => row.changed > 0 && row.changed <= 1), JSON.stringify(p.rows));
  // The fixture's tokenizer lowercases: casing changes no input, and the report says so.
  assert.deepEqual(p.skipped.map((s) => s.probe), ['case']);
  assert.match(r.out, /Skipped `case`: the tokenizer gives the same tokens for every text at every severity \(it lowercases\)/);
  // Saved: the changed texts, one per line, for every probe asked for (the skipped one too).
  const truncated = readFileSync(join(dir, 'probes/truncate_4.txt'), 'utf8').trimEnd().split('\n');
  assert.deepEqual(truncated, ['The quick brown fox', 'Hello, world! This is', 'We run the model on']);
  assert.equal(readFileSync(join(dir, 'probes/case_2.txt'), 'utf8').trimEnd().split('\n').length, 3);
  // Text probes without texts, and a bad output name, are named errors.
  const noTexts = squish('compare', model, half, '--random', '2', '--runs', '0', '--probes', 'typo');
  assert.equal(noTexts.code, 1);
  assert.match(noTexts.err, /probe 'typo' changes texts before tokenising/);
  const out = squish('compare', model, half, ...args, '--on-the-job-output', 'logits');
  assert.equal(out.code, 1);
  assert.match(out.err, /the model has no output 'logits'/);
});

test('compare on seeded random inputs, and errors that name what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-compare-'));
  const q = compressed(dir, { scheme: 'int8_dynamic' }, 'int8');
  const r = squish('compare', digits, q.model, '--random', '5', '--dims', 'N=2', '--runs', '0', '--report', join(dir, 'r.json'));
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
  assert.equal(report.samples, 5);
  assert.equal(report.latency, null);

  const labels = join(dir, 'y.csv');
  writeFileSync(labels, '1\n2\n');
  const bad = squish('compare', digits, q.model, '--inputs', fx('digits_mlp/X_test.npy'), '--labels', labels, '--report', join(dir, 'bad.json'));
  assert.equal(bad.code, 1);
  assert.match(bad.err, /labels file: 2 values for 450 examples/);
  assert.ok(!existsSync(join(dir, 'bad.json')), 'no report is written on error');

  const wrongShape = join(dir, 'x.csv');
  writeFileSync(wrongShape, '1,2,3\n4,5,6\n');
  const ws = squish('compare', digits, q.model, '--inputs', wrongShape);
  assert.equal(ws.code, 1);
  assert.match(ws.err, /input 'X': dimension 1 must be 64/);

  const other = squish('compare', digits, fx('mtcnn_pnet/model.onnx'), '--random', '1');
  assert.equal(other.code, 1);
  assert.match(other.err, /different inputs/);
  assert.equal(squish('compare', digits).code, 2);
});

test('compare --sensitivity sparsity scans each layer at 6 sparsities and writes per-layer sparsities that reach the target', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-scan-'));
  const pruned = compressed(dir, { prune: { method: 'magnitude', sparsity: 0.6, include_classifier: true } }, 'magnitude60');
  const r = squish('compare', digits, pruned.model, '--inputs', fx('digits_mlp/X_test.npy'), '--runs', '3', '--report', join(dir, 'r.json'),
    '--markdown', join(dir, 'r.md'), '--recipe', pruned.recipe, '--sensitivity', 'sparsity', '--suggest-recipe', join(dir, 'scan.json'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /sparsity scan: 3\/3 \(MatMul2\)/);
  assert.match(r.out, /sparsity scan of 3 layer\(s\) × 6 levels in [\d.]+ s/);
  const scan = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).sparsity_scan;
  assert.deepEqual(scan.levels, [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]);
  assert.deepEqual(scan.curves.map((c) => c.node), ['MatMul', 'MatMul1', 'MatMul2']);
  for (const c of scan.curves) assert.ok(c.outcomes[5].error > c.outcomes[0].error, JSON.stringify(c));
  assert.ok(Math.abs(scan.achieved - 0.6) < 1e-9, String(scan.achieved));
  assert.match(readFileSync(join(dir, 'r.md'), 'utf8'), /## Sparsity scan[\s\S]*\| MatMul \| MatMul \| 4096 \|/);
  const suggested = JSON.parse(readFileSync(join(dir, 'scan.json'), 'utf8'));
  const layers = suggested.steps[0].prune.layers;
  assert.deepEqual(Object.keys(layers).sort(), ['MatMul', 'MatMul1', 'MatMul2']);
  assert.deepEqual(scan.suggested.map(([n, s]) => [n, layers[n].sparsity]), scan.suggested);
  // The written recipe compresses.
  const c = squish('compress', digits, '--recipe', join(dir, 'scan.json'), '--out', join(dir, 'scan.onnx'));
  assert.equal(c.code, 0, c.err);
  // A recipe whose pattern fixes the share cannot be scanned, and says so.
  const nm = compressed(dir, { prune: { method: 'magnitude', pattern: '2:4' } }, 'nm');
  const bad = squish('compare', digits, nm.model, '--random', '2', '--recipe', nm.recipe, '--sensitivity', 'sparsity');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /sparsity scan needs "sparsity"|pattern "2:4" fixes it/);
  // Structured: one curve per dependency group (digits: its two hidden layers; the classifier's channels are the output).
  const ch = compressed(dir, { prune: { method: 'magnitude', pattern: 'channels', sparsity: 0.25 } }, 'channels');
  const g = squish('compare', digits, ch.model, '--inputs', fx('digits_mlp/X_test.npy'), '--runs', '2', '--report', join(dir, 'g.json'),
    '--recipe', ch.recipe, '--sensitivity', 'sparsity', '--suggest-recipe', join(dir, 'gscan.json'));
  assert.equal(g.code, 0, g.err);
  assert.match(g.out, /sparsity scan of 2 group\(s\) × 6 levels/);
  const gscan = JSON.parse(readFileSync(join(dir, 'g.json'), 'utf8')).sparsity_scan;
  assert.equal(gscan.unit, 'group');
  assert.deepEqual(gscan.curves.map((c) => c.node), ['MatMul', 'MatMul1']);
  assert.ok(Math.abs(gscan.achieved - 0.25) < 1e-9, String(gscan.achieved));
  const gc = squish('compress', digits, '--recipe', join(dir, 'gscan.json'), '--out', join(dir, 'gscan.onnx'));
  assert.equal(gc.code, 0, gc.err);
  const usage = squish('compare', digits, nm.model, '--random', '2', '--sensitivity', 'lots');
  assert.match(usage.err, /--sensitivity takes exclusions or sparsity, got 'lots'/);
});
