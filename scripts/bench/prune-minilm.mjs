#!/usr/bin/env node
// Compressing paraphrase-MiniLM-L3 in headless Chromium with the shipped wasm
// builds: tokenising the 64 calibration sentences, then compressing with a
// recipe (prune or quantize; the calibration forward passes are part of it),
// median of --runs per build. The pruning issue's target: Wanda 50% in ≤ 5 s.
//   node scripts/bench/prune-minilm.mjs [--recipe JSON] [--runs N]
// Needs `npm run build` (www/pkg) and ../shared/models/paraphrase_minilm_l3/fetch.sh.
import { median, minilmFiles, opt, openPage } from './minilm-server.mjs';

const recipe = opt('--recipe', '{"prune": {"method": "wanda", "sparsity": 0.5}}');
const runs = Number(opt('--runs', 3));
const files = minilmFiles();

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

const { page, browser, close } = await openPage(PAGE, files);
try {
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
  await close();
}
