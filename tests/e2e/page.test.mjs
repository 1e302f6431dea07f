// The playground page (#20): the model view (sortable, searchable layer
// table, op histogram, weight histograms overlaid after compression), the
// drawing pad, files dropped on the page or named by ?model=URL, keyboard
// and screen-reader checks (axe-core), and the layout at 360 and 1440 px.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { drawOne, repoRoot, servedBrowser } from './helpers.mjs';

const ctx = servedBrowser();
const shots = join(repoRoot, 'target/e2e');

async function openPage({ width = 1200, height = 1000, query = '' } = {}) {
  const page = await ctx.browser.newPage({ viewport: { width, height } });
  const errors = [];
  const requests = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(ctx.server.url + query);
  return { page, errors, requests };
}

async function waitForDemo(page) {
  await page.getByTestId('predicted-class').waitFor({ state: 'visible', timeout: 5000 });
  await page.getByTestId('layer-count').filter({ hasText: /layer\(s\)/ }).waitFor({ timeout: 5000 });
}

async function compareAndWait(page, preset) {
  if (preset) await page.getByTestId('recipe-preset').selectOption(preset);
  await page.getByTestId('compare').click();
  await page.getByTestId('compare-status').filter({ hasText: /Compared \d+ input set/ }).waitFor({ timeout: 30_000 });
}

/** Drops files (name + bytes) on the document, as a user dragging them from the desktop does. */
async function dropFiles(page, files) {
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
    for (const type of ['dragenter', 'dragover', 'drop']) {
      document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, files.map((f) => ({ name: f.name, bytes: [...f.bytes] })));
}

const cellTexts = (page, column) => page.getByTestId('layer-table').evaluate((table, col) => {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.replace(/[▲▼]/g, '').trim());
  const i = heads.indexOf(col);
  return [...table.querySelectorAll('tbody tr')].map((tr) => tr.children[i].textContent);
}, column);

