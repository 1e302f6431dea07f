// The engine worker: every wasm call happens here, never on the UI thread.
// It picks the relaxed-SIMD build where the browser supports it.
import { relaxedSimd, simd } from 'wasm-feature-detect';

let wasmPromise = null;
const engines = new Map();
let study = null; // the SensitivityStudy in progress, one per worker

async function wasm() {
  wasmPromise ??= (async () => {
    if (!(await simd())) {
      throw new Error('this browser lacks WebAssembly SIMD, which Squish needs (Chrome/Edge ≥ 91, Firefox ≥ 89, Safari ≥ 16.4)');
    }
    const mod = (await relaxedSimd()) ? await import('../pkg/relaxed/squish.js') : await import('../pkg/simd/squish.js');
    await mod.default();
    // For memory measurements (scripts/bench/page-memory.mjs): the size of
    // this worker's wasm memory, which only grows, so it bounds the peak.
    self.squishMemoryBytes = () => mod.memoryBytes();
    return mod;
  })();
  return wasmPromise;
}

function transferables(tensors) {
  return tensors.map((t) => t.data.buffer);
}

/** A result whose buffers move to the page instead of being copied. */
class Transfer {
  constructor(result, buffers) {
    this.result = result;
    this.buffers = buffers;
  }
}

// A method returns its result (any value, arrays included), or a Transfer.
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
    return new Transfer(result, transferables(result.outputs));
  },
  async readNpy({ bytes }) {
    const t = (await wasm()).readNpy(new Uint8Array(bytes));
    return new Transfer(t, transferables([t]));
  },
  // Compression and comparison. Model bytes arrive as copies (the page keeps its own).
  async compress({ original, recipe, calibration = [] }) {
    const { model, record } = (await wasm()).compressModel(new Uint8Array(original), recipe, calibration);
    return new Transfer({ model, record }, [model.buffer]);
  },
  async compare({ original, compressed, feeds, labels = null, record = null, options = {} }, progress) {
    const mod = await wasm();
    return mod.compareModels(new Uint8Array(original), new Uint8Array(compressed), feeds, labels, record, JSON.stringify(options), progress);
  },
  async randomInputs({ model, spec }) {
    return (await wasm()).randomInputs(new Uint8Array(model), JSON.stringify(spec));
  },
  async readInputFile({ model, name, bytes }) {
    return (await wasm()).readInputFile(new Uint8Array(model), name, new Uint8Array(bytes));
  },
  async readLabels({ name, bytes }) {
    return (await wasm()).readLabels(name, new Uint8Array(bytes));
  },
  async textInputs({ model, tokenizer, texts, maxLength }) {
    return (await wasm()).textInputs(new Uint8Array(model), tokenizer, texts, maxLength);
  },
  // One input set per audio file: mono float samples, resampled to `rate`.
  async audioInputs({ model, files, rate }) {
    const mod = await wasm();
    const name = modelInputName(mod, model);
    return files.map(({ bytes }) => [{ ...mod.readWav(new Uint8Array(bytes), rate || undefined).tensor, name }]);
  },
  // One input set per image: decoded here (createImageBitmap works in
  // workers), then resized and normalised in Rust.
  async imageInputs({ model, files, spec }, progress) {
    const mod = await wasm();
    const name = modelInputName(mod, model);
    const out = [];
    for (const [i, f] of files.entries()) {
      progress('decoding images', i, files.length);
      let bitmap;
      try {
        bitmap = await createImageBitmap(new Blob([f.bytes]));
      } catch {
        throw new Error(`${f.name}: not an image this browser can decode (PNG or JPEG)`);
      }
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
      const t = mod.imageTensor(new Uint8Array(rgba.buffer), bitmap.width, bitmap.height, JSON.stringify(spec));
      out.push([{ ...t, name }]);
    }
    return out;
  },
  async sensitivityStart({ original, recipe, calibration = [], feeds }) {
    const { SensitivityStudy } = await wasm();
    study?.free();
    study = new SensitivityStudy(new Uint8Array(original), recipe, calibration, feeds);
    return study.layers();
  },
  async sensitivityMeasure({ node }) {
    if (!study) throw new Error('no sensitivity study in progress');
    return study.measure(node);
  },
  async sensitivityFinish() {
    if (!study) throw new Error('no sensitivity study in progress');
    return study.finish();
  },
};

/** The single input of a one-input model (audio and image inputs need one). */
function modelInputName(mod, model) {
  const { inputs } = mod.inspect(new Uint8Array(model));
  if (inputs.length !== 1) throw new Error(`this model takes ${inputs.length} inputs; images and audio fit one-input models (use an .npz file)`);
  return inputs[0].name;
}

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const fn = methods[method];
    if (!fn) throw new Error(`unknown worker method '${method}'`);
    const progress = (stage, done, total) => self.postMessage({ id, progress: { stage, done, total } });
    const out = await fn(args, progress);
    const [result, transfer] = out instanceof Transfer ? [out.result, out.buffers] : [out, []];
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    self.postMessage({ id, ok: false, error: e?.message ?? String(e) });
  }
};
