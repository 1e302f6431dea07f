#!/usr/bin/env node
// Generates the test data that is too large or too version-bound to commit,
// with the pinned Python tools in .cache/venv (made by `setup.sh --test`):
//  - the official ONNX node conformance cases → .cache/onnx-node/
//  - onnxruntime reference outputs for the timing models → .cache/bench-refs/
//    (only where the models exist: $SQUISH_BENCH_MODELS or ../shared/bench-models)
// Both steps are cached. Returns the environment the Rust tests need.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.cache/venv/bin/python');

function py(args) {
  execFileSync(python, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
}

export function prepareTestData() {
  if (!existsSync(python)) throw new Error(`${python} is missing: run "bash scripts/setup.sh --test" first`);
  py(['scripts/gen_conformance.py', '.cache/onnx-node']);
  const env = { SQUISH_ONNX_NODE_TESTS: join(root, '.cache/onnx-node/node') };
  const models = process.env.SQUISH_BENCH_MODELS || resolve(root, '../shared/bench-models');
  if (existsSync(models)) {
    py(['scripts/make_references.py', models, '.cache/bench-refs']);
    Object.assign(env, { SQUISH_BENCH_MODELS: models, SQUISH_BENCH_REFS: join(root, '.cache/bench-refs') });
  } else {
    console.log(`[test-data] no timing models at ${models}: the bench-models and bench-python layers are not run`);
  }
  return env;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(prepareTestData());
}
