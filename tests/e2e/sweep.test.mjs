// The sweep (#20) on a fixture CNN (MTCNN's ONet, 8 seeded random inputs):
// seven recipes, progress throughout, the chart with its Pareto front, a
// report per point; a cancel mid-run keeps what was measured and the page
// stays responsive while it runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, servedBrowser } from './helpers.mjs';

const ctx = servedBrowser();

test('a sweep of 7 recipes on ONet: progress, cancel mid-run, chart, Pareto front, reports', async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(ctx.server.url);
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 5000 });
  await page.getByTestId('open-model').setInputFiles(join(repoRoot, 'tests/fixtures/mtcnn_onet/model.onnx'));
  await page.getByTestId('model-summary').filter({ hasText: 'model.onnx' }).waitFor({ timeout: 5000 });
  await page.getByTestId('input-source').selectOption('random');
  await page.getByTestId('random-count').fill('8');
  await page.getByLabel('dimensions').fill('batch=1');
  const card = page.getByTestId('sweep-card');
  // Long timing for the run that is cancelled: it is still busy when Cancel lands.
  await card.getByLabel('latency runs per recipe').fill('400');
  const checked = await card.locator('fieldset input:checked').count();
  assert.ok(checked >= 6, `${checked} recipes chosen`);
  const status = page.getByTestId('sweep-status');

  // First run: cancelled once the third recipe starts; the page answers meanwhile.
  await page.getByTestId('sweep').click();
  await status.filter({ hasText: /^3\/\d+: / }).waitFor({ timeout: 60_000 });
  const t0 = Date.now();
  await page.getByTestId('layer-search').fill('conv');
  await page.getByTestId('layer-count').filter({ hasText: /^\d+ of \d+ layer/ }).waitFor({ timeout: 2000 });
  assert.ok(Date.now() - t0 < 2000, 'the page stayed responsive during the sweep');
  await page.getByTestId('sweep-cancel').click();
  await status.filter({ hasText: /Cancelled after 2 of \d+ recipe\(s\): 2 new point/ }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('sweep-row').count(), 2);
  await card.getByLabel('latency runs per recipe').fill('3');

  // Second run to the end, watching the progress text advance.
  await page.getByTestId('sweep').click();
  const seen = new Set();
  for (let i = 0; i < 600 && !/^Swept/.test(await status.textContent()); i++) {
    const m = (await status.textContent()).match(/^(\d+)\/(\d+): /);
    if (m) seen.add(Number(m[1]));
    await page.waitForTimeout(100);
  }
  assert.match(await status.textContent(), new RegExp(`^Swept ${checked} recipe\\(s\\)`));
  assert.ok(seen.size >= 3, `progress seen at steps ${[...seen]}`);
  const rows = page.getByTestId('sweep-row');
  assert.equal(await rows.count(), checked);
  const texts = await rows.allTextContents();
  const measured = texts.filter((t) => /KiB/.test(t));
  assert.ok(measured.length >= 6, texts.join('\n'));
  assert.ok(texts.some((t) => /★ front/.test(t)), 'some recipe is on the Pareto front');
  assert.equal(await page.getByTestId('sweep-chart').locator('canvas').count(), 1);
  // Another axis redraws; a row opens its report.
  await page.getByTestId('sweep-x').selectOption('latency');
  await page.getByTestId('sweep-open').first().click();
  await page.getByTestId('sweep-report-title').waitFor();
  assert.match(await page.getByTestId('sweep-report').textContent(), /Size.*Latency on this device/s);
  mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
  await card.screenshot({ path: join(repoRoot, 'target/e2e/sweep.png') });
  assert.deepEqual(errors, []);
  await page.close();
});
