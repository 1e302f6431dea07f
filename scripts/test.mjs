#!/usr/bin/env node
// Runs every test layer, streams their output, and closes with one line
// "N passed, N failed" over all of them. Exits non-zero if anything failed.
//   node scripts/test.mjs [--only LAYER[,LAYER…]]  (lint, rust, wasm-node, wasm-browser, cli, python, e2e, bench-models, bench-python, minilm-python, minilm-e2e)
// Expects `npm run build` to have run (the CLI and e2e layers use dist/ and www/pkg/).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareTestData } from './prepare-test-data.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const chromedriver = process.env.CHROMEDRIVER || '/usr/bin/chromedriver';

// The browser layer's WebDriver capabilities: our flags plus the browser binary.
function webdriverConfig() {
  const caps = JSON.parse(readFileSync(join(root, 'tests/wasm/webdriver.json'), 'utf8'));
  caps['goog:chromeOptions'].binary = chromium;
  mkdirSync(join(root, 'target'), { recursive: true });
  const path = join(root, 'target/webdriver.json');
  writeFileSync(path, JSON.stringify(caps, null, 2));
  return path;
}

const LAYER_TIMEOUT_MIN = 20;

const LAYERS = [
  { name: 'lint', what: 'cargo fmt --check, clippy -D warnings (native and wasm32)', cmd: process.execPath, args: ['scripts/lint.mjs'], parse: 'node' },
  // --no-fail-fast: one failing test binary must not hide the others' results.
  { name: 'rust', what: 'native Rust (unit, integration, real models, ONNX conformance allow-list)', cmd: 'cargo',
    args: ['test', '--no-fail-fast', '--features', 'bench'], parse: 'cargo' },
  { name: 'wasm-node', what: 'wasm in Node (baseline SIMD128 build)', cmd: 'cargo',
    args: ['test', '--no-fail-fast', '--features', 'bench', '--lib', '--target', 'wasm32-unknown-unknown'], parse: 'cargo' },
  { name: 'wasm-browser', what: 'wasm in headless Chromium (relaxed-SIMD build)', cmd: 'cargo',
    args: ['test', '--no-fail-fast', '--features', 'bench', '--lib', '--target', 'wasm32-unknown-unknown', '--target-dir', 'target/relaxed'], parse: 'cargo',
    env: () => ({
      RUSTFLAGS: '-C target-feature=+simd128,+relaxed-simd',
      WASM_BINDGEN_USE_BROWSER: '1',
      CHROMEDRIVER: chromedriver,
      WASM_BINDGEN_TEST_WEBDRIVER_JSON: webdriverConfig(),
      // The runner gives ChromeDriver 5 s to start by default: too short on a busy 2-core machine.
      WASM_BINDGEN_TEST_DRIVER_TIMEOUT: '60',
      WASM_BINDGEN_TEST_TIMEOUT: '120',
    }),
    // ChromeDriver failing to start is the machine, not the code: one retry.
    retryOn: /driver failed to bind port/ },
  { name: 'cli', what: 'CLI (Node, wasm build)', cmd: process.execPath, args: ['--test', 'tests/cli/'], parse: 'node' },
  { name: 'python', what: 'cross-checks with onnxruntime (convert, run, every compressed variant)', cmd: join(root, '.cache/venv/bin/python'),
    args: ['-m', 'unittest', '-v', 'tests/python/test_cross_check.py', 'tests/python/test_quant_cross_check.py', 'tests/python/test_distill_cross_check.py', 'tests/python/test_on_the_job_cross_check.py'], parse: 'unittest' },
  { name: 'e2e', what: 'page end to end (Playwright, headless Chromium)', cmd: process.execPath,
    args: ['--test', 'tests/e2e/'], parse: 'node' },
  // The timing models are too large for the repository: these layers run
  // when ../shared/bench-models (or $SQUISH_BENCH_MODELS) exists and are
  // reported as "not run" otherwise (their tests fail when run without them).
  { name: 'bench-models', what: 'timing models vs onnxruntime (native)', cmd: 'cargo', needsBenchModels: true,
    args: ['test', '--features', 'bench', '--test', 'bench_models_native', '--', '--ignored'], parse: 'cargo' },
  { name: 'bench-python', what: 'bert_minilm int8 cosine vs onnxruntime quantize_dynamic', needsBenchModels: true,
    cmd: join(root, '.cache/venv/bin/python'), args: ['-m', 'unittest', '-v', 'tests/python/test_bert_int8_cosine.py'], parse: 'unittest' },
  // paraphrase-MiniLM-L3's weights come from PyPI (69 MB, fetch.sh): run when fetched.
  { name: 'minilm-python', what: 'MiniLM int8 on the job: length slices and text probes vs tokenizers/onnxruntime', needsMinilm: true,
    cmd: join(root, '.cache/venv/bin/python'), args: ['-m', 'unittest', '-v', 'tests/python/test_minilm_on_the_job.py'], parse: 'unittest' },
  { name: 'minilm-e2e', what: 'MiniLM dropped on the page, int8, 16 sentences: stage times, peak memory', needsMinilm: true,
    cmd: process.execPath, args: ['--test', 'tests/e2e-minilm/'], parse: 'node' },
];

