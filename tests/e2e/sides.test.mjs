// Two sides on the digits demo (#20): side A int8 dynamic, side B 50% Wanda
// + int8; the pad is read by the original and both sides; the summary puts
// the original, A and B together; flipped inputs are drawn; the shared link
// reopened in a fresh page reproduces the recipes, the model bytes, the
// agreement, the accuracy and the flipped indices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { drawOne, repoRoot, servedBrowser } from './helpers.mjs';

const ctx = servedBrowser();

async function open(url) {
  const page = await ctx.browser.newPage({ viewport: { width: 1300, height: 1000 }, acceptDownloads: true });
  const errors = [];
  const requests = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url);
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 5000 });
  return { page, errors, requests };
}

async function modelHash(page, testid) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testid).click()]);
  return createHash('sha256').update(readFileSync(await download.path())).digest('hex');
}

/** What must be equal between the first page and the reopened link. */
async function outcome(page) {
  const row = async (key) => page.getByTestId(`sum-${key}`).locator('td').allTextContents();
  const flips = async (side) => page.getByTestId(side).getByTestId('flip-example').evaluateAll((els) => els.map((e) => Number(e.dataset.index)));
  return {
    recipeA: JSON.parse(await page.getByTestId('recipe').inputValue()),
    recipeB: JSON.parse(await page.getByTestId('recipe-b').inputValue()),
    agreement: await row('agreement'),
    accuracy: await row('accuracy'),
    size: await row('size'),
    flipsA: await flips('side-a'),
    flipsB: await flips('side-b'),
    bytesA: await modelHash(page, 'download-model'),
    bytesB: await modelHash(page, 'download-model-b'),
  };
}

test('two sides on the digits: pad, summary, thumbnails; the shared link reproduces the run', async () => {
  const { page, errors, requests } = await open(ctx.server.url);
  await page.getByTestId('recipe-preset').selectOption('int8 dynamic (onnxruntime format)');
  await page.getByTestId('recipe-preset-b').selectOption('prune 50% (Wanda) + int8 weights');
  await page.getByTestId('compare').click();
  // Sides run one after the other: the status names them while it works.
  await page.getByTestId('compare-status').filter({ hasText: /Compared 1 input set/ }).waitFor({ timeout: 60_000 });
  const summary = page.getByTestId('sides-summary');
  assert.deepEqual(await summary.locator('thead th').allTextContents(), ['', 'original', 'side A', 'side B']);
  for (const key of ['size', 'gzip', 'latency', 'agreement', 'accuracy', 'flipped']) {
    const cells = await page.getByTestId(`sum-${key}`).locator('td').allTextContents();
    assert.equal(cells.length, 3, key);
    assert.ok(cells.every((c) => c && c !== '–'), `${key}: ${cells}`);
  }
  const latency = await page.getByTestId('sum-latency').locator('td').allTextContents();
  assert.ok(latency.every((c) => /^\d+\.\d+ ms$/.test(c)), latency.join());
  // Wanda halves the weights: side B is smaller than A gzipped.
  const kib = (t) => Number(t.match(/[\d.]+/)[0]) * (t.includes('MiB') ? 1024 : t.includes('KiB') ? 1 : 1 / 1024);
  const gz = (await page.getByTestId('sum-gzip').locator('td').allTextContents()).map(kib);
  assert.ok(gz[2] < gz[1], `gzip sizes ${gz}`);
  // Charts with the original, A and B together: calibration (labels given) and SQNR per tensor.
  for (const id of ['sides-reliability', 'sides-sqnr']) await page.getByTestId(id).locator('canvas').waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('sides-reliability').textContent(), /original.*side A.*side B/s);
  // Each side shows its flipped inputs as digit pictures with both answers.
  const flipB = page.getByTestId('side-b').getByTestId('flip-example');
  assert.ok(await flipB.count() > 0, 'side B flips some digits');
  assert.equal(await flipB.first().locator('canvas').count(), 1);
  assert.match(await flipB.first().textContent(), /original \d \([\d.]+%\)compressed \d \([\d.]+%\)label \d/);

  await drawOne(page);
  for (const id of ['pad-original', 'pad-A', 'pad-B']) await page.getByTestId(id).waitFor({ timeout: 5000 });

  const first = await outcome(page);
  await page.getByTestId('share').click();
  const link = await page.getByTestId('share-link').inputValue();
  assert.match(link, /#squish=[A-Za-z0-9_-]+$/);
  mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
  await page.screenshot({ path: join(repoRoot, 'target/e2e/sides.png'), fullPage: true });

  // A fresh page from the link runs the same comparison by itself.
  const again = await open(link);
  await again.page.getByTestId('compare-status').filter({ hasText: /Compared 1 input set/ }).waitFor({ timeout: 60_000 });
  assert.deepEqual(await outcome(again.page), first);
  const origin = new URL(ctx.server.url).origin;
  const foreign = [...requests, ...again.requests].filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u));
  assert.deepEqual(foreign, []);
  assert.deepEqual([...errors, ...again.errors], []);
  await page.close();
  await again.page.close();
});

test('a side B recipe error names side B and keeps side A', async () => {
  const { page } = await open(ctx.server.url);
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared 1 input set/ }).waitFor({ timeout: 60_000 });
  const agreement = await page.getByTestId('tile-agreement').textContent();
  await page.getByTestId('recipe-preset-b').selectOption('int8 weights only');
  await page.getByTestId('recipe-b').fill('{"quantize": {"scheme": "int3"}}');
  await page.getByTestId('compare').click();
  const error = page.getByTestId('compare-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /^side B recipe: .*scheme/);
  assert.equal(await page.getByTestId('tile-agreement').textContent(), agreement);
  // Copy A to B: B's recipe is A's again.
  await page.getByTestId('copy-to-other').click();
  assert.deepEqual(JSON.parse(await page.getByTestId('recipe-b').inputValue()), JSON.parse(await page.getByTestId('recipe').inputValue()));
  await page.close();
});
