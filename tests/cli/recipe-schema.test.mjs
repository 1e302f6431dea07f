// The published recipe schema (www/public/recipe.schema.json, which the page
// checks recipes with before sending them) and the Rust parser agree: every
// recipe here is accepted by both or refused by both, and the canonical form
// Rust writes is itself valid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Validator } from '@cfworker/json-schema';
import { loadEngine } from '../../www/cli/engine.mjs';

const schema = JSON.parse(readFileSync(new URL('../../www/public/recipe.schema.json', import.meta.url), 'utf8'));

const VALID = [
  { scheme: 'int8_dynamic' },
  { version: 1, quantize: { scheme: 'fp16' } },
  { steps: [{ quantize: { scheme: 'int4_block', block_size: 64, symmetric: false } }] },
  { layers: { a: { scheme: 'fp16' } } },
  { scheme: 'int8_static', calibration: { method: 'percentile', percentile: 99.9 } },
  { scheme: 'int8_weight', per_channel: false, exclude: { nodes: ['x'], op_types: ['Conv'] } },
  { quantize: { scheme: 'int4_block', format: 'qdq', layers: { m: { scheme: 'fp32' } } } },
  { prune: { method: 'wanda', sparsity: 0.5 } },
  { prune: { method: 'sparsegpt', pattern: '2:4', damping: 0.02, block_size: 64 }, quantize: { scheme: 'int8_weight' } },
  { steps: [{ prune: { sparsity: 0.3, scope: 'global', exclude: { op_types: ['Conv'] } } }, { quantize: { scheme: 'fp16' } }] },
  { prune: { sparsity: 0.5, layers: { a: { pattern: '4:8' } }, include_classifier: true } },
  { prune: { sparsity: 0.5, pattern: 'channels' } },
  { prune: { method: 'wanda', pattern: 'heads', sparsity: 0.25, layers: { a: { sparsity: 0.1 } } } },
  { prune: { sparsity: 0.9, storage: 'sparse_initializer' } },
  { quantize: { scheme: 'int4_block', rounding: 'gptq', damping: 0.02, act_order: false } },
  { scheme: 'int8_weight', layers: { a: { rounding: 'gptq' } } },
  { scheme: 'int8_static', smooth: { alpha: 0.8 } },
  { scheme: 'int8_static', smooth: {} },
  { quantize: { scheme: 'int4_block' }, target: { metric: 'min_cosine', at_least: 0.99, output: 'y', held_back: 0.3, seed: 2 } },
  { steps: [{ quantize: { scheme: 'int8_dynamic' } }], target: { metric: 'kl', at_most: 0.01 } },
  { prune: { sparsity: 0.5 }, target: { metric: 'accuracy', at_least: 0.9 } },
  { distill: {} },
  { distill: { student: 'mlp:32,16', epochs: 5, learning_rate: 0.01, mixup: 0.4 } },
  { distill: { output: '461', loss: 'cosine', hidden: ['onnx::Shape_422'] } },
  { distill: { token_mask: { share: 0.15, token: 103, keep: [0, 101, 102] } } },
  { distill: { token_swap: { share: 0.5 } } },
  { distill: { token_swap: { copies: 7, share: 1, neighbours: 4, keep: [0, 101, 102], input: 'ids' } } },
  { steps: [{ prune: { sparsity: 0.5 } }, { distill: { epochs: 3, gradual: { sparsity: 0.9, end: 0.5 } } }, { quantize: { scheme: 'int8_weight' } }] },
  { distill: { exclude: { nodes: ['a'] }, loss: 'cosine', optimizer: 'sgd', schedule: 'linear', patience: 3, validation: 0, output: 'y' } },
];

