// The "Compress & compare" card: a recipe, the user's inputs (files, images,
// audio, text, or seeded random values), then compression, comparison,
// per-layer diagnosis and sensitivity, all in a worker of its own (Cancel
// terminates it; the digits demo keeps its worker). On any error the
// previous results and the recipe stay on screen.
import { EngineBridge } from '../worker/bridge.js';
import { field, h, presetEditor } from '../ui/format.js';
import { renderReport, renderScan, renderSensitivity, renderTarget } from '../ui/compare-view.js';
import { renderRecord } from '../ui/record-view.js';
import { recipeProblems } from '../ui/recipe-check.js';
import { parseDims, parseRanges } from '../ui/random-spec.js';

export const PRESETS = {
  'int8 dynamic (onnxruntime format)': { scheme: 'int8_dynamic' },
  'int8 static, calibrated on the inputs (QDQ)': { scheme: 'int8_static', calibration: { method: 'minmax' } },
  'int8 static + SmoothQuant equalisation (transformers)': { scheme: 'int8_static', smooth: { alpha: 0.75 } },
  'int8 weights only': { scheme: 'int8_weight' },
  'int4 blocks of 32 (MatMulNBits)': { scheme: 'int4_block', block_size: 32 },
  'int4 blocks, GPTQ rounding (calibrated on the inputs)': { scheme: 'int4_block', block_size: 32, rounding: 'gptq' },
  'float16 weights': { scheme: 'fp16' },
  'smallest int4/int8/fp16 mix keeping 99.5% agreement (searched on the inputs)':
    { quantize: { scheme: 'int4_block', block_size: 32, rounding: 'gptq' }, target: { metric: 'agreement', at_least: 0.995 } },
  'int4 per tensor, every layer (destructive)': { scheme: 'int4_weight', per_channel: false },
  'prune 50%, Wanda (calibrated on the inputs)': { prune: { method: 'wanda', sparsity: 0.5 } },
  'prune 2:4, reconstruction (SparseGPT-style)': { prune: { method: 'sparsegpt', pattern: '2:4' } },
  'prune 50% by magnitude, one threshold': { prune: { method: 'magnitude', sparsity: 0.5, scope: 'global' } },
  'remove 30% of channels (structured: smaller in any runtime)': { prune: { method: 'magnitude', pattern: 'channels', sparsity: 0.3 } },
  'remove a quarter of the attention heads': { prune: { method: 'magnitude', pattern: 'heads', sparsity: 0.25 } },
  'prune 50% (Wanda) + int8 weights': { prune: { method: 'wanda', sparsity: 0.5 }, quantize: { scheme: 'int8_weight' } },
};

const SOURCES = { demo: 'Demo test set (450 digits, with labels)', random: 'Random values (seeded)', file: 'A file: .npz, .npy, .pb, .json, .csv',
  images: 'Images (PNG/JPEG)', audio: 'Audio (WAV)', text: 'Text + tokenizer.json' };

const read = (file) => file.arrayBuffer();

// Probes re-run both models three times per kind: off by default for your own models.
const PROBES = {
  none: 'none',
  image: 'images: noise, brightness, occlusion, blur (×3 severities)',
  text: 'texts (text source): typos, dropped/repeated words, whitespace, truncation, case (×3)',
  audio: 'audio: noise, gain, clipping (×3 severities)',
  tensor: 'any float input: noise (×3 severities)',
};

export class ComparePanel {
  #bridge = new EngineBridge();
  #getModel;
  #ui = {};
  #abort = null;
  #last = null; // { compressed: Uint8Array, report, markdown, feeds, labels, recipe }
  #opened = { model: null, generation: -1 }; // which model this worker holds, in which worker

  #emit;
  #ready;
  #inputFile = null; // { name, bytes }: the element's `inputs` attribute, used when no file is chosen

