// The `squish` command line, run as a user would run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'www/cli/squish.mjs');
const digits = join(root, 'tests/fixtures/digits_mlp/model.onnx');

function squish(...args) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('inspect prints inputs, outputs, opset and parameter count', () => {
  const r = squish('inspect', digits);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /inputs\n\s+X {2}float32 {2}\[\?, 64\]/);
  assert.match(r.out, /outputs\n\s+probabilities {2}float32 {2}\[unk__0, 10\]/);
  assert.match(r.out, /opsets\s+ai\.onnx 17, ai\.onnx\.ml 1/);
  assert.match(r.out, /parameters\s+6,570/);
  assert.match(r.out, /size\s+27\.0 KiB/);
});

test('inspect --json is machine-readable with the same facts', () => {
  const r = squish('inspect', digits, '--json');
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.parameter_count, 6570);
  assert.deepEqual(s.inputs, [{ name: 'X', dtype: 'float32', shape: ['?', '64'] }]);
  assert.deepEqual(s.opsets[0], { domain: 'ai.onnx', version: 17 });
  assert.equal(s.file_bytes, readFileSync(digits).length);
});

test('a truncated model exits non-zero and names the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-cli-'));
  const path = join(dir, 'truncated.onnx');
  writeFileSync(path, readFileSync(digits).subarray(0, 5000));
  const r = squish('inspect', path);
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /truncated\.onnx: cannot decode ONNX model .*truncated/);
});

test('missing files and bad usage are reported on stderr', () => {
  let r = squish('inspect', '/nonexistent/model.onnx');
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot read model '\/nonexistent\/model\.onnx': no such file/);
  r = squish('frobnicate');
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command 'frobnicate'/);
  r = squish('inspect');
  assert.equal(r.code, 2);
  assert.match(r.err, /exactly one model file/);
});

test('version names the kernel set (baseline SIMD128 in Node)', () => {
  const r = squish('version');
  assert.equal(r.code, 0);
  assert.match(r.out, /^squish \d+\.\d+\.\d+ \(kernels: simd128\)$/m);
});

test('run reads .npy inputs and writes output_J.pb files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-run-'));
  const inputs = join(dir, 'in');
  const out = join(dir, 'out');
  mkdirSync(inputs);
  copyFileSync(join(root, 'tests/fixtures/digits_mlp/X_test.npy'), join(inputs, 'input_0.npy'));
  const r = squish('run', digits, '--inputs', inputs, '--out', out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /output_0\.pb {2}probabilities {2}float32 {2}\[450, 10\]/);
  assert.ok(statSync(join(out, 'output_0.pb')).size > 450 * 10 * 4);
  const bad = squish('run', digits, '--inputs', inputs);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /run takes MODEL\.onnx --inputs DIR --out DIR/);
});

test('a model with external data reads its data file from its own folder; without it the file is named', () => {
  const external = join(root, 'tests/fixtures/external/digits_external.onnx');
  const info = squish('inspect', external, '--json');
  assert.equal(info.code, 0, info.err);
  assert.equal(JSON.parse(info.out).parameter_count, 6570);
  const dir = mkdtempSync(join(tmpdir(), 'squish-external-'));
  const inputs = join(dir, 'in');
  mkdirSync(inputs);
  copyFileSync(join(root, 'tests/fixtures/digits_mlp/X_test.npy'), join(inputs, 'input_0.npy'));
  const a = squish('run', external, '--inputs', inputs, '--out', join(dir, 'a'));
  const b = squish('run', digits, '--inputs', inputs, '--out', join(dir, 'b'));
  assert.equal(a.code, 0, a.err);
  assert.deepEqual(readFileSync(join(dir, 'a/output_0.pb')), readFileSync(join(dir, 'b/output_0.pb')));
  // The .onnx alone, elsewhere: the error names the data file it needs.
  copyFileSync(external, join(dir, 'alone.onnx'));
  const alone = squish('run', join(dir, 'alone.onnx'), '--inputs', inputs, '--out', join(dir, 'c'));
  assert.equal(alone.code, 1);
  assert.match(alone.err, /alone\.onnx: cannot read external data file '.*digits_external\.onnx\.data': no such file/);
});

