// "Compress & compare" in the built page: the destructive recipe on the
// digits demo is diagnosed, sensitivity suggests layers, one click keeps
// them in fp32 and agreement rises; cancel keeps the results; bad inputs
// are named; image and audio inputs reach one-input models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, servedBrowser } from './helpers.mjs';

const ctx = servedBrowser();

const pctOf = async (locator) => Number((await locator.textContent()).match(/([\d.]+)%/)[1]);

async function openDemo() {
  const page = await ctx.browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(ctx.server.url);
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 5000 });
  return { page, errors };
}

async function compareAndWait(page) {
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared \d+ input set/ }).waitFor({ timeout: 30_000 });
}

/** Clicks the sensitivity suggestion, waits for the new comparison, and for its agreement to exceed `before`. */
async function keepAndWaitForAgreementAbove(page, before) {
  await page.getByTestId('keep-fp32').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared 1 input set/ }).waitFor({ timeout: 30_000 });
  await page.waitForFunction((b) => {
    const t = document.querySelector('squish-playground').shadowRoot.querySelector('[data-testid=tile-agreement]');
    return t && Number(t.textContent.match(/([\d.]+)%/)[1]) > b;
  }, before, { timeout: 10_000 });
}

test('destructive recipe: diagnosis, per class, hand-back, sensitivity, one click to keep layers in fp32, agreement rises', async () => {
  const { page, errors } = await openDemo();
  mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
  await page.getByTestId('recipe-preset').selectOption('int4 per tensor, every layer (destructive)');
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared 1 input set/ }).waitFor({ timeout: 30_000 });
  const agreement = page.getByTestId('tile-agreement');
  const before = await pctOf(agreement);
  assert.ok(before < 99, `agreement ${before}%`);
  assert.match(await page.getByTestId('tile-accuracy').textContent(), /97\.78% → /);
  assert.match(await page.getByTestId('tile-size').textContent(), /KiB → .*KiB/);
  assert.match(await page.getByTestId('tile-latency').textContent(), /median of 20 runs/);
  // The first place where error enters is the first MatMul (its weights lost most).
  const firstEntry = page.getByTestId('entry-points').locator('tbody tr').first();
  assert.match(await firstEntry.textContent(), /^MatMulMatMul/);
  assert.ok(await page.getByTestId('difficulty').isVisible());
  assert.ok(await page.getByTestId('reliability').isVisible());
  // On the job: per class, worst first (class 0: 2 of 45 lost, as the CLI and numpy count), and the hand-back threshold.
  const perClass = page.getByTestId('per-class');
  assert.equal(await perClass.getByTestId('per-class-table').locator('tbody tr').count(), 10);
  assert.match(await perClass.getByTestId('per-class-table').locator('tbody tr').first().textContent(), /^045.*2 \/ 0/);
  assert.match(await perClass.getByTestId('flip-pairs').textContent(), /^Flips go \(original → compressed\): .*0 → 4 \(1×\)/);
  assert.match(await page.getByTestId('handback-choice').textContent(),
    /To keep agreement ≥ 99\.50%, the compressed model answers when its confidence is at least 0\.8626: 95\.56% of the inputs/);
  await perClass.screenshot({ path: join(repoRoot, 'target/e2e/per-class.png') });
  await page.getByTestId('handback').screenshot({ path: join(repoRoot, 'target/e2e/handback.png') });
  // Slices of the test digits by brightness, worst first (as numpy cuts them: 4 quantile bins).
  const slices = page.getByTestId('slices-table').locator('tbody tr');
  assert.equal(await slices.count(), 4);
  assert.match(await slices.first().textContent(), /^brightness \d\.\d{3}–\d\.\d{3}\d+/);
  // The demo runs the image probes: one chart per probe, and the one the int4 model handles worst named.
  const probes = page.getByTestId('probes-panel');
  for (const kind of ['noise', 'brightness', 'occlusion', 'blur']) assert.ok(await probes.getByTestId(`probe-${kind}`).isVisible(), kind);
  assert.match(await probes.getByTestId('probes-worst').textContent(), /^Most brittle under brightness at severity 3: the compressed model loses \d+\.\d+ pt more than the original\./);
  await probes.screenshot({ path: join(repoRoot, 'target/e2e/probes.png') });
  // The record says what compression did, and warns that opset 17 stores 4-bit levels in 8-bit codes.
  assert.match(await page.getByTestId('record').textContent(), /3 tensor\(s\) compressed/);
  assert.match(await page.getByTestId('record-warnings').textContent(), /MatMul \(MatMul\) 'coefficient': 4-bit levels stored in 8-bit codes/);

  await page.getByTestId('run-sensitivity').click();
  const keep = page.getByTestId('keep-fp32');
  await keep.waitFor({ timeout: 30_000 });
  // Ranked by the error restoring the layer removes; the last MatMul is suggested.
  assert.match(await page.getByTestId('sensitivity').locator('tbody tr').first().textContent(), /^MatMul2MatMul.*✓$/);
  assert.match(await keep.textContent(), /Keep these 1 layer/);
  await keepAndWaitForAgreementAbove(page, before);
  assert.match(await page.getByTestId('recipe').inputValue(), /"MatMul2"/);

  mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
  await page.getByTestId('compare-card').screenshot({ path: join(repoRoot, 'target/e2e/compare.png') });
  // The compressed model downloads as an ONNX file.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-model').click()]);
  assert.equal(download.suggestedFilename(), 'digits_mlp.squished.onnx');
  assert.deepEqual(errors, []);
  await page.close();
});