  /**
   * `getModel()` → { blob: Blob, name, demo: { samples, labels } | null };
   * `emit(type, detail)` tells the element's listeners (compressed, compared,
   * error); `ready()` resolves when the element has loaded its model.
   */
  constructor(getModel, emit = () => {}, ready = async () => {}) {
    this.#getModel = getModel;
    this.#emit = emit;
    this.#ready = ready;
    const ui = this.#ui;
    ({ select: ui.preset, text: ui.recipe } = presetEditor(PRESETS, { selectId: 'recipe-preset', textId: 'recipe', label: 'recipe JSON' }));
    ui.source = h('select', { 'data-testid': 'input-source', onchange: () => this.#showSource() }, Object.entries(SOURCES).map(([k, v]) => h('option', { value: k }, v)));
    ui.count = h('input', { type: 'number', min: 1, value: 16, 'aria-label': 'input sets' });
    ui.seed = h('input', { type: 'number', value: 0, 'aria-label': 'seed' });
    ui.dims = h('input', { type: 'text', placeholder: 'batch=1,sequence=128', 'aria-label': 'dimensions' });
    ui.ranges = h('input', { type: 'text', placeholder: 'input_ids=0:30522', 'aria-label': 'value ranges' });
    ui.file = h('input', { type: 'file', accept: '.npz,.npy,.pb,.json,.csv', 'data-testid': 'input-file', onchange: () => { ui.fileName.textContent = ui.file.files?.[0]?.name ?? ''; } });
    ui.fileName = h('span', { class: 'status', 'data-testid': 'input-file-name' });
    ui.images = h('input', { type: 'file', accept: 'image/png,image/jpeg', multiple: '', 'data-testid': 'image-files' });
    ui.folder = h('input', { type: 'file', webkitdirectory: '', 'data-testid': 'image-folder' });
    ui.imagePreset = h('select', {}, ['imagenet', 'unit', 'symmetric', 'raw'].map((p) => h('option', { value: p }, p)));
    ui.width = h('input', { type: 'number', value: 224, min: 1, 'aria-label': 'width' });
    ui.height = h('input', { type: 'number', value: 224, min: 1, 'aria-label': 'height' });
    ui.layout = h('select', {}, h('option', { value: 'nchw' }, 'NCHW'), h('option', { value: 'nhwc' }, 'NHWC'));
    ui.channels = h('select', {}, ['rgb', 'bgr', 'gray'].map((c) => h('option', { value: c }, c.toUpperCase())));
    ui.audio = h('input', { type: 'file', accept: '.wav,audio/wav', multiple: '' });
    ui.rate = h('input', { type: 'number', value: 16000, min: 1, 'aria-label': 'sample rate' });
    ui.text = h('textarea', { rows: 3, placeholder: 'one input per line', 'data-testid': 'texts' });
    ui.tokenizer = h('input', { type: 'file', accept: '.json', 'data-testid': 'tokenizer-file' });
    ui.labels = h('input', { type: 'file', accept: '.npy,.csv,.json', 'data-testid': 'labels-file' });
    ui.runs = h('input', { type: 'number', value: 20, min: 0, 'aria-label': 'timed runs' });
    ui.warmup = h('input', { type: 'number', value: 30, min: 0, 'aria-label': 'warm-up runs' });
    ui.probes = h('select', { 'data-testid': 'probes' }, Object.entries(PROBES).map(([k, v]) => h('option', { value: k }, v)));
    ui.forms = {
      demo: h('div', {}),
      random: h('div', { class: 'row' }, field('input sets', ui.count), field('seed', ui.seed), field('symbolic dims', ui.dims), field('value ranges', ui.ranges)),
      file: h('div', { class: 'row' }, h('label', { class: 'button' }, 'Choose file…', ui.file), ui.fileName),
      images: h('div', { class: 'row' }, h('label', { class: 'button' }, 'Images…', ui.images), h('label', { class: 'button' }, 'Folder of class sub-folders…', ui.folder),
        field('preset', ui.imagePreset), field('width', ui.width), field('height', ui.height), field('layout', ui.layout), field('channels', ui.channels)),
      audio: h('div', { class: 'row' }, h('label', { class: 'button' }, 'WAV files…', ui.audio), field('model sample rate', ui.rate)),
      text: h('div', { class: 'row' }, ui.text, h('label', { class: 'button' }, 'tokenizer.json…', ui.tokenizer)),
    };
    ui.go = h('button', { class: 'primary', 'data-testid': 'compare', onclick: () => this.#compare() }, 'Compress & compare');
    ui.cancel = h('button', { 'data-testid': 'cancel', hidden: '', onclick: () => this.#abort?.abort() }, 'Cancel');
    ui.progress = h('progress', { hidden: '', max: 1, value: 0 });
    ui.status = h('span', { class: 'status', 'data-testid': 'compare-status', 'aria-live': 'polite' });
    ui.error = h('div', { class: 'error', role: 'alert', 'data-testid': 'compare-error', hidden: '' });
    ui.target = h('div', { 'data-testid': 'target-result' });
    ui.record = h('div', {});
    ui.results = h('div', { 'data-testid': 'report' });
    ui.sensitivityButton = h('button', { 'data-testid': 'run-sensitivity', hidden: '', onclick: () => this.#sensitivity() }, 'Find the layers to leave uncompressed (sensitivity)');
    ui.sensitivity = h('div', { 'data-testid': 'sensitivity-result' });
    ui.scanButton = h('button', { 'data-testid': 'run-scan', hidden: '', onclick: () => this.#scan() }, 'Scan sparsity per layer (which layers can take more zeros, or lose more channels)');
    ui.scan = h('div', { 'data-testid': 'scan-result' });
    ui.downloads = h('div', { class: 'row', hidden: '' },
      h('button', { 'data-testid': 'download-model', onclick: () => this.#download('model') }, 'Download compressed model'),
      h('button', { onclick: () => this.#download('json') }, 'Report (JSON)'),
      h('button', { onclick: () => this.#download('md') }, 'Report (Markdown)'));
    this.element = h('section', { class: 'card', 'data-testid': 'compare-card' },
      h('h3', {}, 'Compress & compare'),
      h('div', { class: 'two' },
        h('div', {}, field('recipe', ui.preset), ui.recipe),
        h('div', {}, field('inputs', ui.source), Object.values(ui.forms), h('div', { class: 'row' }, h('label', { class: 'button' }, 'Labels (optional)…', ui.labels), field('timed runs', ui.runs), field('warm-up', ui.warmup)),
          field('edge-case probes', ui.probes))),
      h('div', { class: 'row' }, ui.go, ui.cancel, ui.progress, ui.status),
      ui.error, ui.target, ui.record, ui.results, ui.sensitivityButton, ui.sensitivity, ui.scanButton, ui.scan, ui.downloads);
    this.#showSource();
  }

  /** The last compressed model's file and recipe, if it was made from the model loaded now. */
  compressed() {
    const last = this.#last;
    return last && last.model === this.#getModel() ? { bytes: last.compressed, recipe: last.recipe } : null;
  }

  /** The demo source only exists while the demo model is the one loaded. */
  modelChanged() {
    const demo = !!this.#getModel()?.demo;
    this.#ui.probes.value = demo ? 'image' : 'none';
    this.#ui.source.querySelector('option[value=demo]').hidden = !demo;
    if (!demo && this.#ui.source.value === 'demo') this.#ui.source.value = 'random';
    this.#showSource();
  }

  #showSource() {
    for (const [k, el] of Object.entries(this.#ui.forms)) el.hidden = k !== this.#ui.source.value;
  }

  #progress({ stage, done, total }) {
    this.#ui.progress.max = Math.max(1, total);
    this.#ui.progress.value = done;
    this.#ui.status.textContent = `${stage}… ${total > 1 ? `${done}/${total}` : ''}`;
  }

  /**
   * Runs `task(signal)` with the progress bar and Cancel shown; errors keep
   * the screen. Returns null, or the error (shown, and emitted unless it
   * was a cancel).
   */
  async #busy(label, task) {
    const ui = this.#ui;
    this.#abort = new AbortController();
    ui.go.disabled = true;
    ui.sensitivityButton.disabled = true;
    ui.scanButton.disabled = true;
    ui.cancel.hidden = false;
    ui.progress.hidden = false;
    ui.status.textContent = `${label}…`;
    ui.error.hidden = true;
    try {
      await task(this.#abort.signal);
      return null;
    } catch (e) {
      if (e.name === 'AbortError') ui.status.textContent = 'Cancelled. The previous results are kept.';
      else {
        ui.error.textContent = e.message;
        ui.error.hidden = false;
        ui.status.textContent = '';
        this.#emit('error', { message: e.message, stage: label.toLowerCase() });
      }
      return e;
    } finally {
      ui.go.disabled = false;
      ui.sensitivityButton.disabled = false;
      ui.scanButton.disabled = false;
      ui.cancel.hidden = true;
      ui.progress.hidden = true;
      this.#abort = null;
    }
  }

  /** The element's `recipe` attribute: shown in the editor, checked when run. */
  setRecipe(text) {
    this.#ui.recipe.value = text;
  }

  /** The element's `inputs` attribute: the compare card reads it when no file is chosen. */
  setInputFile(name, bytes) {
    this.#inputFile = { name, bytes };
    this.#ui.source.value = 'file';
    this.#ui.fileName.textContent = name;
    this.#showSource();
  }

  /** A tokenizer.json dropped with the model: the text source uses it. */
  setTokenizer(file) {
    const files = new DataTransfer();
    files.items.add(file);
    this.#ui.tokenizer.files = files.files;
    this.#ui.source.value = 'text';
    this.#showSource();
  }

  terminate() {
    this.#bridge.terminate();
  }

  #call(method, args, signal) {
    return this.#bridge.call(method, args, { signal, onProgress: (p) => this.#progress(p) });
  }

  /**
   * Decodes `model` in this panel's worker (once per worker: a cancelled
   * call ends the worker, and the next one opens the model again) and
   * returns its summary. On failure the model opened before stays.
   */
  async open(model, signal) {
    const summary = await this.#bridge.call('open', { key: 'model', blob: model.blob }, { signal });
    this.#opened = { model, generation: this.#bridge.generation };
    return summary;
  }

  /** Asks this panel's worker about the model loaded now (opened first if needed): the model view's questions. */
  async inspect(method, args = {}) {
    const model = this.#getModel();
    if (!model) throw new Error('no model is loaded yet');
    await this.#ensureOpen(model);
    return this.#bridge.call(method, { key: 'model', ...args });
  }

  /** Runs the last compressed model (made from the model loaded now) on `inputs`, or returns null. */
  async runCompressed(inputs) {
    if (!this.compressed() || !this.#bridge.running || this.#opened.generation !== this.#bridge.generation) return null;
    return this.#bridge.call('run', { key: 'compressed', inputs });
  }

  async #ensureOpen(model, signal) {
    const live = this.#bridge.running && this.#opened.generation === this.#bridge.generation;
    if (!live || this.#opened.model !== model) await this.open(model, signal);
  }

  async #inputs(model, signal) {
    const ui = this.#ui;
    const m = 'model';
    const one = (input, what) => {
      const f = input.files?.[0];
      if (!f) throw new Error(`choose ${what} first`);
      return f;
    };
    let feeds;
    let labels = null;
    let text = null;
    switch (ui.source.value) {
      case 'demo':
        feeds = await this.#call('readInputFile', { key: m, name: 'X_test.npy', bytes: model.demo.samples.slice(0) }, signal);
        labels = await this.#call('readLabels', { name: 'y_test.npy', bytes: model.demo.labels.slice(0) }, signal);
        break;
      case 'random': {
        const spec = { count: Number(ui.count.value), seed: Number(ui.seed.value), dims: parseDims(ui.dims.value, 'symbolic dims'), ranges: parseRanges(ui.ranges.value, 'value ranges') };
        feeds = await this.#call('randomInputs', { key: m, spec }, signal);
        break;
      }
      case 'file': {
        const chosen = ui.file.files?.[0];
        const f = chosen ? { name: chosen.name, bytes: await read(chosen) } : this.#inputFile && { name: this.#inputFile.name, bytes: this.#inputFile.bytes.slice(0) };
        if (!f) throw new Error('choose an input file first');
        feeds = await this.#call('readInputFile', { key: m, ...f }, signal);
        break;
      }
      case 'images': {
        const files = [...(ui.folder.files?.length ? ui.folder.files : ui.images.files ?? [])].filter((f) => /\.(png|jpe?g)$/i.test(f.name));
        if (!files.length) throw new Error('choose PNG or JPEG images (or a folder of them) first');
        const spec = { preset: ui.imagePreset.value, width: Number(ui.width.value), height: Number(ui.height.value), layout: ui.layout.value, channels: ui.channels.value };
        const payload = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await read(f) })));
        feeds = await this.#call('imageInputs', { key: m, files: payload, spec }, signal);
        labels = folderLabels(files);
        break;
      }
      case 'audio': {
        const files = [...(ui.audio.files ?? [])];
        if (!files.length) throw new Error('choose WAV files first');
        const payload = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await read(f) })));
        feeds = await this.#call('audioInputs', { key: m, files: payload, rate: Number(ui.rate.value) }, signal);
        break;
      }
      case 'text': {
        const texts = ui.text.value.split('\n').filter((l) => l.trim());
        if (!texts.length) throw new Error('write at least one line of text');
        const tok = await one(ui.tokenizer, 'a tokenizer.json').text();
        feeds = await this.#call('textInputs', { key: m, tokenizer: tok, texts }, signal);
        // Text probes change the texts themselves, then tokenise them again.
        text = { tokenizer: tok, texts };
        break;
      }
      default:
        throw new Error(`unknown input source '${ui.source.value}'`);
    }
    const lf = ui.labels.files?.[0];
    if (lf) labels = await this.#call('readLabels', { name: lf.name, bytes: await read(lf) }, signal);
    return { feeds, labels, text };
  }

  /** Compress & compare as the button does: resolves with the `compared` detail, rejects with what went wrong. */
  async run() {
    const outcome = await this.#compare();
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  /** The recipe, parsed and checked against the published schema before any work starts. */
  #recipe() {
    let recipe;
    try {
      recipe = JSON.parse(this.#ui.recipe.value);
    } catch (e) {
      throw new Error(`recipe: invalid JSON: ${e.message}`);
    }
    const problems = recipeProblems(recipe);
    if (problems.length) throw new Error(`recipe: ${problems.join('; ')}`);
    return recipe;
  }

  /** Returns the `compared` detail, or the Error shown (also emitted as an `error` event). */
  async #compare() {
    // A first click on an element that has not started yet starts it, then runs.
    try {
      await this.#ready();
    } catch (e) {
      return e;
    }
    const model = this.#getModel();
    if (!model) return new Error('no model is loaded yet');
    let recipe;
    try {
      recipe = this.#recipe();
    } catch (e) {
      this.#ui.error.textContent = e.message;
      this.#ui.error.hidden = false;
      this.#emit('error', { message: e.message, stage: 'recipe' });
      return e;
    }
    const t0 = performance.now();
    let detail = null;
    const error = await this.#busy('Compressing', async (signal) => {
      await this.#ensureOpen(model, signal);
      const { feeds, labels, text } = await this.#inputs(model, signal);
      this.#ui.target.replaceChildren();
      const found = recipe.target ? await this.#search(recipe, feeds, labels, signal) : null;
      if (found && !found.model) throw new Error('no recipe meets the target on these inputs; nothing was compressed');
      const { model: compressed, record } = found ?? await this.#call('compress', { key: 'model', recipe: JSON.stringify(recipe), calibration: feeds.slice(0, 16), into: 'compressed' }, signal);
      this.#emit('compressed', { recipe: found ? JSON.parse(found.recipe) : recipe, record, bytes: compressed.byteLength });
      const options = { latency_runs: Number(this.#ui.runs.value), warmup_runs: Number(this.#ui.warmup.value), per_class: true, handback: true,
        slices: { by: 'auto', bins: 4 } };
      if (this.#ui.probes.value !== 'none') options.probes = { kinds: [this.#ui.probes.value], severities: [1, 2, 3], seed: 0 };
      const { report, markdown } = await this.#call('compare', { original: 'model', compressed: 'compressed', feeds, labels, options, texts: text }, signal);
      if (found) report.target = found.report;
      // After a search, what follows (sensitivity, scans, the download) works on the recipe it found.
      const used = found ? JSON.parse(found.recipe) : recipe;
      this.#last = { compressed, report, markdown: (found?.markdown ?? '') + markdown, feeds, labels, recipe: used, name: model.name, model };
      renderRecord(this.#ui.record, record);
      renderReport(this.#ui.results, report);
      this.#ui.sensitivity.replaceChildren();
      this.#ui.sensitivityButton.hidden = false;
      this.#ui.scan.replaceChildren();
      const prune = recipe.prune ?? recipe.steps?.find((st) => st.prune)?.prune;
      this.#ui.scanButton.hidden = !(prune && prune.sparsity != null && ['unstructured', 'channels', 'heads'].includes(prune.pattern ?? 'unstructured'));
      this.#ui.downloads.hidden = false;
      this.#ui.status.textContent = `Compared ${report.samples} input set(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s.`;
      detail = { ...headline(report), recipe: used, report, markdown };
      this.#emit('compared', detail);
    });
    return error ?? detail;
  }

  /** A recipe with a target: the search (progress per unit of work), its table; `model` is absent when nothing meets the target. */
  async #search(recipe, feeds, labels, signal) {
    this.#ui.status.textContent = 'Searching…';
    const found = await this.#call('targetSearch', { key: 'model', recipe: JSON.stringify(recipe), feeds, labels, into: 'compressed' }, signal);
    renderTarget(this.#ui.target, found.report);
    if (!found.model) this.#ui.status.textContent = 'No recipe meets the target on these inputs; nothing was compressed.';
    return found;
  }

  async #sensitivity() {
    const last = this.#last;
    const model = this.#getModel();
    if (!last || !model) return;
    await this.#busy('Sensitivity', async (signal) => {
      const recipe = JSON.stringify(last.recipe);
      await this.#ensureOpen(model, signal);
      const layers = await this.#call('sensitivityStart', { key: 'model', recipe, calibration: last.feeds.slice(0, 16), feeds: last.feeds }, signal);
      for (const [i, node] of layers.entries()) {
        this.#progress({ stage: `sensitivity: ${node}`, done: i, total: layers.length });
        await this.#call('sensitivityMeasure', { node }, signal);
      }
      const { sensitivity, markdown } = await this.#call('sensitivityFinish', {}, signal);
      last.report.sensitivity = sensitivity;
      last.markdown += markdown;
      renderSensitivity(this.#ui.sensitivity, sensitivity, (nodes) => this.#keep(nodes));
      this.#ui.status.textContent = `Measured ${layers.length} layer(s).`;
    });
  }

  async #scan() {
    const last = this.#last;
    const model = this.#getModel();
    if (!last || !model) return;
    await this.#busy('Sparsity scan', async (signal) => {
      await this.#ensureOpen(model, signal);
      const t0 = performance.now();
      const feeds = last.feeds.slice(0, 16);
      const layers = await this.#call('scanStart', { key: 'model', recipe: JSON.stringify(last.recipe), feeds }, signal);
      for (const [i, node] of layers.entries()) {
        this.#progress({ stage: `sparsity scan: ${node}`, done: i, total: layers.length });
        await this.#call('scanMeasure', { index: i }, signal);
      }
      const { scan, recipe, markdown } = await this.#call('scanFinish', {}, signal);
      last.report.sparsity_scan = scan;
      last.markdown += markdown;
      renderScan(this.#ui.scan, scan, () => this.#useRecipe(recipe));
      this.#ui.status.textContent = `Scanned ${layers.length} ${scan.unit}(s) at ${scan.levels.length} sparsities in ${((performance.now() - t0) / 1000).toFixed(1)} s.`;
    });
  }

  /** One click: the scan's per-layer sparsities go into the recipe; recompress, compare again. */
  async #useRecipe(recipe) {
    this.#ui.recipe.value = JSON.stringify(JSON.parse(recipe), null, 1);
    await this.#compare();
  }

  /** One click: the suggested layers go into their steps' exclude.nodes; recompress, compare again. */
  async #keep(units) {
    try {
      const suggested = await this.#call('suggestedRecipe', { recipe: this.#ui.recipe.value, units });
      this.#ui.recipe.value = JSON.stringify(JSON.parse(suggested), null, 1);
    } catch (e) {
      this.#ui.error.textContent = e.message;
      this.#ui.error.hidden = false;
      return;
    }
    await this.#compare();
  }

  #download(kind) {
    const last = this.#last;
    if (!last) return;
    const base = last.name.replace(/\.onnx$/i, '');
    const [data, type, name] = {
      model: [last.compressed, 'application/octet-stream', `${base}.squished.onnx`],
      json: [JSON.stringify(last.report, null, 2), 'application/json', `${base}.compare.json`],
      md: [last.markdown, 'text/markdown', `${base}.compare.md`],
    }[kind];
    const url = URL.createObjectURL(new Blob([data], { type }));
    const a = h('a', { href: url, download: name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}

/** Labels from image sub-folder names (classes in sorted folder order), or null. */
function folderLabels(files) {
  const folders = files.map((f) => (f.webkitRelativePath || '').split('/').slice(-2, -1)[0]);
  if (folders.some((d) => !d) || new Set(folders).size < 2) return null;
  const classes = [...new Set(folders)].sort();
  const data = new BigInt64Array(folders.map((d) => BigInt(classes.indexOf(d))));
  return { dtype: 'int64', dims: [data.length], data };
}

/** What an embedding page most likely shows of a report (the `compared` event's detail has the full report too). */
function headline(report) {
  const c = report.outputs.find((o) => o.classification)?.classification;
  return {
    samples: report.samples,
    examples: report.outputs[0].examples,
    agreement: c?.top1_agreement ?? null,
    accuracy_original: c?.accuracy_original ?? null,
    accuracy_compressed: c?.accuracy_compressed ?? null,
    cosine_min: Math.min(...report.outputs.map((o) => o.regression.cosine_min)),
    sizes: report.sizes,
    speedup: report.latency?.speedup ?? null,
  };
}