test('compress prints each tensor and writes a smaller model; bad recipes write nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-compress-'));
  const recipe = join(dir, 'int8.json');
  writeFileSync(recipe, JSON.stringify({ scheme: 'int8_dynamic' }));
  const out = join(dir, 'int8.onnx');
  const r = squish('compress', digits, '--recipe', recipe, '--out', out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /coefficient\s+MatMul \(MatMul\)\s+0: quantize\s+int8_dynamic\s+per channel \(axis 1\)\s+16\.0 KiB\s+4\.3 KiB/);
  assert.doesNotMatch(r.out, /WARNING/);
  assert.match(r.out, /model: 27\.0 KiB → 10\.3 KiB/); // the recipe and version in the metadata add ~150 bytes
  assert.ok(statSync(out).size < statSync(digits).size / 2);
  // Below opset 21 4-bit levels are stored in 8-bit codes: less than asked, so a warning names the layer.
  const int4 = join(dir, 'int4.json');
  writeFileSync(int4, JSON.stringify({ scheme: 'int4_weight' }));
  const w = squish('compress', digits, '--recipe', int4, '--out', join(dir, 'int4.onnx'));
  assert.equal(w.code, 0, w.err);
  assert.match(w.out, /WARNING MatMul \(MatMul\) 'coefficient': 4-bit levels stored in 8-bit codes: INT4 tensors need opset 21 \(the model imports 17\)/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ scheme: 'int8_dynamic', layers: { Relu: { scheme: 'int4_block' } } }));
  const out2 = join(dir, 'bad.onnx');
  const e = squish('compress', digits, '--recipe', bad, '--out', out2);
  assert.equal(e.code, 1);
  assert.match(e.err, /node 'Relu' \(Relu\) cannot take scheme int4_block: Relu takes fp16, bf16/);
  assert.throws(() => statSync(out2));
  const u = squish('compress', digits, '--out', out2);
  assert.equal(u.code, 2);
  assert.match(u.err, /compress takes MODEL.onnx --recipe/);
});