test('cancel stops the worker and keeps the previous results; bad inputs are named', async () => {
  const { page } = await openDemo();
  await compareAndWait(page);
  const agreement = await page.getByTestId('tile-agreement').textContent();
  // A long warm-up keeps the worker busy long enough to cancel it.
  await page.getByLabel('warm-up runs').fill('2000000');
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /timing/ }).waitFor({ timeout: 30_000 });
  await page.getByTestId('cancel').click();
  await page.getByTestId('compare-status').filter({ hasText: /Cancelled/ }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('tile-agreement').textContent(), agreement);
  // A fresh worker serves the next comparison.
  await page.getByLabel('warm-up runs').fill('3');
  await compareAndWait(page);

  // A CSV with the wrong width: the error names the input, results stay.
  await page.getByTestId('input-source').selectOption('file');
  await page.getByTestId('input-file').setInputFiles({ name: 'x.csv', mimeType: 'text/csv', buffer: Buffer.from('1,2,3\n4,5,6\n') });
  await page.getByTestId('compare').click();
  const error = page.getByTestId('compare-error');
  await error.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await error.textContent(), /input 'X': dimension 1 must be 64/);
  assert.equal(await page.getByTestId('tile-agreement').textContent(), agreement);
  // Bad recipe JSON is named too.
  await page.getByTestId('recipe').fill('{"scheme": ');
  await page.getByTestId('compare').click();
  assert.match(await error.textContent(), /recipe: invalid JSON/);
  // A key the recipe schema does not have is named before anything runs.
  await page.getByTestId('recipe').fill('{"quantize": {"scheme": "int8_dynamic", "per_chanel": false}}');
  await page.getByTestId('compare').click();
  assert.match(await error.textContent(), /recipe: 'quantize\.per_chanel' is not a key a recipe takes here/);
  await page.getByTestId('recipe').fill('{"scheme": "int9"}');
  await page.getByTestId('compare').click();
  assert.match(await error.textContent(), /recipe: 'scheme' must be one of \["fp32","fp16"/);
  assert.equal(await page.getByTestId('tile-agreement').textContent(), agreement);
  await page.close();
});