const INVALID = [
  {},
  [1],
  { schem: 'int8_dynamic' },
  { scheme: 'int9' },
  { quantize: { scheme: 'fp16', bogus: 1 } },
  { version: 2, quantize: { scheme: 'fp16' } },
  { version: '1', quantize: { scheme: 'fp16' } },
  { version: 1, scheme: 'fp16' },
  { scheme: 'fp16', quantize: { scheme: 'fp16' } },
  { steps: [] },
  { steps: [{ quantize: { scheme: 'fp16' }, prune: {} }] },
  { steps: [{ quantize: {} }] },
  { quantize: {} },
  { layers: { a: {} } },
  { prune: {} },
  { prune: { method: 'magnitude' } },
  { prune: { sparsity: 1 } },
  { prune: { pattern: 'channels' } },
  { prune: { pattern: 'channels', sparsity: 0.3, method: 'sparsegpt' } },
  { prune: { pattern: 'heads', sparsity: 0.3, scope: 'global' } },
  { prune: { pattern: 'channels', sparsity: 0.3, layers: { a: { pattern: 'channels' } } } },
  { prune: { pattern: 'channels', sparsity: 0.3, layers: { a: { method: 'sparsegpt' } } } },
  { prune: { sparsity: 0.5, layers: { a: { pattern: 'heads' } } } },
  { prune: { pattern: 'channels', sparsity: 0.3, storage: 'sparse_initializer' } },
  { prune: { sparsity: 0.5, storage: 'sparse' } },
  { prune: { sparsity: 0.5, method: 'obs' } },
  { prune: { sparsity: 0.5, bogus: true } },
  { distill: { student: 'mlp:0' } },
  { distill: { student: 'cnn' } },
  { distill: { epochs: 0 } },
  { distill: { teacher: 'original' } },
  { distill: { gradual: { sparsity: 1 } } },
  { distill: { gradual: { end: 0.5 } } },
  { distill: { loss: 'l1' } },
  { distill: { validation: 0.95 } },
  { distill: { learning_rate: 0 } },
  { distill: { hidden: 'x' } },
  { distill: { token_mask: { share: 0.15 } } },
  { distill: { token_mask: { share: 1, token: 103 } } },
  { distill: { token_swap: {} } },
  { distill: { token_swap: { share: 0 } } },
  { distill: { token_swap: { share: 0.5, copies: 0 } } },
  { distill: { token_swap: { share: 0.5, neighbours: 65 } } },
  { distill: { token_swap: { share: 0.5, token: 103 } } },
  { target: { agreement: 0.99 }, quantize: { scheme: 'fp16' } },
  { target: { metric: 'kl', at_least: 0.1 }, quantize: { scheme: 'fp16' } },
  { target: { metric: 'agreement' }, quantize: { scheme: 'fp16' } },
  { target: { metric: 'agreement', at_least: 1.5 }, quantize: { scheme: 'fp16' } },
  { target: { metric: 'min_cosine', at_least: 0.9, held_back: 1 }, quantize: { scheme: 'fp16' } },
  { target: { metric: 'min_cosine', at_least: 0.9, seed: -1 }, quantize: { scheme: 'fp16' } },
  { target: { metric: 'min_cosine', at_least: 0.9 } },
  { scheme: 'int4_block', target: { metric: 'min_cosine', at_least: 0.9 } },
  { scheme: 'int4_block', block_size: 48 },
  { scheme: 'int8_static', calibration: { percentile: 10 } },
  { scheme: 'int8_static', calibration: { method: 'kl' } },
  { scheme: 'fp16', exclude: { layers: ['x'] } },
  { scheme: 'int4_block', rounding: 'best' },
  { scheme: 'int4_block', rounding: 'gptq', damping: -1 },
  { scheme: 'int8_static', smooth: { alpha: 2 } },
  { scheme: 'int8_static', smooth: { alfa: 0.5 } },
];

test('the published schema and the Rust parser accept and refuse the same recipes', async () => {
  const engine = await loadEngine();
  const validator = new Validator(schema, '2020-12', false);
  const rust = (r) => {
    try {
      return { ok: true, canonical: engine.canonicalRecipe(JSON.stringify(r)) };
    } catch (e) {
      return { ok: false, error: e.message };
    }
  };
  for (const r of VALID) {
    const v = validator.validate(r);
    assert.ok(v.valid, `schema refuses ${JSON.stringify(r)}: ${JSON.stringify(v.errors.slice(0, 3))}`);
    const out = rust(r);
    assert.ok(out.ok, `Rust refuses ${JSON.stringify(r)}: ${out.error}`);
    const c = validator.validate(JSON.parse(out.canonical));
    assert.ok(c.valid, `the canonical form ${out.canonical} is not valid: ${JSON.stringify(c.errors.slice(0, 3))}`);
  }
  for (const r of INVALID) {
    assert.ok(!validator.validate(r).valid, `schema accepts ${JSON.stringify(r)}`);
    assert.ok(!rust(r).ok, `Rust accepts ${JSON.stringify(r)}`);
  }
});