test('compress with a target searches on --inputs, writes the model it found and its report; without inputs it says what is missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-target-'));
  const recipe = join(dir, 'target.json');
  writeFileSync(recipe, JSON.stringify({ quantize: { scheme: 'int4_block', rounding: 'gptq' }, target: { metric: 'accuracy', at_least: 0.96 } }));
  const out = join(dir, 'found.onnx');
  const report = join(dir, 'target.json.report');
  const x = join(root, 'tests/fixtures/digits_mlp/X_test.npy');
  const y = join(root, 'tests/fixtures/digits_mlp/y_test.npy');
  // One file of 450 rows: split into one input set per example (the batch axis is dynamic).
  const r = squish('compress', digits, '--recipe', recipe, '--inputs', x, '--labels', y, '--report', report, '--out', out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /## Target: accuracy at least 0\.96/);
  assert.match(r.out, /Searched on 337 input sets, checked on 113 held back \(seed 0\)/);
  assert.match(r.out, /\| \*\*found\*\* \| [\d.]+ KiB \| 0\.9\d+ \| 0\.9\d+ \| yes \|/);
  assert.match(r.out, /found recipe: \{"version":1,"steps":\[\{"quantize":/);
  const rep = JSON.parse(readFileSync(report, 'utf8'));
  assert.equal(rep.found.met, true);
  assert.equal(statSync(out).size, rep.found.bytes);
  const missing = squish('compress', digits, '--recipe', recipe, '--out', join(dir, 'x.onnx'));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /the recipe has a "target": give the inputs to search on \(--inputs DIR\|FILE/);
  assert.throws(() => statSync(join(dir, 'x.onnx')));
  const plain = join(dir, 'plain.json');
  writeFileSync(plain, JSON.stringify({ quantize: { scheme: 'fp16' } }));
  const stray = squish('compress', digits, '--recipe', plain, '--inputs', x, '--out', join(dir, 'y.onnx'));
  assert.equal(stray.code, 1);
  assert.match(stray.err, /--inputs, --text and --labels are for a recipe with a "target"/);
});

test('distill trains a student and prints the curve; usage errors and a stopped run are reported, the best weights still written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'squish-cli-'));
  const fx = (f) => join(root, 'tests/fixtures/digits_mlp', f);
  const out = join(dir, 'student.onnx');
  const r = squish('distill', digits, '--student', 'mlp:12', '--epochs', '4', '--learning-rate', '0.01', '--inputs', fx('X_train.npy'), '--labels', fx('y_train.npy'), '--out', out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /epoch {2}loss {7}held-back agreement\n {4}1 {2}/);
  assert.match(r.out, /student: mlp:12 \(910 parameters; started from 6,570\)/);
  assert.match(r.out, /loss kl; trained on 1212 examples, 135 held back; kept epoch \d/);
  assert.ok(statSync(out).size > 3000);
  // A section file, with a flag on top of it.
  const section = join(dir, 'section.json');
  writeFileSync(section, JSON.stringify({ distill: { student: 'mlp:8', epochs: 2, gradual: { sparsity: 0.5 } } }));
  const s = squish('distill', digits, '--section', section, '--epochs', '3', '--inputs', fx('X_train.npy'), '--out', join(dir, 's2.onnx'));
  assert.equal(s.code, 0, s.err);
  assert.match(s.out, / {4}3 {2}.*← kept|kept epoch 3/);
  // Usage errors.
  assert.equal(squish('distill', digits, '--out', out, '--student', 'mlp:8').code, 2);
  assert.equal(squish('distill', digits, '--out', out, '--student', 'mlp:8', '--finetune', digits, '--inputs', fx('X_train.npy')).code, 2);
  const bad = squish('distill', digits, '--out', join(dir, 'never.onnx'), '--student', 'resnet:3', '--inputs', fx('X_train.npy'));
  assert.equal(bad.code, 1);
  assert.match(bad.err, /key 'distill.student': 'resnet:3' is not a student/);
  assert.throws(() => statSync(join(dir, 'never.onnx')), 'nothing is written when training cannot start');
  // A CNN student, and a quantised model fine-tuned (written back as int4 codes).
  const cnn = squish('distill', digits, '--student', 'cnn:4,8', '--epochs', '2', '--inputs', fx('X_train.npy'), '--out', join(dir, 'cnn.onnx'));
  assert.equal(cnn.code, 0, cnn.err);
  assert.match(cnn.out, /student: cnn:4,8 \(666 parameters; started from 6,570\)/);
  const int4 = join(dir, 'int4.recipe.json');
  writeFileSync(int4, JSON.stringify({ quantize: { scheme: 'int4_weight' } }));
  assert.equal(squish('compress', digits, '--recipe', int4, '--out', join(dir, 'int4.onnx')).code, 0);
  const tuned = squish('distill', digits, '--finetune', join(dir, 'int4.onnx'), '--epochs', '2', '--inputs', fx('X_train.npy'), '--out', join(dir, 'int4-tuned.onnx'));
  assert.equal(tuned.code, 0, tuned.err);
  assert.match(tuned.out, /student: finetune/);
  // A rate that overflows: the error names the step, and the best weights so far are written.
  const nan = join(dir, 'nan.onnx');
  const n = squish('distill', digits, '--student', 'mlp:8', '--epochs', '3', '--learning-rate', '1e38', '--inputs', fx('X_train.npy'), '--out', nan);
  assert.equal(n.code, 1);
  assert.match(n.err, /the loss became (NaN|infinite) at step \d+ \(epoch 1\); training stopped.*best weights so far were written to/);
  assert.ok(statSync(nan).size > 1000);
});