test('model view: layer table sorts and filters, weight histograms overlay after compression', async () => {
  const { page, errors } = await openPage();
  await waitForDemo(page);
  // digits_mlp: three MatMul + Add layers, two Relu, the softmax.
  assert.match(await page.getByTestId('op-histogram').textContent(), /MatMul3/);
  const count = await page.getByTestId('layer-count').textContent();
  const total = Number(count.match(/of (\d+) layer/)[1]);
  assert.ok(total >= 6, count);
  // Sort by parameters, largest first (second click on the header).
  const sortButton = page.getByTestId('layer-table').getByRole('button', { name: 'parameters' });
  await sortButton.click();
  await page.getByTestId('layer-table').getByRole('button', { name: /parameters/ }).click();
  const params = (await cellTexts(page, 'parameters')).map((t) => Number(t.replace(/,/g, '') || 0));
  assert.deepEqual(params, [...params].sort((a, b) => b - a));
  assert.equal(params[0], 64 * 64);
  assert.equal(await page.getByTestId('layer-table').locator('th[aria-sort=descending]').count(), 1);
  // Filter by op.
  await page.getByTestId('layer-search').fill('matmul');
  await page.getByTestId('layer-count').filter({ hasText: `3 of ${total}` }).waitFor();
  assert.deepEqual(await cellTexts(page, 'op'), ['MatMul', 'MatMul', 'MatMul']);
  assert.deepEqual(await cellTexts(page, 'input shape'), ['?×64', '?×64', '?×32']);
  // The biggest weight's histogram, with its statistics.
  const caption = page.getByTestId('weight-histogram-caption');
  await caption.filter({ hasText: /min .* max .* std/ }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('weight-histogram-view').locator('canvas').count(), 1);

  // int4 per tensor: after compression, the table gains a column and the histogram shows both.
  await compareAndWait(page, 'int4 per tensor, every layer (destructive)');
  await caption.filter({ hasText: /original \(grey\) and after quantize int4_weight/ }).waitFor({ timeout: 5000 });
  const after = await cellTexts(page, 'after compression');
  assert.ok(after.every((t) => /int4_weight · .* · [\d.]+% zeros/.test(t)), after.join(' | '));
  // Another tensor: still before/after (every quantised tensor has its histogram).
  const options = await page.getByTestId('weight-tensor').locator('option').allTextContents();
  assert.ok(options.length >= 3, options.join());
  await page.getByTestId('weight-tensor').selectOption({ index: 1 });
  await caption.filter({ hasText: /after quantize/ }).waitFor({ timeout: 5000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('drawing pad: both models read the drawing once a compressed model exists', async () => {
  const { page, errors } = await openPage();
  await waitForDemo(page);
  await drawOne(page);
  const original = page.getByTestId('pad-original');
  await original.waitFor({ timeout: 5000 });
  assert.equal(await original.textContent(), '1');
  assert.match(await page.getByTestId('pad-prediction').textContent(), /Compress the model/);
  await compareAndWait(page, 'int8 dynamic (onnxruntime format)');
  const compressed = page.getByTestId('pad-A');
  await compressed.waitFor({ timeout: 5000 });
  assert.equal(await compressed.textContent(), '1');
  await page.getByTestId('clear-pad').click();
  await page.getByTestId('pad-prediction').filter({ hasText: /Draw a digit/ }).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('files dropped on the page: a model opens, a bad one leaves the previous model, external data is named', async () => {
  const { page, errors } = await openPage();
  await waitForDemo(page);
  const pnet = readFileSync(join(repoRoot, 'tests/fixtures/mtcnn_pnet/model.onnx'));
  await dropFiles(page, [{ name: 'pnet.onnx', bytes: pnet }]);
  await page.getByTestId('model-summary').filter({ hasText: 'pnet.onnx' }).waitFor({ timeout: 5000 });
  await page.getByTestId('layer-count').filter({ hasText: /of \d+ layer/ }).waitFor();
  assert.match(await page.getByTestId('op-histogram').textContent(), /Conv/);
  assert.ok(await page.getByTestId('demo').isHidden());

  await dropFiles(page, [{ name: 'broken.onnx', bytes: pnet.subarray(0, 300) }]);
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible', timeout: 3000 });
  assert.match(await error.textContent(), /broken\.onnx: cannot decode ONNX model/);
  assert.match(await page.getByTestId('model-summary').textContent(), /pnet\.onnx/);

  await dropFiles(page, [{ name: 'model.onnx.data', bytes: Buffer.from([1, 2, 3]) }]);
  await error.filter({ hasText: /model\.onnx\.data: not a file Squish opens by itself.*together with its \.onnx/ }).waitFor({ timeout: 3000 });
  // A model with its weights in an external data file: without the file, the error names it; with it, the model opens.
  const externalModel = readFileSync(join(repoRoot, 'tests/fixtures/external/digits_external.onnx'));
  const externalData = readFileSync(join(repoRoot, 'tests/fixtures/external/digits_external.onnx.data'));
  await dropFiles(page, [{ name: 'digits_external.onnx', bytes: externalModel }]);
  await error.filter({ hasText: /digits_external\.onnx: .*external file 'digits_external\.onnx\.data', which was not provided: open it together/ }).waitFor({ timeout: 3000 });
  assert.match(await page.getByTestId('model-summary').textContent(), /pnet\.onnx/);
  await dropFiles(page, [{ name: 'digits_external.onnx', bytes: externalModel }, { name: 'digits_external.onnx.data', bytes: externalData }]);
  await page.getByTestId('model-summary').filter({ hasText: 'digits_external.onnx' }).waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('model-summary').textContent(), /Parameters6,570/);

  // A model with an input file: the compare card reads the inputs from it.
  const digits = readFileSync(join(repoRoot, 'tests/fixtures/digits_mlp/model.onnx'));
  const samples = readFileSync(join(repoRoot, 'tests/fixtures/digits_mlp/X_test.npy'));
  await dropFiles(page, [{ name: 'digits.onnx', bytes: digits }, { name: 'X_test.npy', bytes: samples }]);
  await page.getByTestId('model-summary').filter({ hasText: 'digits.onnx' }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByTestId('input-file-name').textContent(), 'X_test.npy');
  await compareAndWait(page, 'int8 dynamic (onnxruntime format)');
  assert.match(await page.getByTestId('compare-status').textContent(), /Compared 1 input set/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('?model=URL opens that model, with download progress, from the page origin', async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1200, height: 900 } });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const onet = readFileSync(join(repoRoot, 'tests/fixtures/mtcnn_onet/model.onnx'));
  await page.route('**/models/onet.onnx', (route) => route.fulfill({ body: onet, contentType: 'application/octet-stream' }));
  await page.goto(`${ctx.server.url}?model=models/onet.onnx`);
  await page.getByTestId('model-summary').filter({ hasText: 'onet.onnx' }).waitFor({ timeout: 10_000 });
  assert.ok(await page.getByTestId('demo').isHidden());
  const origin = new URL(ctx.server.url).origin;
  assert.deepEqual(requests.filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u)), []);
  await page.close();
});

/** Serious and critical axe-core violations on the page as it is now (shadow DOM included). */
async function axeViolations(page) {
  await page.addScriptTag({ path: join(repoRoot, 'node_modules/axe-core/axe.min.js') });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Visible controls in the widget whose boxes overlap (more than a pixel each way). */
async function overlappingControls(page) {
  return page.evaluate(() => {
    const root = document.querySelector('squish-playground').shadowRoot;
    const boxes = [...root.querySelectorAll('button, select, input:not([type=file]), textarea, label.button, canvas')]
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ el, r }) => r.width > 0 && r.height > 0 && el.checkVisibility({ visibilityProperty: true }));
    const name = (el) => `${el.tagName.toLowerCase()}[${el.dataset.testid ?? el.getAttribute('aria-label') ?? el.textContent.trim().slice(0, 24)}]`;
    const out = [];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i], boxes[j]];
        if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
        const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
        const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
        if (w > 1 && h > 1) out.push(`${name(a.el)} × ${name(b.el)}`);
      }
    }
    return out;
  });
}

