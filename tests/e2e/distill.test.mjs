// The "Distil" card in the built page: the digits demo trains a student
// with a live curve, pauses, is cancelled (the page keeps what it had),
// trains again to the end and shows the student beside the model; a bad
// section is named before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, servedBrowser } from './helpers.mjs';

const ctx = servedBrowser();

const status = (page) => page.getByTestId('train-status');
const epochOf = async (page) => Number((await status(page).textContent()).match(/(?:Epoch|epoch) (\d+)/)?.[1] ?? -1);

test('distilling the digits demo: live curve, pause, cancel, rerun, then the comparison', async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(ctx.server.url);
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 5000 });
  const card = page.getByTestId('train-card');
  await card.scrollIntoViewIfNeeded();

  // A long run: the curve grows, Pause holds it, Resume goes on, Cancel ends it.
  await page.getByTestId('distill-section').fill('{"student": "mlp:20", "epochs": 5000, "learning_rate": 0.01}');
  await page.getByTestId('train').click();
  await status(page).filter({ hasText: /Epoch [3-9]\d*:|Epoch \d{2,}:/ }).waitFor({ timeout: 30_000 });
  // Loss and held-back curves are drawn (uPlot canvases).
  await page.getByTestId('train-curve').locator('canvas').nth(1).waitFor({ timeout: 5000 });
  await page.getByTestId('pause').click();
  await status(page).filter({ hasText: /Paused at epoch \d+/ }).waitFor({ timeout: 5000 });
  const paused = await epochOf(page);
  await page.waitForTimeout(700);
  assert.match(await status(page).textContent(), new RegExp(`Paused at epoch ${paused}\\.`), 'no epoch passes while paused');
  await page.getByTestId('pause').click();
  await page.waitForFunction((n) => {
    const m = document.querySelector('squish-playground').shadowRoot.querySelector('[data-testid=train-status]').textContent.match(/Epoch (\d+)/);
    return m && Number(m[1]) > n;
  }, paused, { timeout: 10_000 });
  await page.getByTestId('train-cancel').click();
  await status(page).filter({ hasText: /Cancelled/ }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('train-report').textContent(), '', 'nothing half-done is shown as a result');

  // Again, to the end: the student and its comparison with the model.
  await page.getByTestId('distill-section').fill('{"student": "mlp:20", "epochs": 60, "learning_rate": 0.01, "mixup": 0.4}');
  await page.getByTestId('train').click();
  await status(page).filter({ hasText: /Trained 60 epoch\(s\)/ }).waitFor({ timeout: 60_000 });
  assert.match(await page.getByTestId('student-facts').textContent(), /Student mlp:20: 1,510 parameters \(the model has 6,570\)/);
  const agreement = Number((await page.getByTestId('train-report').getByTestId('tile-agreement').textContent()).match(/([\d.]+)%/)[1]);
  assert.ok(agreement >= 95, `the student agrees with the model on ${agreement}% of the test split`);
  assert.ok(await page.getByTestId('download-student').isVisible());
  mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
  await card.screenshot({ path: join(repoRoot, 'target/e2e/distill.png') });

  // A student the schema does not know is named; the results stay.
  await page.getByTestId('distill-section').fill('{"student": "cnn"}');
  await page.getByTestId('train').click();
  const error = page.getByTestId('train-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /distill section: 'student'/);
  assert.ok(await page.getByTestId('train-report').getByTestId('tile-agreement').isVisible());
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Compare card\'s int4 model is fine-tuned back towards the loaded one and compared with it', async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(ctx.server.url);
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 5000 });
  await page.getByTestId('train-start').selectOption('compressed');
  await page.getByTestId('distill-section').fill('{"student": "finetune", "epochs": 10, "learning_rate": 0.002}');
  await page.getByTestId('train').click();
  await page.getByTestId('train-error').filter({ hasText: /compress the loaded model in the Compare card first/ }).waitFor({ timeout: 5000 });

  await page.getByTestId('recipe').fill('{"quantize": {"scheme": "int4_weight", "per_channel": false}}');
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared \d+ input set/ }).waitFor({ timeout: 30_000 });
  await page.getByTestId('train').click();
  await status(page).filter({ hasText: /Trained 10 epoch\(s\)/ }).waitFor({ timeout: 60_000 });
  assert.match(await page.getByTestId('student-facts').textContent(), /Student finetune: 6,570 parameters \(the model has 6,570\)/);
  assert.ok(await page.getByTestId('train-report').getByTestId('tile-agreement').isVisible(), 'the fine-tuned model is compared with the loaded one');
  assert.deepEqual(errors, []);
  await page.close();
});
