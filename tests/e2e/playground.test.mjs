// The built page end to end in headless Chromium: the demo prediction shows
// up quickly and is right, nothing is fetched from another origin, errors
// keep what was on screen, and a screenshot lands in target/e2e/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, servedBrowser } from './helpers.mjs';
import { loadEngine } from '../../www/cli/engine.mjs';

const ctx = servedBrowser();

/** The class onnxruntime predicts for test sample `i` (from its recorded probabilities). */
async function expectedClass(i) {
  const engine = await loadEngine();
  const probs = engine.readNpy(readFileSync(join(repoRoot, 'tests/fixtures/digits_mlp/ref_probabilities.npy')));
  const row = Array.from(probs.data.subarray(i * 10, i * 10 + 10));
  return row.indexOf(Math.max(...row));
}

test('demo prediction appears within 3 s, is correct, and only same-origin requests are made', async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1100, height: 900 } });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const t0 = Date.now();
  await page.goto(ctx.server.url);
  const predicted = page.getByTestId('predicted-class');
  await predicted.waitFor({ state: 'visible', timeout: 3000 });
  const elapsed = Date.now() - t0;
  assert.ok(elapsed <= 3000, `prediction took ${elapsed} ms`);
  assert.equal(Number(await predicted.textContent()), await expectedClass(0));
  assert.match(await page.getByTestId('true-label').textContent(), /true label \d ✓/);
  assert.match(await page.getByTestId('build').textContent(), /wasm simd128\+relaxed/);
  assert.match(await page.getByTestId('model-summary').textContent(), /Parameters6,570/);
  assert.match(await page.getByTestId('model-inputs').textContent(), /X float32 \[\?, 64\]/);

  // Step through samples: each prediction matches onnxruntime's.
  for (const i of [1, 2, 3]) {
    await page.getByRole('button', { name: 'next sample' }).click();
    await page.getByTestId('sample-index').filter({ hasText: `${i + 1} / 450` }).waitFor();
    await page.waitForFunction(
      ([cls]) => document.querySelector('squish-playground').shadowRoot
        .querySelector('[data-testid=predicted-class]')?.textContent === String(cls),
      [await expectedClass(i)], { timeout: 2000 });
  }

  mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'target/e2e/playground.png'), fullPage: true });
  const origin = new URL(ctx.server.url).origin;
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(foreign, [], `requests outside ${origin}`);
  assert.ok(requests.some((u) => u.endsWith('.wasm')), 'the wasm build was fetched');
  assert.deepEqual(errors, []);
  await page.close();
});

test('opening a broken model shows a clear error and keeps the demo on screen', async () => {
  const page = await ctx.browser.newPage();
  await page.goto(ctx.server.url);
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 5000 });
  const model = readFileSync(join(repoRoot, 'tests/fixtures/digits_mlp/model.onnx'));
  await page.getByTestId('open-model').setInputFiles({
    name: 'broken.onnx', mimeType: 'application/octet-stream', buffer: model.subarray(0, 4000),
  });
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible', timeout: 3000 });
  assert.match(await error.textContent(), /broken\.onnx: cannot decode ONNX model.*truncated/);
  assert.ok(await page.getByTestId('demo').isVisible(), 'demo still shown');
  assert.match(await page.getByTestId('model-summary').textContent(), /digits_mlp\.onnx/);

  // A valid model replaces the summary and hides the digits demo.
  await page.getByTestId('open-model').setInputFiles(join(repoRoot, 'tests/fixtures/mtcnn_pnet/model.onnx'));
  await page.getByTestId('model-summary').filter({ hasText: 'model.onnx' }).waitFor({ timeout: 3000 });
  assert.match(await page.getByTestId('model-summary').textContent(), /Parameters6,632/);
  assert.equal(await error.isVisible(), false);
  await page.close();
});
