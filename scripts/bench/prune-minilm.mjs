#!/usr/bin/env node
// Compressing paraphrase-MiniLM-L3 in headless Chromium with the shipped wasm
// builds: tokenising the 64 calibration sentences, then compressing with a
// recipe (prune or quantize; the calibration forward passes are part of it),
// median of --runs per build. The pruning issue's target: Wanda 50% in ≤ 5 s.
//   node scripts/bench/prune-minilm.mjs [--recipe JSON] [--runs N]
// Needs `npm run build` (www/pkg) and ../shared/models/paraphrase_minilm_l3/fetch.sh.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { launchBrowser, repoRoot } from '../../tests/e2e/helpers.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const recipe = opt('--recipe', '{"prune": {"method": "wanda", "sparsity": 0.5}}');
const runs = Number(opt('--runs', 3));
const model = process.env.SQUISH_MINILM ?? join(repoRoot, '.cache/models/paraphrase_minilm_l3/model.onnx');
const dir = process.env.SQUISH_MINILM_DIR ?? join(repoRoot, '../shared/models/paraphrase_minilm_l3');
for (const f of [model, join(dir, 'tokenizer.json'), join(dir, 'sentences.json')]) {
  if (!existsSync(f)) {
    console.error(`${f} not found: run ../shared/models/paraphrase_minilm_l3/fetch.sh first`);
    process.exit(2);
  }
}

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
const text = (u) => fetch(u).then((r) => r.text());
window.prune = async (variant, recipe) => {
  const mod = await import('/pkg/' + variant + '/squish.js');
  await mod.default();
  const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const tokenizer = await text('/tokenizer.json');
  const sentences = JSON.parse(await text('/sentences.json')).calibration;
  const handle = new mod.ModelHandle(bytes);
  const t0 = performance.now();
  const calibration = handle.textInputs(tokenizer, sentences, 128);
  const t1 = performance.now();
  const pruned = handle.compress(recipe, calibration);
  const t2 = performance.now();
  const record = pruned.compressionRecord();
  const zeros = record.entries.reduce((a, e) => a + e.sparsity * e.bytes_after, 0) / record.entries.reduce((a, e) => a + e.bytes_after, 0);
  pruned.free();
  handle.free();
  return { tokenize_ms: t1 - t0, compress_ms: t2 - t1, tensors: record.entries.length, zeros, sentences: sentences.length };
};
window.ready = true;
</script>`;

const files = { '/model.onnx': model, '/tokenizer.json': join(dir, 'tokenizer.json'), '/sentences.json': join(dir, 'sentences.json') };
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x').pathname;
  if (url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  const m = url.match(/^\/pkg\/(simd|relaxed)\/(squish\.js|squish_bg\.wasm)$/);
  const path = m ? join(repoRoot, 'www/pkg', m[1], m[2]) : files[url];
  if (!path || !existsSync(path)) return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': path.endsWith('.js') ? 'text/javascript' : path.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream' });
  createReadStream(path).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await launchBrowser();
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.ready);
  console.log(`recipe ${recipe}, ${runs} runs per build, Chromium ${browser.version()}`);
  for (const variant of ['simd', 'relaxed']) {
    const rs = [];
    for (let i = 0; i < runs; i++) rs.push(await page.evaluate(([v, r]) => window.prune(v, r), [variant, recipe]));
    const total = rs.map((r) => r.tokenize_ms + r.compress_ms);
    console.log(`  ${variant.padEnd(8)} median ${(median(total) / 1000).toFixed(2)} s (tokenise ${median(rs.map((r) => r.tokenize_ms)).toFixed(0)} ms, `
      + `compress with calibration ${(median(rs.map((r) => r.compress_ms)) / 1000).toFixed(2)} s; runs ${total.map((t) => (t / 1000).toFixed(2)).join(', ')} s); `
      + `${rs[0].tensors} tensors, ${(100 * rs[0].zeros).toFixed(1)}% zeros, ${rs[0].sentences} calibration sentences`);
  }
} finally {
  await browser.close();
  server.close();
}
