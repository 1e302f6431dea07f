// Compressed models load and run in onnxruntime-web (wasm backend, Node),
// and agree with Squish's own outputs on the same compressed model
// (same tolerances as the Python cross-check: README, "Quantisation recipes").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { loadEngine } from '../../www/cli/engine.mjs';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const root = fileURLToPath(new URL('../..', import.meta.url));

const RECIPES = [
  [{ scheme: 'fp16' }, 1e-4],
  [{ scheme: 'bf16' }, 1e-4],
  [{ scheme: 'int8_weight' }, 1e-4],
  [{ scheme: 'int8_dynamic' }, null],
  [{ scheme: 'int8_static', calibration: { method: 'minmax' } }, null],
  [{ scheme: 'int4_block' }, 1e-4],
  [{ scheme: 'int8_block', symmetric: false, block_size: 64 }, 1e-4],
  // Pruned models are plain float models with zeros in their weights.
  [{ prune: { method: 'magnitude', sparsity: 0.5, scope: 'global' } }, 1e-4],
  [{ prune: { method: 'wanda', pattern: '2:4' } }, 1e-4],
  [{ prune: { method: 'sparsegpt', sparsity: 0.5 } }, 1e-4],
  [{ prune: { method: 'magnitude', sparsity: 0.9, storage: 'sparse_initializer' } }, 1e-4],
  [{ prune: { method: 'wanda', sparsity: 0.5 }, quantize: { scheme: 'int8_dynamic' } }, null],
];

// The synthetic text encoder's tables: GatherBlockQuantized (block schemes),
// per-row int8, GPTQ rounding and equalised int8_static.
const TABLE_RECIPES = [
  [{ scheme: 'int4_block' }, 1e-4],
  [{ scheme: 'int8_block', block_size: 32 }, 1e-4],
  [{ scheme: 'int4_block', symmetric: true, rounding: 'gptq' }, 1e-4],
  [{ scheme: 'int8_dynamic' }, null],
  [{ scheme: 'int8_static', smooth: {} }, null],
];

for (const [name, recipes] of [['digits_mlp', RECIPES], ['mtcnn_pnet', RECIPES], ['oww_hey_jarvis', RECIPES], ['synthetic/text_embedding', TABLE_RECIPES]]) {
  test(`${name}: every compressed variant runs in onnxruntime-web and agrees with Squish`, async () => {
    const engine = await loadEngine();
    const dir = join(root, 'tests/fixtures', name);
    const bytes = readFileSync(join(dir, 'model.onnx'));
    const original = new engine.ModelHandle(bytes);
    const inputs = original.summary().inputs.map((vi, j) => ({ ...engine.readTensorProto(readFileSync(join(dir, `test_data_set_0/input_${j}.pb`))), name: vi.name }));
    for (const [recipe, tol] of recipes) {
      // Squish runs the file it wrote, as onnxruntime-web does.
      const compressed = original.compress(JSON.stringify(recipe), [inputs]);
      const model = compressed.toBytes();
      compressed.free();
      const ours = new engine.ModelHandle(model);
      const got = ours.run(inputs).outputs;
      ours.free();
      const sess = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
      const feeds = Object.fromEntries(inputs.map((t) => [t.name, new ort.Tensor(t.dtype, t.data, t.dims)]));
      const want = await sess.run(feeds);
      for (const g of got) {
        const w = want[g.name];
        assert.deepEqual([...w.dims], g.dims, `${JSON.stringify(recipe)} ${g.name}`);
        // Weight-only: elementwise 1e-4·(1+|ref|). Quantised activations: 1% of
        // the output range (one-code flips propagate; README).
        let worst = -1;
        const range = Math.max(1, ...Array.from(w.data, Math.abs));
        for (let i = 0; i < g.data.length; i++) {
          const d = Math.abs(g.data[i] - w.data[i]);
          worst = Math.max(worst, tol === null ? d - 1e-2 * range : d - tol * (1 + Math.abs(w.data[i])));
        }
        assert.ok(worst <= 0, `${name} ${JSON.stringify(recipe)} ${g.name}: differs from onnxruntime-web beyond the bound by ${worst}`);
      }
      await sess.release();
    }
    original.free();
  });
}

// Students from distillation (a new MLP and CNN, the model fine-tuned while
// pruned gradually, an int4 model fine-tuned as codes): 1e-4·(1+|ref|) on the test split.
test('digits_mlp: distilled students run in onnxruntime-web and agree with Squish', async () => {
  const engine = await loadEngine();
  const dir = join(root, 'tests/fixtures/digits_mlp');
  const teacher = new engine.ModelHandle(readFileSync(join(dir, 'model.onnx')));
  const x = { ...engine.readNpy(readFileSync(join(dir, 'X_train.npy'))), name: 'X' };
  const xTest = { ...engine.readNpy(readFileSync(join(dir, 'X_test.npy'))), name: 'X' };
  const int4 = teacher.compress('{"quantize":{"scheme":"int4_weight"}}', [[x]]);
  const runs = [
    new engine.Distillation(teacher, '{"student":"mlp:16,8","epochs":3,"learning_rate":0.01}', [[x]], null),
    new engine.Distillation(teacher, '{"student":"cnn:4,8","epochs":2,"learning_rate":0.01}', [[x]], null),
    engine.Distillation.finetune(teacher, teacher, '{"epochs":4,"learning_rate":0.01,"gradual":{"sparsity":0.8}}', [[x]], null),
    engine.Distillation.finetune(teacher, int4, '{"epochs":2,"learning_rate":0.002}', [[x]], null),
  ];
  for (const run of runs) {
    while (run.step()) {
      // one minibatch per call
    }
    const student = run.student();
    const model = student.toBytes();
    student.free();
    run.free();
    const ours = new engine.ModelHandle(model);
    const got = ours.run([xTest]).outputs[0];
    ours.free();
    const sess = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
    const want = (await sess.run({ X: new ort.Tensor('float32', xTest.data, xTest.dims) }))[got.name];
    assert.deepEqual([...want.dims], got.dims);
    let worst = -1;
    for (let i = 0; i < got.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - want.data[i]) - 1e-4 * (1 + Math.abs(want.data[i])));
    assert.ok(worst <= 0, `student differs from onnxruntime-web beyond 1e-4·(1+|ref|) by ${worst}`);
    await sess.release();
  }
  int4.free();
  teacher.free();
});