test('the page and the CLI write the same bytes for the same recipe', async () => {
  const { page, errors } = await openDemo();
  await page.getByTestId('recipe').fill('{"quantize": {"scheme": "int8_dynamic"}}');
  await compareAndWait(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-model').click()]);
  const dir = mkdtempSync(join(tmpdir(), 'squish-bytes-'));
  const fromPage = join(dir, 'page.onnx');
  await download.saveAs(fromPage);
  const recipe = join(dir, 'recipe.json');
  writeFileSync(recipe, '{"scheme": "int8_dynamic"}'); // the old-style spelling of the same recipe
  const fromCli = join(dir, 'cli.onnx');
  execFileSync(process.execPath, [join(repoRoot, 'www/cli/squish.mjs'), 'compress', join(repoRoot, 'tests/fixtures/digits_mlp/model.onnx'), '--recipe', recipe, '--out', fromCli]);
  assert.ok(readFileSync(fromPage).equals(readFileSync(fromCli)), 'page and CLI files differ');
  assert.match(readFileSync(fromPage).toString('latin1'), /squish\.recipe/, 'the file names its recipe');
  assert.deepEqual(errors, []);
  await page.close();
});

test('pruning on the page: the record shows the zeros, sensitivity leaves a layer dense, and the file equals the CLI\'s', async () => {
  const { page, errors } = await openDemo();
  await page.getByTestId('recipe-preset').selectOption('prune 50%, Wanda (calibrated on the inputs)');
  await compareAndWait(page);
  assert.match(await page.getByTestId('record-sparsity').textContent(), /^2 pruned tensor\(s\): 50\.0% zeros · stored dense .* sparse-encoded /);
  assert.match(await page.getByTestId('record').textContent(), /MatMul2 \(MatMul\), prune: the final classifier is left dense by default/);
  // Zeros per layer (one bar each) and the weights before/after of the layer picked.
  assert.equal(await page.getByTestId('sparsity-chart').locator('.hbar').count(), 2);
  assert.deepEqual(await page.getByTestId('sparsity-chart').locator('.hbar-value').allTextContents(), ['50.0%', '50.0%']);
  await page.getByTestId('weight-histogram').locator('canvas').waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('histogram-caption').textContent(), /^coefficient: 2048 non-zero weights left .* of 4096 .* 2048 set to zero/);
  await page.getByTestId('histogram-layer').selectOption({ index: 1 });
  assert.match(await page.getByTestId('histogram-caption').textContent(), /^coefficient1: 1024 non-zero weights left/);
  assert.ok(await pctOf(page.getByTestId('tile-agreement')) >= 90);
  // The page calibrated on the demo's 450 digits; the CLI given the same file writes the same bytes.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-model').click()]);
  const dir = mkdtempSync(join(tmpdir(), 'squish-prune-'));
  await download.saveAs(join(dir, 'page.onnx'));
  mkdirSync(join(dir, 'calibration'));
  writeFileSync(join(dir, 'calibration/input_0.npy'), readFileSync(join(repoRoot, 'tests/fixtures/digits_mlp/X_test.npy')));
  writeFileSync(join(dir, 'recipe.json'), await page.getByTestId('recipe').inputValue());
  execFileSync(process.execPath, [join(repoRoot, 'www/cli/squish.mjs'), 'compress', join(repoRoot, 'tests/fixtures/digits_mlp/model.onnx'),
    '--recipe', join(dir, 'recipe.json'), '--calibration', join(dir, 'calibration'), '--out', join(dir, 'cli.onnx')]);
  assert.ok(readFileSync(join(dir, 'page.onnx')).equals(readFileSync(join(dir, 'cli.onnx'))), 'page and CLI files differ');

  // The sparsity scan: each layer at 6 sparsities, then its per-layer sparsities go into the recipe.
  await page.getByTestId('run-scan').click();
  await page.getByTestId('use-scan').waitFor({ timeout: 30_000 });
  assert.equal(await page.getByTestId('scan').locator('tbody tr').count(), 2);
  assert.match(await page.getByTestId('scan-result').textContent(), /Suggested per-layer sparsities remove 50\.0% of these weights \(target 50\.0%\)/);
  await page.getByTestId('use-scan').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared \d+ input set/ }).waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId('recipe').inputValue(), /"layers"[\s\S]*"MatMul1"[\s\S]*"sparsity"/);

  // 2:4 by magnitude on every layer hurts; sensitivity finds the layer to leave dense.
  await page.getByTestId('recipe').fill('{"prune": {"method": "magnitude", "pattern": "2:4", "include_classifier": true}}');
  await compareAndWait(page);
  const before = await pctOf(page.getByTestId('tile-agreement'));
  await page.getByTestId('run-sensitivity').click();
  const keep = page.getByTestId('keep-fp32');
  await keep.waitFor({ timeout: 30_000 });
  await keepAndWaitForAgreementAbove(page, before);
  assert.match(await page.getByTestId('recipe').inputValue(), /"prune"[\s\S]*"exclude"/);

  // A CNN from the fixtures, on random inputs: 2:4 skips the 3-channel first convolution and says why.
  await page.getByTestId('open-model').setInputFiles(join(repoRoot, 'tests/fixtures/mtcnn_onet/model.onnx'));
  await page.getByTestId('model-summary').filter({ hasText: 'model.onnx' }).waitFor({ timeout: 5000 });
  await page.getByTestId('recipe').fill('{"prune": {"method": "wanda", "pattern": "2:4"}}');
  await page.getByLabel('timed runs').fill('3');
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared \d+ input set/ }).waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId('record-sparsity').textContent(), /^4 pruned tensor\(s\): 50\.0% zeros/);
  assert.match(await page.getByTestId('record').textContent(), /\/conv1\/Conv \(Conv\), prune: its 27 inputs per output are not a multiple of 4/);
  assert.match(await page.getByTestId('tile-size').textContent(), /gzip/);
  const [cnn] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-model').click()]);
  await cnn.saveAs(join(dir, 'onet.onnx'));
  // onnxruntime (Python) runs the downloaded file.
  const ran = execFileSync(join(repoRoot, '.cache/venv/bin/python'), ['-c', ORT_RUN, join(dir, 'onet.onnx')], { encoding: 'utf8' });
  assert.match(ran, /^ok boxes \[1, 4\] probs \[1, 10\] landmarks \[1, 2\]/);

  // Structured: whole channels go, so the downloaded model itself is smaller and onnxruntime runs it.
  await page.getByTestId('recipe-preset').selectOption('remove 30% of channels (structured: smaller in any runtime)');
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared \d+ input set/ }).waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId('record-structured').textContent(), /^Removed: \d+ of \d+ output channels over \d+ layer\(s\)/);
  assert.ok(await page.getByTestId('structured-chart').locator('.hbar').count() >= 2);
  assert.match(await page.getByTestId('record').textContent(), /reach the model's output/);
  const [slim] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-model').click()]);
  await slim.saveAs(join(dir, 'onet_channels.onnx'));
  const original = readFileSync(join(repoRoot, 'tests/fixtures/mtcnn_onet/model.onnx')).length;
  assert.ok(readFileSync(join(dir, 'onet_channels.onnx')).length < 0.95 * original, 'the structured model is smaller on disk');
  const ranSlim = execFileSync(join(repoRoot, '.cache/venv/bin/python'), ['-c', ORT_RUN, join(dir, 'onet_channels.onnx')], { encoding: 'utf8' });
  assert.match(ranSlim, /^ok boxes \[1, 4\] probs \[1, 10\] landmarks \[1, 2\]/);
  // The scan of a structured recipe: one row per dependency group, then its sparsities go into the recipe.
  await page.getByTestId('run-scan').click();
  await page.getByTestId('use-scan').waitFor({ timeout: 60_000 });
  assert.ok(await page.getByTestId('scan').locator('tbody tr').count() >= 4);
  await page.getByTestId('scan-result').screenshot({ path: join(repoRoot, 'target/e2e/structured-scan.png') });
  assert.match(await page.getByTestId('scan-result').textContent(), /group \(first layer\)[\s\S]*Suggested per-group sparsities remove 30\.0% of these weights \(target 30\.0%\)/);
  await page.getByTestId('use-scan').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared \d+ input set/ }).waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId('recipe').inputValue(), /"pattern": "channels"[\s\S]*"layers"[\s\S]*"\/dense5\/Gemm"/);
  assert.deepEqual(errors, []);
  await page.close();
});

