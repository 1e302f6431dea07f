// The engine worker: every wasm call happens here, never on the UI thread.
// It picks the relaxed-SIMD build where the browser supports it.
import { relaxedSimd, simd } from 'wasm-feature-detect';

let wasmPromise = null;
const engines = new Map();

async function wasm() {
  wasmPromise ??= (async () => {
    if (!(await simd())) {
      throw new Error('this browser lacks WebAssembly SIMD, which Squish needs (Chrome/Edge ≥ 91, Firefox ≥ 89, Safari ≥ 16.4)');
    }
    const mod = (await relaxedSimd()) ? await import('../pkg/relaxed/squish.js') : await import('../pkg/simd/squish.js');
    await mod.default();
    return mod;
  })();
  return wasmPromise;
}

function transferables(tensors) {
  return tensors.map((t) => t.data.buffer);
}

const methods = {
  async info() {
    return (await wasm()).buildInfo();
  },
  async inspect({ bytes }) {
    return (await wasm()).inspect(new Uint8Array(bytes));
  },
  async load({ key, bytes }) {
    const { Engine } = await wasm();
    const engine = new Engine(new Uint8Array(bytes));
    engines.get(key)?.free();
    engines.set(key, engine);
    return engine.summary();
  },
  async run({ key, inputs }) {
    const engine = engines.get(key);
    if (!engine) throw new Error(`no model loaded under '${key}'`);
    const t0 = performance.now();
    const result = engine.run(inputs);
    result.ms = performance.now() - t0;
    return [result, transferables(result.outputs)];
  },
  async readNpy({ bytes }) {
    const t = (await wasm()).readNpy(new Uint8Array(bytes));
    return [t, transferables([t])];
  },
};

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const fn = methods[method];
    if (!fn) throw new Error(`unknown worker method '${method}'`);
    const out = await fn(args);
    const [result, transfer] = Array.isArray(out) ? out : [out, []];
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    self.postMessage({ id, ok: false, error: e?.message ?? String(e) });
  }
};