const MINILM = process.env.SQUISH_MINILM ?? join(root, '.cache/models/paraphrase_minilm_l3/model.onnx');

function count(kind, text) {
  let passed = 0;
  let failed = 0;
  if (kind === 'cargo') {
    for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
      passed += Number(m[1]);
      failed += Number(m[2]);
    }
  } else if (kind === 'unittest') {
    const ran = text.match(/^Ran (\d+) tests?/m);
    const bad = text.match(/^FAILED \((?:failures=(\d+))?(?:, )?(?:errors=(\d+))?/m);
    failed = bad ? Number(bad[1] ?? 0) + Number(bad[2] ?? 0) : 0;
    passed = ran ? Number(ran[1]) - failed : 0;
  } else {
    for (const m of text.matchAll(/^# pass (\d+)$/gm)) passed += Number(m[1]);
    for (const m of text.matchAll(/^# fail (\d+)$/gm)) failed += Number(m[1]);
  }
  return { passed, failed };
}

function runLayer(layer) {
  return new Promise((resolve) => {
    console.log(`\n=== ${layer.name}: ${layer.what}`);
    const t0 = Date.now();
    const child = spawn(layer.cmd, layer.args, {
      cwd: root, env: { ...process.env, ...(layer.env?.() ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout can stop the test binaries too
    });
    let text = '';
    // A hung layer must not hang the suite: stop it after LAYER_TIMEOUT_MIN.
    const timer = setTimeout(() => {
      text += `\n[test] ${layer.name} exceeded ${LAYER_TIMEOUT_MIN} minutes: stopped\n`;
      console.error(`[test] ${layer.name} exceeded ${LAYER_TIMEOUT_MIN} minutes: stopped`);
      try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, LAYER_TIMEOUT_MIN * 60_000);
    child.stdout.on('data', (d) => { text += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { text += d; process.stderr.write(d); });
    child.on('close', (code) => {
      clearTimeout(timer);
      const c = count(layer.parse, text);
      // A layer that crashed (build error, runner failure) counts as a failure even if no test reported one.
      if (code !== 0 && c.failed === 0) c.failed = 1;
      if (code === 0 && c.passed === 0) c.failed += 1; // ran no test: that is a failure too
      resolve({ ...layer, ...c, code, text, seconds: (Date.now() - t0) / 1000 });
    });
    child.on('error', (e) => {
      console.error(`cannot run ${layer.cmd}: ${e.message}`);
      resolve({ ...layer, passed: 0, failed: 1, code: -1, seconds: 0 });
    });
  });
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const wanted = only ? only.split(',') : null;
const layers = wanted ? LAYERS.filter((l) => wanted.includes(l.name)) : LAYERS;
if (layers.length === 0 || (wanted && layers.length !== wanted.length)) {
  console.error(`unknown layer '${only}'; one of: ${LAYERS.map((l) => l.name).join(', ')}`);
  process.exit(2);
}
const results = [];
const dataEnv = prepareTestData();
Object.assign(process.env, dataEnv);
for (const layer of layers) {
  if (layer.needsBenchModels && !process.env.SQUISH_BENCH_MODELS) {
    results.push({ ...layer, passed: 0, failed: 0, seconds: 0, notRun: 'no timing models (../shared/bench-models)' });
    continue;
  }
  if (layer.needsMinilm && !existsSync(MINILM)) {
    results.push({ ...layer, passed: 0, failed: 0, seconds: 0, notRun: 'MiniLM not fetched (../shared/models/paraphrase_minilm_l3/fetch.sh)' });
    continue;
  }
  let r = await runLayer(layer);
  if (r.failed > 0 && layer.retryOn?.test(r.text)) {
    console.log(`\n[test] ${layer.name}: retrying once (${layer.retryOn.source})`);
    r = await runLayer(layer);
  }
  results.push(r);
}

console.log('\n=== summary');
for (const r of results) {
  if (r.notRun) {
    console.log(`${r.name.padEnd(13)} not run: ${r.notRun}  ${r.what}`);
    continue;
  }
  console.log(`${r.name.padEnd(13)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${r.seconds.toFixed(0).padStart(4)} s  ${r.what}`);
}
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