/** Runs a model in onnxruntime on a random input; prints its output shapes if all are finite. */
const ORT_RUN = `
import sys, numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]
x = np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
outs = s.run(None, {i.name: x})
assert all(np.isfinite(o).all() for o in outs)
print("ok", " ".join(f"{o.name} {list(v.shape)}".replace(" [", " [") for o, v in zip(s.get_outputs(), outs)))
`;

/** A mono 16-bit PCM WAV of a sine wave. */
function wav(seconds, rate, freq) {
  const n = Math.round(seconds * rate);
  const b = Buffer.alloc(44 + 2 * n);
  b.write('RIFF', 0); b.writeUInt32LE(36 + 2 * n, 4); b.write('WAVE', 8); b.write('fmt ', 12);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(2 * rate, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * freq * i) / rate)), 44 + 2 * i);
  return b;
}

test('images and audio become inputs of one-input models', async () => {
  const { page, errors } = await openDemo();
  // Images: two screenshots of the page, resized to the 48×48 face-landmark CNN.
  const shots = [await page.screenshot(), await page.screenshot({ clip: { x: 0, y: 0, width: 300, height: 200 } })];
  await page.getByTestId('open-model').setInputFiles(join(repoRoot, 'tests/fixtures/mtcnn_onet/model.onnx'));
  await page.getByTestId('model-summary').filter({ hasText: 'model.onnx' }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('input-source').inputValue(), 'random', 'the demo source leaves with the demo model');
  await page.getByTestId('input-source').selectOption('images');
  await page.getByTestId('image-files').setInputFiles(shots.map((buffer, i) => ({ name: `shot${i}.png`, mimeType: 'image/png', buffer })));
  await page.getByLabel('width').fill('48');
  await page.getByLabel('height').fill('48');
  await page.getByLabel('timed runs').fill('3');
  await compareAndWait(page);
  assert.match(await page.getByTestId('compare-status').textContent(), /Compared 2 input sets?/);
  assert.match(await page.getByTestId('report').textContent(), /Output probs/);

  // A folder of class sub-folders: the folder names become labels (sorted: cat 0, dog 1).
  const root = mkdtempSync(join(tmpdir(), 'squish-images-'));
  for (const [cls, i] of [['cat', 0], ['cat', 1], ['dog', 0]]) {
    mkdirSync(join(root, cls), { recursive: true });
    writeFileSync(join(root, cls, `${i}.png`), shots[(i + cls.length) % 2]);
  }
  await page.getByTestId('image-folder').setInputFiles(root);
  await compareAndWait(page);
  assert.match(await page.getByTestId('compare-status').textContent(), /Compared 3 input set\(s\)/);
  assert.match(await page.getByTestId('tile-accuracy').textContent(), /against your labels/);

  // Audio: the mel-spectrogram front-end takes raw 16 kHz samples.
  await page.getByTestId('open-model').setInputFiles(join(repoRoot, 'tests/fixtures/oww_melspectrogram/model.onnx'));
  await page.getByTestId('model-summary').filter({ hasText: 'model.onnx' }).waitFor({ timeout: 5000 });
  await page.getByTestId('input-source').selectOption('audio');
  await page.locator('squish-playground').locator('input[accept=".wav,audio/wav"]').setInputFiles([
    { name: 'a.wav', mimeType: 'audio/wav', buffer: wav(0.5, 8000, 440) },
    { name: 'b.wav', mimeType: 'audio/wav', buffer: wav(0.5, 16000, 880) },
  ]);
  await compareAndWait(page);
  assert.match(await page.getByTestId('compare-status').textContent(), /Compared 2 input sets?/);
  assert.match(await page.getByTestId('report').textContent(), /Output output · regression/);
  // Audio probes change the samples: noise, gain, clipping.
  await page.getByTestId('probes').selectOption('audio');
  await compareAndWait(page);
  for (const kind of ['noise', 'gain', 'clipping']) assert.ok(await page.getByTestId(`probe-${kind}`).isVisible(), kind);

  // Texts: the text probes change the lines before tokenising; casing is skipped for an uncased tokenizer.
  await page.getByTestId('open-model').setInputFiles(join(repoRoot, 'tests/fixtures/synthetic/text_classifier/model.onnx'));
  await page.getByTestId('model-summary').filter({ hasText: 'model.onnx' }).waitFor({ timeout: 5000 });
  await page.getByTestId('input-source').selectOption('text');
  await page.getByTestId('texts').fill('The quick brown fox jumps over the lazy dog.\nHello, world! This is a test of the tokenizer.\nWe run the model on the job it is meant to do.');
  await page.getByTestId('tokenizer-file').setInputFiles(join(repoRoot, 'tests/fixtures/text/tokenizer.json'));
  await page.getByTestId('probes').selectOption('text');
  await compareAndWait(page);
  assert.match(await page.getByTestId('compare-status').textContent(), /Compared 3 input set/);
  const textProbes = page.getByTestId('probes-panel');
  for (const kind of ['typo', 'drop', 'repeat', 'whitespace', 'truncate']) {
    assert.match(await textProbes.getByTestId(`probe-${kind}`).locator('figcaption').textContent(), /of texts changed\)$/, kind);
  }
  assert.match(await textProbes.getByTestId('probe-skipped-case').textContent(), /^Skipped case: the tokenizer gives the same tokens .* \(it lowercases\)\.$/);
  await textProbes.screenshot({ path: join(repoRoot, 'target/e2e/text-probes.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a recipe with a target: progress, then the table of the recipe found beside the uniform ones', async () => {
  const { page, errors } = await openDemo();
  await page.getByTestId('recipe-preset').selectOption('smallest int4/int8/fp16 mix keeping 99.5% agreement (searched on the inputs)');
  // The search reports each unit of work (Cancel stops it as it stops any call: the worker ends).
  const stages = [];
  await page.exposeFunction('noteStatus', (t) => stages.push(t));
  await page.evaluate(() => {
    const status = document.querySelector('squish-playground').shadowRoot.querySelector('[data-testid=compare-status]');
    new MutationObserver(() => window.noteStatus(status.textContent)).observe(status, { childList: true, characterData: true, subtree: true });
  });
  await compareAndWait(page);
  assert.ok(stages.some((t) => /^measuring each layer… \d+\/\d+/.test(t)), stages.join(' | '));
  const table = page.getByTestId('target');
  assert.match(await table.locator('tbody tr').nth(1).textContent(), /^found by the search[\d.]+ KiB1\.0000\d?\.\d+yes$/);
  assert.match(await table.textContent(), /uniform: int4_block/);
  assert.match(await page.getByTestId('target-result').textContent(), /Searched on 337 input sets, checked on 113 held back \(seed 0\)/);
  assert.match(await page.getByTestId('target-verdict').textContent(), /meets the target on the held-back inputs, and no uniform recipe that does is smaller/);
  // What follows works on the recipe found: its record is the one shown.
  assert.match(await page.getByTestId('record').textContent(), /tensor\(s\) compressed/);
  mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
  await page.getByTestId('compare-card').screenshot({ path: join(repoRoot, 'target/e2e/target.png') });
  assert.deepEqual(errors, []);
  await page.close();
});
