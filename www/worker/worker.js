// The engine worker: every wasm call happens here, never on the UI thread.
// It picks the relaxed-SIMD build where the browser supports it. Models are
// decoded once into handles kept by key; everything else names a key.
import { relaxedSimd, simd } from 'wasm-feature-detect';

let wasmPromise = null;
const handles = new Map();
let study = null; // the SensitivityStudy in progress, one per worker
let scan = null; // the SparsityScan in progress, one per worker
let distillation = null; // the Distillation in progress, one per worker

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

function handle(key) {
  const h = handles.get(key);
  if (!h) throw new Error(`no model opened under '${key}'`);
  return h;
}

/** Stores `h` under `key`, freeing what was there. */
function keep(key, h) {
  handles.get(key)?.free();
  handles.set(key, h);
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
  // A model file (a Blob/File, or bytes) decoded into a handle; the handle
  // under `key` is replaced only when this one decodes.
  // `external`: [{ name, blob }], the data files of a model whose weights live outside it.
  async open({ key, blob, bytes, external = [] }) {
    const { ModelHandle } = await wasm();
    const data = new Uint8Array(blob ? await blob.arrayBuffer() : bytes);
    const h = external.length
      ? ModelHandle.withExternalData(data, external.map((f) => f.name), await Promise.all(external.map(async (f) => new Uint8Array(await f.blob.arrayBuffer()))))
      : new ModelHandle(data);
    keep(key, h);
    return h.summary();
  },
  async release({ key }) {
    handles.get(key)?.free();
    handles.delete(key);
  },
  async run({ key, inputs }) {
    const h = handle(key);
    const t0 = performance.now();
    const result = h.run(inputs);
    result.ms = performance.now() - t0;
    return new Transfer(result, transferables(result.outputs));
  },
  async layers({ key }) {
    return handle(key).layers();
  },
  async weightHistogram({ key, tensor, bins = 60, range }) {
    return handle(key).weightHistogram(tensor, bins, range);
  },
  async readNpy({ bytes }) {
    const t = (await wasm()).readNpy(new Uint8Array(bytes));
    return new Transfer(t, transferables([t]));
  },
  // The compressed model stays here under `into`; its file goes to the page.
  async compress({ key, recipe, calibration = [], into }) {
    const compressed = handle(key).compress(recipe, calibration);
    const record = compressed.compressionRecord();
    const model = compressed.toBytes();
    keep(into, compressed);
    return new Transfer({ model, record }, [model.buffer]);
  },
  async compare({ original, compressed, feeds, labels = null, options = {}, texts = null }, progress) {
    const mod = await wasm();
    return mod.compareModels(handle(original), handle(compressed), feeds, labels, JSON.stringify(options), texts, progress);
  },
  async randomInputs({ key, spec }) {
    return handle(key).randomInputs(JSON.stringify(spec));
  },
  async readInputFile({ key, name, bytes }) {
    return handle(key).readInputFile(name, new Uint8Array(bytes));
  },
  async readLabels({ name, bytes }) {
    return (await wasm()).readLabels(name, new Uint8Array(bytes));
  },
  async textInputs({ key, tokenizer, texts, maxLength }) {
    return handle(key).textInputs(tokenizer, texts, maxLength);
  },
  // One input set per audio file: mono float samples, resampled to `rate`.
  async audioInputs({ key, files, rate }) {
    const mod = await wasm();
    const name = singleInput(key);
    return files.map(({ bytes }) => [{ ...mod.readWav(new Uint8Array(bytes), rate || undefined).tensor, name }]);
  },
  // One input set per image: decoded here (createImageBitmap works in
  // workers), then resized and normalised in Rust.
  async imageInputs({ key, files, spec }, progress) {
    const mod = await wasm();
    const name = singleInput(key);
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
  async sensitivityStart({ key, recipe, calibration = [], feeds }) {
    const { SensitivityStudy } = await wasm();
    study?.free();
    study = new SensitivityStudy(handle(key), recipe, calibration, feeds);
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
  async scanStart({ key, recipe, feeds }) {
    const { SparsityScan } = await wasm();
    scan?.free();
    scan = new SparsityScan(handle(key), recipe, feeds);
    return scan.layers();
  },
  async scanMeasure({ index }) {
    if (!scan) throw new Error('no sparsity scan in progress');
    return scan.measure(index);
  },
  async scanFinish() {
    if (!scan) throw new Error('no sparsity scan in progress');
    return scan.finish();
  },
  // A recipe with a "target": the search, one unit of work per step (each
  // reported); cancelling terminates this worker. The model found stays
  // here under `into`, its file goes to the page.
  async targetSearch({ key, recipe, feeds, labels = null, into }, progress) {
    const { TargetSearch } = await wasm();
    const search = new TargetSearch(handle(key), recipe, feeds, labels, null);
    try {
      for (let p; (p = search.step()); ) progress(p.stage, p.done, p.total);
      const { report, markdown, recipe: found } = search.finish();
      const compressed = search.compressed();
      if (!compressed) return { report, markdown, recipe: null };
      const record = compressed.compressionRecord();
      const model = compressed.toBytes();
      keep(into, compressed);
      return new Transfer({ report, markdown, recipe: found, model, record }, [model.buffer]);
    } finally {
      search.free();
    }
  },
  // Training: started once, then run in slices of about `ms` so that the
  // page can draw the curve, pause (stop asking) and cancel (terminate).
  // `from`: the handle to fine-tune (a compressed model); default the model itself.
  async distillStart({ key, section, feeds, labels = null, finetune = false, from = key }) {
    const { Distillation } = await wasm();
    distillation?.free();
    distillation = null;
    const h = handle(key);
    distillation = finetune ? Distillation.finetune(h, handle(from), section, feeds, labels) : new Distillation(h, section, feeds, labels);
    return distillation.summary();
  },
  async distillRun({ ms = 150 }) {
    if (!distillation) throw new Error('no training in progress');
    const t0 = performance.now();
    const epochs = [];
    let last = null;
    do {
      const p = distillation.step();
      if (!p) return { epochs, done: true, step: last?.step ?? null, total: last?.total_steps ?? null };
      last = p;
      if (p.finished_epoch) epochs.push(p.finished_epoch);
    } while (performance.now() - t0 < ms);
    return { epochs, done: false, step: last.step, total: last.total_steps };
  },
  // The student with its best weights stays here under `into`; its file goes to the page.
  async distillFinish({ into }) {
    if (!distillation) throw new Error('no training in progress');
    const student = distillation.student();
    const summary = distillation.summary();
    const record = student.compressionRecord();
    const model = student.toBytes();
    keep(into, student);
    return new Transfer({ model, record, summary }, [model.buffer]);
  },
  // The recipe with the study's suggested exclusions in the right steps.
  async suggestedRecipe({ recipe, units }) {
    return (await wasm()).suggestedRecipe(recipe, units);
  },
};

/** The single input of a one-input model (audio and image inputs need one). */
function singleInput(key) {
  const inputs = handle(key).inputNames();
  if (inputs.length !== 1) throw new Error(`this model takes ${inputs.length} inputs; images and audio fit one-input models (use an .npz file)`);
  return inputs[0];
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
