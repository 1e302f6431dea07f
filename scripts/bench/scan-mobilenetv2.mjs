#!/usr/bin/env node
// The sparsity scan of mobilenetv2 in headless Chromium with the shipped
// wasm builds: 8 seeded random inputs, every prunable layer at 6 sparsities,
// progress printed per layer; the issue's target is ≤ 60 s.
//   node scripts/bench/scan-mobilenetv2.mjs [--recipe JSON] [--model PATH] [--only simd|relaxed]
// Needs `npm run build` (www/pkg) and ../shared/bench-models (or --model).
import { createReadStream, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { launchBrowser, repoRoot } from '../../tests/e2e/helpers.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const recipe = opt('--recipe', '{"prune": {"method": "wanda", "sparsity": 0.5}}');
const model = opt('--model', join(repoRoot, '../shared/bench-models/mobilenetv2.onnx'));
const variants = opt('--only', null) ? [opt('--only')] : ['simd', 'relaxed'];
if (!existsSync(model)) {
  console.error(`${model} not found (../shared/bench-models, or --model PATH)`);
  process.exit(2);
}

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
window.scan = async (variant, recipe) => {
  const mod = await import('/pkg/' + variant + '/squish.js');
  await mod.default();
  const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const handle = new mod.ModelHandle(bytes);
  const t0 = performance.now();
  const feeds = handle.randomInputs(JSON.stringify({ count: 8, seed: 0, dims: {}, ranges: {} }));
  const scan = new mod.SparsityScan(handle, recipe, feeds);
  const layers = scan.layers();
  for (let i = 0; i < layers.length; i++) {
    scan.measure(i);
    console.log('progress ' + (i + 1) + '/' + layers.length + ' ' + layers[i] + ' ' + ((performance.now() - t0) / 1000).toFixed(1) + ' s');
  }
  const { scan: result } = scan.finish();
  const total_ms = performance.now() - t0;
  scan.free();
  handle.free();
  return { total_ms, layers: layers.length, achieved: result.achieved, suggested: result.suggested };
};
window.ready = true;
</script>`;

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x').pathname;
  if (url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  const m = url.match(/^\/pkg\/(simd|relaxed)\/(squish\.js|squish_bg\.wasm)$/);
  const path = m ? join(repoRoot, 'www/pkg', m[1], m[2]) : url === '/model.onnx' ? model : null;
  if (!path || !existsSync(path)) return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': path.endsWith('.js') ? 'text/javascript' : path.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream' });
  createReadStream(path).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  page.on('console', (m) => m.text().startsWith('progress') && process.stderr.write(`\r  ${m.text()}    `));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.ready);
  console.log(`sparsity scan of ${model.split('/').pop()}, recipe ${recipe}, 8 random inputs, Chromium ${browser.version()}`);
  for (const variant of variants) {
    const r = await page.evaluate(([v, rc]) => window.scan(v, rc), [variant, recipe]);
    process.stderr.write('\n');
    console.log(`  ${variant.padEnd(8)} ${(r.total_ms / 1000).toFixed(1)} s for ${r.layers} layers × 6 levels (inputs made, captured, pruned, run); `
      + `suggested sparsities reach ${(100 * r.achieved).toFixed(1)}%: ${r.suggested.slice(0, 4).map(([n, s]) => `${n.split('/').slice(-3, -1).join('/')} ${Math.round(100 * s)}%`).join(', ')}, …`);
  }
} finally {
  await browser.close();
  server.close();
}
