// Shared by the Node and the browser benchmark: inputs from a model's
// declared signature, alternating timing loops, summary statistics.

/** Deterministic inputs for `summary.inputs` (symbolic dims = 1). */
export function makeInputs(summary) {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  return summary.inputs.map((v) => {
    const dims = (v.shape ?? []).map((d) => (/^\d+$/.test(d) ? Number(d) : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    const name = v.name.toLowerCase();
    if (v.dtype === 'int64') {
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) data[i] = name.includes('mask') ? 1n : name.includes('type') ? 0n : BigInt(Math.floor(rand() * 1000));
      return { name: v.name, dtype: 'int64', dims, data };
    }
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rand() * 2 - 1;
    return { name: v.name, dtype: 'float32', dims, data };
  });
}

export function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median_ms: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min_ms: s[0] };
}

/**
 * Times several runners on one model: warm-up, then `runs` rounds in which
 * every runner runs once, the order rotating each round (A B, B A, …).
 * Each runner: { engine, variant, load_ms, run: async () => void } or { …, error }.
 */
export async function timeAlternating(runners, { warmup, runs, now }) {
  const live = runners.filter((r) => !r.error);
  for (const r of live) {
    try {
      for (let i = 0; i < warmup; i++) await r.run();
    } catch (e) {
      r.error = `run failed: ${e.message ?? e}`;
    }
  }
  const ok = live.filter((r) => !r.error);
  const times = new Map(ok.map((r) => [r, []]));
  for (let round = 0; round < runs; round++) {
    for (let j = 0; j < ok.length; j++) {
      const r = ok[(round + j) % ok.length];
      const t0 = now();
      await r.run();
      times.get(r).push(now() - t0);
    }
  }
  return runners.map((r) => (r.error ? { engine: r.engine, variant: r.variant, error: r.error }
    : { engine: r.engine, variant: r.variant, ...stats(times.get(r)), load_ms: r.load_ms }));
}

/** GFLOP/s of Squish's GEMM and the prepacked ceiling kernel, alternating. */
export function gemmFigures(mod, sizes, now) {
  const out = [];
  for (const n of sizes) {
    const g = new mod.GemmBench(n, n, n);
    const reps = n <= 256 ? 30 : 3;
    for (let i = 0; i < 3; i++) { g.squish(); g.ceiling(); }
    const best = { squish: Infinity, ceiling: Infinity };
    for (let round = 0; round < 5; round++) {
      for (const which of round % 2 ? ['ceiling', 'squish'] : ['squish', 'ceiling']) {
        const t0 = now();
        for (let i = 0; i < reps; i++) g[which]();
        best[which] = Math.min(best[which], (now() - t0) / reps);
      }
    }
    out.push({ kernel: `squish_gemm_f32_${n}`, gflops: g.flops() / best.squish / 1e6 });
    out.push({ kernel: `ceiling_gemm_f32_${n}`, gflops: g.flops() / best.ceiling / 1e6 });
    g.free();
  }
  // bert_minilm's projection shapes: f32 with packed weights vs int8, alternating.
  for (const [m, k, n] of [[128, 384, 384], [128, 384, 1536]]) {
    const g = new mod.GemmBench(m, k, n);
    const best = { squishPackedB: Infinity, int8: Infinity, int8SignSplit: Infinity };
    const split = g.int8SignSplit(); // relaxed build only
    const kinds = split ? ['squishPackedB', 'int8', 'int8SignSplit'] : ['squishPackedB', 'int8'];
    for (let i = 0; i < 5; i++) kinds.forEach((w) => g[w]());
    for (let round = 0; round < 8; round++) {
      for (const which of round % 2 ? [...kinds].reverse() : kinds) {
        const t0 = now();
        for (let i = 0; i < 10; i++) g[which]();
        best[which] = Math.min(best[which], (now() - t0) / 10);
      }
    }
    const shape = `${m}x${k}x${n}`;
    out.push({ kernel: `packed_b_gemm_f32_${shape}`, gflops: g.flops() / best.squishPackedB / 1e6 });
    out.push({ kernel: `int8_gemm_${shape}`, gflops: g.flops() / best.int8 / 1e6, speedup_vs_f32: best.squishPackedB / best.int8 });
    if (split) out.push({ kernel: `int8_signsplit_gemm_${shape}`, gflops: g.flops() / best.int8SignSplit / 1e6, speedup_vs_f32: best.squishPackedB / best.int8SignSplit });
    g.free();
  }
  out.push(...sparseGemmFigures(mod, now));
  return out;
}