for (const width of [360, 1440]) {
  test(`layout at ${width} px: nothing wider than the screen, no overlapping controls, no serious axe violations`, async () => {
    const { page, errors } = await openPage({ width, height: 900 });
    await waitForDemo(page);
    await page.getByTestId('recipe-preset-b').selectOption('int4 per tensor, every layer (destructive)');
    await compareAndWait(page, 'prune 50% (Wanda) + int8 weights');
    await page.getByTestId('weight-histogram-caption').filter({ hasText: /after/ }).waitFor({ timeout: 5000 });
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= width, `scrollWidth ${scrollWidth} > ${width}`);
    assert.deepEqual(await overlappingControls(page), []);
    assert.deepEqual(await axeViolations(page), []);
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, `page-${width}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });
}

test('keyboard: the Open model button and the layer-table sorting are reachable and operable', async () => {
  const { page } = await openPage();
  // Intercepting file choosers is switched on when the first listener is added: do it before the key press.
  const choosers = [];
  page.on('filechooser', (c) => choosers.push(c));
  await waitForDemo(page);
  const openButton = page.getByRole('button', { name: 'Open model…' });
  await openButton.focus();
  const focused = await page.evaluate(() => document.querySelector('squish-playground').shadowRoot.activeElement?.textContent);
  assert.equal(focused, 'Open model…');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => true);
  for (let i = 0; i < 50 && !choosers.length; i++) await page.waitForTimeout(100);
  assert.equal(choosers.length, 1, 'Enter on "Open model…" opens the file chooser');
  const sort = page.getByTestId('layer-table').getByRole('button', { name: 'op' });
  await sort.focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('layer-table').locator('th[aria-sort=ascending]').filter({ hasText: 'op' }).waitFor();
  await page.close();
});

test('built-in demos: an image CNN and a text model, each with inputs that suit it; a link to one reopens it', async () => {
  const { page, errors, requests } = await openPage();
  await waitForDemo(page);
  await page.getByTestId('demo-picker').selectOption('onet');
  await page.getByTestId('model-summary').filter({ hasText: 'mtcnn_onet.onnx' }).waitFor({ timeout: 10_000 });
  assert.ok(await page.getByTestId('demo').isHidden());
  assert.equal(await page.getByTestId('input-source').inputValue(), 'random');
  assert.equal(await page.getByLabel('dimensions').inputValue(), 'batch=1');
  await compareAndWait(page, 'int8 static, calibrated on the inputs (QDQ)');
  assert.match(await page.getByTestId('compare-status').textContent(), /Compared 16 input set/);
  assert.ok(await page.getByTestId('probes-panel').isVisible(), 'tensor noise probes on the image CNN');
  await page.getByTestId('share').click();
  const link = await page.getByTestId('share-link').inputValue();

  await page.getByTestId('demo-picker').selectOption('text');
  await page.getByTestId('model-summary').filter({ hasText: 'text_classifier.onnx' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.getByTestId('input-source').inputValue(), 'text');
  await compareAndWait(page, 'int8 weights only');
  assert.match(await page.getByTestId('compare-status').textContent(), /Compared 4 input set/);
  // 60 seeded sentences of vocabulary words: int4 per tensor flips some; each flip shows its text and the tokens read.
  const vocab = Object.keys(JSON.parse(readFileSync(join(repoRoot, 'tests/fixtures/text/tokenizer.json'), 'utf8')).model.vocab).filter((t) => /^[a-z]{3,}$/.test(t));
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines = Array.from({ length: 60 }, () => Array.from({ length: 3 + Math.floor(rnd() * 5) }, () => vocab[Math.floor(rnd() * vocab.length)]).join(' '));
  await page.getByTestId('texts').fill(lines.join('\n'));
  await compareAndWait(page, 'int4 per tensor, every layer (destructive)');
  const flipped = page.getByTestId('side-a').getByTestId('flip-example');
  assert.ok(await flipped.count() > 0, 'int4 per tensor flips some of the 60 sentences');
  const index = Number(await flipped.first().getAttribute('data-index'));
  assert.ok((await flipped.first().textContent()).startsWith(lines[index]));
  assert.match(await flipped.first().getByTestId('example-tokens').textContent(), /^\[CLS\].+\[SEP\]$/);
  // Back to the digits: the demo card and the pad return.
  await page.getByTestId('demo-picker').selectOption('digits');
  await page.getByTestId('model-summary').filter({ hasText: 'digits_mlp.onnx' }).waitFor({ timeout: 10_000 });
  assert.ok(await page.getByTestId('demo').isVisible());

  const again = await openPage({ query: link.slice(ctx.server.url.length) });
  await again.page.getByTestId('model-summary').filter({ hasText: 'mtcnn_onet.onnx' }).waitFor({ timeout: 10_000 });
  await again.page.getByTestId('compare-status').filter({ hasText: /Compared 16 input set/ }).waitFor({ timeout: 60_000 });
  assert.match(await again.page.getByTestId('recipe').inputValue(), /int8_static/);
  const origin = new URL(ctx.server.url).origin;
  assert.deepEqual([...requests, ...again.requests].filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u)), []);
  assert.deepEqual([...errors, ...again.errors], []);
  await page.close();
  await again.page.close();
});
