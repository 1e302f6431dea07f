#!/usr/bin/env node
// Peak memory of the page when a real model is opened, compressed and
// compared: the wasm linear memory of each engine worker (it only grows, so
// its final size bounds the peak) and the peak resident memory (VmHWM) of
// Chromium's renderer process, where the page and its workers live.
//   node scripts/bench/page-memory.mjs [MODEL.onnx] [--recipe PRESET] [--sets N]
// Default model: paraphrase-MiniLM-L3 (69 MB), which
// `../shared/models/paraphrase_minilm_l3/fetch.sh` puts in .cache/models.
// Needs `npm run build` (it serves dist/).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, repoRoot, startServer } from '../../tests/e2e/helpers.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const model = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'))
  ?? join(repoRoot, '.cache/models/paraphrase_minilm_l3/model.onnx');
const preset = opt('--recipe', 'int8 dynamic (onnxruntime format)');
const sets = Number(opt('--sets', 8));
if (!existsSync(model)) {
  console.error(`${model} not found: run ../shared/models/paraphrase_minilm_l3/fetch.sh first`);
  process.exit(2);
}

/** Peak and current resident memory (KiB) of every Chromium renderer process. */
function renderers() {
  const out = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
      out.push({ pid: Number(pid), peakKiB: kib('VmHWM'), nowKiB: kib('VmRSS') });
    } catch { /* the process ended */ }
  }
  return out;
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(server.url);
  await page.getByTestId('predicted-class').waitFor({ timeout: 10_000 });
  const t0 = Date.now();
  await page.getByTestId('open-model').setInputFiles(model);
  await page.getByText(/^Model: /).filter({ hasNotText: 'built-in demo' }).waitFor({ timeout: 60_000 });
  await page.getByTestId('recipe-preset').selectOption(preset);
  await page.getByTestId('input-source').selectOption('random');
  await page.getByLabel('input sets').fill(String(sets));
  await page.getByLabel('dimensions').fill('batch_size=1,sequence_length=128');
  await page.getByLabel('value ranges').fill('input_ids=1000:30000');
  await page.getByLabel('timed runs').fill('5');
  await page.getByLabel('warm-up runs').fill('5');
  await page.getByTestId('compare').click();
  await page.waitForFunction(() => {
    const root = document.querySelector('squish-playground').shadowRoot;
    const status = root.querySelector('[data-testid=compare-status]').textContent;
    return /Compared \d+ input set/.test(status) || !root.querySelector('[data-testid=compare-error]').hidden;
  }, null, { timeout: 600_000, polling: 500 });
  const error = page.getByTestId('compare-error');
  if (await error.isVisible()) throw new Error(`compare failed: ${await error.textContent()}`);
  const seconds = (Date.now() - t0) / 1000;
  const workers = [];
  for (const w of page.workers()) {
    workers.push(await w.evaluate(() => (typeof self.squishMemoryBytes === 'function' ? self.squishMemoryBytes() : null)));
  }
  const mib = (b) => (b / 2 ** 20).toFixed(0);
  console.log(`model ${model} (${mib(statSync(model).size)} MiB), recipe "${preset}", ${sets} random input sets: opened, compressed and compared in ${seconds.toFixed(1)} s`);
  workers.forEach((b, i) => console.log(`worker ${i}: wasm memory ${b == null ? 'no wasm loaded' : `${mib(b)} MiB`}`));
  const total = workers.reduce((s, b) => s + (b ?? 0), 0);
  console.log(`wasm memory, all workers: ${mib(total)} MiB`);
  for (const r of renderers()) console.log(`renderer ${r.pid}: peak resident ${mib(r.peakKiB * 1024)} MiB (now ${mib(r.nowKiB * 1024)} MiB)`);
} finally {
  await browser.close();
  await server.close();
}