/**
 * The sparse f32 kernel against the dense packed one on the same weights,
 * at zero fractions around the switch-over (`SPARSE_GEMM_MIN_ZEROS`), on
 * mlp_b32's and a transformer's shapes. speedup_vs_dense > 1: sparse wins.
 */
export function sparseGemmFigures(mod, now) {
  const out = [];
  for (const [m, k, n] of [[32, 784, 1024], [32, 1024, 1024], [128, 384, 1536], [4, 1024, 1024]]) {
    const g = new mod.GemmBench(m, k, n);
    for (const [label, zeros, twoOfFour] of [['30%', 0.3, false], ['50%', 0.5, false], ['2:4', 0.5, true], ['70%', 0.7, false], ['90%', 0.9, false], ['95%', 0.95, false]]) {
      g.setSparsity(zeros, twoOfFour);
      const best = { squishPackedB: Infinity, squishSparse: Infinity };
      const reps = m >= 32 ? 5 : 30;
      for (let i = 0; i < 3; i++) { g.squishPackedB(); g.squishSparse(); }
      for (let round = 0; round < 6; round++) {
        for (const which of round % 2 ? ['squishSparse', 'squishPackedB'] : ['squishPackedB', 'squishSparse']) {
          const t0 = now();
          for (let i = 0; i < reps; i++) g[which]();
          best[which] = Math.min(best[which], (now() - t0) / reps);
        }
      }
      out.push({ kernel: `sparse_gemm_f32_${m}x${k}x${n}_${label}`, gflops: g.flops() / best.squishSparse / 1e6, speedup_vs_dense: best.squishPackedB / best.squishSparse });
    }
    g.free();
  }
  return out;
}

/**
 * Times compressing `bytes` to int8_dynamic (median of 3) in a fresh module
 * instance; the wasm memory after the first call bounds one compression's
 * peak (later calls can only add allocator fragmentation).
 */
export function compressFigures(mod, bytes, now) {
  const times = [];
  let memory = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = now();
    const original = new mod.ModelHandle(bytes.slice());
    const compressed = original.compress(JSON.stringify({ scheme: 'int8_dynamic' }), []);
    const model = compressed.toBytes();
    times.push(now() - t0);
    original.free();
    compressed.free();
    if (!model.length) throw new Error('empty output');
    if (i === 0) memory = mod.memoryBytes();
  }
  return { ms: stats(times).median_ms, memory_bytes: memory, model_bytes: bytes.length };
}

/**
 * The comparison target of the compare issue: bert_minilm fp32 against its
 * int8_dynamic variant on 32 random inputs of length 128, per-layer
 * diagnosis included (compression itself is timed separately above).
 */
export function compareFigures(mod, bytes, now) {
  const original = new mod.ModelHandle(bytes.slice());
  const int8 = original.compress(JSON.stringify({ scheme: 'int8_dynamic' }), []);
  const spec = { count: 32, seed: 1, ranges: { input_ids: [1000, 30000], attention_mask: [1, 2], token_type_ids: [0, 1] } };
  const t0 = now();
  const feeds = original.randomInputs(JSON.stringify(spec));
  // Time per stage: each progress call closes the previous stage.
  const stages = {};
  let [current, last] = ['random inputs', now()];
  const close = (next) => {
    const t = now();
    stages[current] = (stages[current] ?? 0) + (t - last);
    [current, last] = [next, t];
  };
  const { report } = mod.compareModels(original, int8, feeds, null, JSON.stringify({ latency_runs: 10, warmup_runs: 3 }), null, close);
  close(null);
  const ms = now() - t0;
  original.free();
  int8.free();
  const worst = report.layers.entry_points[0];
  return {
    kind: 'compare',
    ms,
    samples: report.samples,
    tensors: report.layers.worst_first.length,
    cosine_min: report.outputs[0].regression.cosine_min,
    worst_entry: worst ? `${worst.node} (${worst.op_type}) local ${worst.local_sqnr_db.toFixed(1)} dB` : 'none',
    stages,
  };
}
