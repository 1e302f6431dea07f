#!/usr/bin/env node
// Target mode on paraphrase-MiniLM-L3 in headless Chromium with the shipped
// wasm builds: tokenising the 96 evaluation sentences (searched, a quarter
// held back) and the 64 calibration ones, then the whole search for the
// smallest int4/int8/fp16 mix whose pooled embedding keeps the target,
// median of --runs per build. The issue's bound: ≤ 60 s.
//   node scripts/bench/target-minilm.mjs [--recipe JSON] [--runs N] [--builds simd,relaxed]
// Needs `npm run build` (www/pkg) and ../shared/models/paraphrase_minilm_l3/fetch.sh.
import { median, minilmFiles, opt, openPage } from './minilm-server.mjs';

// 461: the pooled sentence embedding.
const recipe = opt('--recipe', '{"quantize": {"scheme": "int4_block", "rounding": "gptq"}, "target": {"metric": "min_cosine", "at_least": 0.99, "output": "461"}}');
const runs = Number(opt('--runs', 1));
const builds = opt('--builds', 'simd,relaxed').split(',');
const files = minilmFiles();

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
const text = (u) => fetch(u).then((r) => r.text());
window.search = async (variant, recipe) => {
  const mod = await import('/pkg/' + variant + '/squish.js');
  await mod.default();
  const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const tokenizer = await text('/tokenizer.json');
  const all = JSON.parse(await text('/sentences.json'));
  const sentences = all.eval;
  const handle = new mod.ModelHandle(bytes);
  const t0 = performance.now();
  const inputs = handle.textInputs(tokenizer, sentences, 128);
  // GPTQ calibrates on the 64 calibration sentences, apart from those searched and held back.
  const calibration = handle.textInputs(tokenizer, all.calibration, 128);
  const t1 = performance.now();
  const search = new mod.TargetSearch(handle, recipe, inputs, null, calibration);
  const t2 = performance.now();
  const stages = {};
  let last = t2;
  for (let p; (p = search.step()); ) {
    const now = performance.now();
    stages[p.stage] = (stages[p.stage] ?? 0) + (now - last);
    last = now;
  }
  const { report, markdown } = search.finish();
  const t3 = performance.now();
  search.free();
  handle.free();
  return { tokenize_ms: t1 - t0, start_ms: t2 - t1, search_ms: t3 - t2, stages, markdown, timings: report.timings, found: report.found, no_smaller_uniform: report.no_smaller_uniform };
};
window.ready = true;
</script>`;

const { page, browser, close } = await openPage(PAGE, files);
let lastMarkdown = '';
try {
  console.log(`recipe ${recipe}, ${runs} run(s) per build, Chromium ${browser.version()}`);
  for (const variant of builds) {
    const rs = [];
    for (let i = 0; i < runs; i++) rs.push(await page.evaluate(([v, r]) => window.search(v, r), [variant, recipe]));
    lastMarkdown = rs.at(-1).markdown;
    const total = rs.map((r) => r.start_ms + r.search_ms);
    const stages = Object.entries(rs[0].stages).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ');
    console.log(`  ${variant.padEnd(8)} search median ${(median(total) / 1000).toFixed(1)} s (runs ${total.map((t) => (t / 1000).toFixed(1)).join(', ')} s; `
      + `tokenise ${median(rs.map((r) => r.tokenize_ms)).toFixed(0)} ms; first compression ${(rs[0].start_ms / 1000).toFixed(1)} s, ${stages}; `
      + `in all: ${Object.entries(rs[0].timings).map(([k, v]) => `${k.replace('_ms', '')} ${(v / 1000).toFixed(1)} s`).join(', ')})`);
  }
  console.log(`\n${lastMarkdown}`);
} finally {
  await close();
}
