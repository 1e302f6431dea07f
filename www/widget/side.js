// One side of the compare card (A or B): a recipe, a worker of its own
// holding the model and its compressed copy, and everything shown about
// that copy — the record, the report, sensitivity, the sparsity scan and
// the downloads. The card runs the sides one after the other, so their
// latencies are measured without competing for the cores.
import { EngineBridge } from '../worker/bridge.js';
import { downloadFile, field, h } from '../ui/format.js';
import { renderReport, renderScan, renderSensitivity, renderTarget } from '../ui/compare-view.js';
import { renderRecord } from '../ui/record-view.js';
import { recipeProblems } from '../ui/recipe-check.js';

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

const NONE = 'none';

/** Seconds spent in each stage, lap by lap (the status line and the page's memory/time figures). */
export function stageClock() {
  let last = performance.now();
  const stages = {};
  return {
    stages,
    lap(name) {
      const now = performance.now();
      stages[name] = (stages[name] ?? 0) + (now - last) / 1000;
      last = now;
    },
  };
}

/** "open 1.2 s, compress 0.4 s, compare 3.1 s" */
export function formatStages(stages) {
  return Object.entries(stages).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ');
}

export class Side {
  #bridge = new EngineBridge();
  #ui = {};
  #opened = { model: null, generation: -1 }; // which model this worker holds, in which worker
  #host;
  /** The last run: { compressed: Uint8Array, report, markdown, feeds, labels, recipe, name, model, record }. */
  last = null;

  /**
   * `name`: 'A' or 'B' (B may be switched off); `host`: { getModel(),
   * emit(type, detail), busy(label, task), progress(p), rerun(side),
   * other(side), showError(message, stage) }.
   */
  constructor(name, host) {
    this.name = name;
    this.#host = host;
    const ui = this.#ui;
    const suffix = name === 'A' ? '' : `-${name.toLowerCase()}`;
    const first = name === 'A' ? Object.keys(PRESETS)[0] : NONE;
    ui.recipe = h('textarea', { rows: 4, spellcheck: 'false', 'data-testid': `recipe${suffix}`, 'aria-label': `side ${name} recipe JSON` },
      first === NONE ? '' : JSON.stringify(PRESETS[first], null, 1));
    const options = Object.keys(PRESETS).map((k) => h('option', { value: k }, k));
    if (name !== 'A') options.unshift(h('option', { value: NONE }, '— none: compare the original with side A only —'));
    ui.preset = h('select', { 'data-testid': `recipe-preset${suffix}`, 'aria-label': `side ${name} recipe preset`, onchange: () => this.#presetChosen() }, options);
    ui.copy = h('button', { 'data-testid': `copy-to-other${suffix}`, onclick: () => host.other(this).setRecipe(this.recipeText()) }, `Copy to side ${name === 'A' ? 'B' : 'A'}`);
    ui.editor = h('div', { class: 'side-editor' }, ui.recipe);
    this.editor = h('div', { class: `side side-${name.toLowerCase()}`, 'data-testid': `side-editor${suffix}` },
      h('h4', {}, `Side ${name}`), field('recipe', ui.preset), ui.editor, h('div', { class: 'row' }, ui.copy));
    // Side A keeps the card's original test ids; side B's end in -b.
    const tid = (id) => `${id}${suffix}`;
    ui.target = h('div', { 'data-testid': tid('target-result') });
    ui.record = h('div', {});
    ui.report = h('div', { 'data-testid': tid('report') });
    ui.sensitivityButton = h('button', { 'data-testid': tid('run-sensitivity'), hidden: '', onclick: () => this.#sensitivity() }, 'Find the layers to leave uncompressed (sensitivity)');
    ui.sensitivity = h('div', { 'data-testid': tid('sensitivity-result') });
    ui.scanButton = h('button', { 'data-testid': tid('run-scan'), hidden: '', onclick: () => this.#scan() }, 'Scan sparsity per layer (which layers can take more zeros, or lose more channels)');
    ui.scan = h('div', { 'data-testid': tid('scan-result') });
    ui.downloads = h('div', { class: 'row', hidden: '' },
      h('button', { 'data-testid': tid('download-model'), onclick: () => this.#download('model') }, `Download side ${name}'s model`),
      h('button', { onclick: () => this.#download('json') }, 'Report (JSON)'),
      h('button', { onclick: () => this.#download('md') }, 'Report (Markdown)'),
      h('button', { onclick: () => this.#download('recipe') }, 'Recipe'));
    ui.examples = h('div', { 'data-testid': tid('examples') });
    this.results = h('section', { class: `side-results side-${name.toLowerCase()}`, 'data-testid': `side${suffix || '-a'}`, hidden: '' },
      h('h4', { class: 'side-title' }, `Side ${name}`),
      ui.target, ui.record, ui.report, ui.examples, ui.sensitivityButton, ui.sensitivity, ui.scanButton, ui.scan, ui.downloads);
    this.#presetChosen(false);
  }

  #presetChosen(write = true) {
    const off = this.#ui.preset.value === NONE;
    this.#ui.editor.hidden = off;
    this.#ui.copy.hidden = off;
    if (write && !off) this.#ui.recipe.value = JSON.stringify(PRESETS[this.#ui.preset.value], null, 1);
    if (off) this.results.hidden = true;
  }

  /** Whether this side takes part (side B can be switched off). */
  get enabled() {
    return this.#ui.preset.value !== NONE;
  }

  recipeText() {
    return this.#ui.recipe.value;
  }

  /** Shows `text` as this side's recipe (switching side B on). */
  setRecipe(text) {
    if (!this.enabled) this.#ui.preset.value = Object.keys(PRESETS)[0];
    this.#presetChosen(false);
    this.#ui.recipe.value = text;
  }

  /** Switches side B off (a shared link without one). */
  switchOff() {
    if (this.name === 'A') return;
    this.#ui.preset.value = NONE;
    this.#presetChosen(false);
  }

  /** The recipe, parsed and checked against the published schema; errors name the side. */
  recipe() {
    const where = this.name === 'A' ? 'recipe' : `side ${this.name} recipe`;
    let recipe;
    try {
      recipe = JSON.parse(this.#ui.recipe.value);
    } catch (e) {
      throw new Error(`${where}: invalid JSON: ${e.message}`);
    }
    const problems = recipeProblems(recipe);
    if (problems.length) throw new Error(`${where}: ${problems.join('; ')}`);
    return recipe;
  }

  setBusy(busy) {
    this.#ui.sensitivityButton.disabled = busy;
    this.#ui.scanButton.disabled = busy;
  }

  terminate() {
    this.#bridge.terminate();
  }

  call(method, args, signal) {
    return this.#bridge.call(method, args, { signal, onProgress: (p) => this.#host.progress(p) });
  }

  /** Decodes `model` in this side's worker (once per worker) and returns its summary; on failure the model before stays. */
  async open(model, signal) {
    const summary = await this.#bridge.call('open', { key: 'model', blob: model.blob, external: model.external ?? [] }, { signal });
    this.#opened = { model, generation: this.#bridge.generation };
    return summary;
  }

  async ensureOpen(model, signal) {
    const live = this.#bridge.running && this.#opened.generation === this.#bridge.generation;
    if (!live || this.#opened.model !== model) await this.open(model, signal);
  }

  /** Whether this side's worker still holds the last compressed model. */
  holdsCompressed() {
    return !!this.last && this.#bridge.running && this.#opened.generation === this.#bridge.generation;
  }

  /**
   * Compresses with `recipe` (searching first if it has a target), compares
   * on `inputs` and renders it all; returns the `compared` detail.
   */
  async run(model, recipe, inputs, options, signal) {
    const { feeds, labels, text } = inputs;
    const t0 = performance.now();
    const clock = stageClock();
    await this.ensureOpen(model, signal);
    clock.lap('open');
    this.#ui.target.replaceChildren();
    const found = recipe.target ? await this.#search(recipe, feeds, labels, signal) : null;
    if (found && !found.model) throw new Error(`side ${this.name}: no recipe meets the target on these inputs; nothing was compressed`);
    const { model: compressed, record } = found
      ?? await this.call('compress', { key: 'model', recipe: JSON.stringify(recipe), calibration: feeds.slice(0, 16), into: 'compressed' }, signal);
    const used = found ? JSON.parse(found.recipe) : recipe;
    clock.lap(found ? 'search' : 'compress');
    this.#host.emit('compressed', { side: this.name, recipe: used, record, bytes: compressed.byteLength });
    const { report, markdown } = await this.call('compare', { original: 'model', compressed: 'compressed', feeds, labels, options, texts: text }, signal);
    clock.lap('compare');
    if (found) report.target = found.report;
    // After a search, what follows (sensitivity, scans, the download) works on the recipe it found.
    this.last = { compressed, report, markdown: (found?.markdown ?? '') + markdown, feeds, labels, recipe: used, name: model.name, model, record, text };
    this.results.hidden = false;
    renderRecord(this.#ui.record, record);
    renderReport(this.#ui.report, report);
    this.#ui.sensitivity.replaceChildren();
    this.#ui.sensitivityButton.hidden = false;
    this.#ui.scan.replaceChildren();
    const prune = recipe.prune ?? recipe.steps?.find((st) => st.prune)?.prune;
    this.#ui.scanButton.hidden = !(prune && prune.sparsity != null && ['unstructured', 'channels', 'heads'].includes(prune.pattern ?? 'unstructured'));
    this.#ui.downloads.hidden = false;
    return { side: this.name, seconds: (performance.now() - t0) / 1000, stages: clock.stages, recipe: used, report, markdown };
  }

  /** The element holding this side's example thumbnails (the card fills it). */
  get examplesElement() {
    return this.#ui.examples;
  }

  async #search(recipe, feeds, labels, signal) {
    const found = await this.call('targetSearch', { key: 'model', recipe: JSON.stringify(recipe), feeds, labels, into: 'compressed' }, signal);
    renderTarget(this.#ui.target, found.report);
    return found;
  }

  async #sensitivity() {
    const last = this.last;
    const model = this.#host.getModel();
    if (!last || !model) return;
    await this.#host.busy('Sensitivity', async (signal) => {
      const recipe = JSON.stringify(last.recipe);
      await this.ensureOpen(model, signal);
      const layers = await this.call('sensitivityStart', { key: 'model', recipe, calibration: last.feeds.slice(0, 16), feeds: last.feeds }, signal);
      for (const [i, node] of layers.entries()) {
        this.#host.progress({ stage: `sensitivity: ${node}`, done: i, total: layers.length });
        await this.call('sensitivityMeasure', { node }, signal);
      }
      const { sensitivity, markdown } = await this.call('sensitivityFinish', {}, signal);
      last.report.sensitivity = sensitivity;
      last.markdown += markdown;
      renderSensitivity(this.#ui.sensitivity, sensitivity, (nodes) => this.#keep(nodes));
      return `Measured ${layers.length} layer(s).`;
    });
  }

  async #scan() {
    const last = this.last;
    const model = this.#host.getModel();
    if (!last || !model) return;
    await this.#host.busy('Sparsity scan', async (signal) => {
      await this.ensureOpen(model, signal);
      const t0 = performance.now();
      const feeds = last.feeds.slice(0, 16);
      const layers = await this.call('scanStart', { key: 'model', recipe: JSON.stringify(last.recipe), feeds }, signal);
      for (const [i, node] of layers.entries()) {
        this.#host.progress({ stage: `sparsity scan: ${node}`, done: i, total: layers.length });
        await this.call('scanMeasure', { index: i }, signal);
      }
      const { scan, recipe, markdown } = await this.call('scanFinish', {}, signal);
      last.report.sparsity_scan = scan;
      last.markdown += markdown;
      renderScan(this.#ui.scan, scan, () => this.#useRecipe(recipe));
      return `Scanned ${layers.length} ${scan.unit}(s) at ${scan.levels.length} sparsities in ${((performance.now() - t0) / 1000).toFixed(1)} s.`;
    });
  }

  /** One click: the scan's per-layer sparsities go into the recipe; recompress, compare again. */
  async #useRecipe(recipe) {
    this.#ui.recipe.value = JSON.stringify(JSON.parse(recipe), null, 1);
    await this.#host.rerun(this);
  }

  /** One click: the suggested layers go into their steps' exclude.nodes; recompress, compare again. */
  async #keep(units) {
    try {
      const suggested = await this.call('suggestedRecipe', { recipe: this.#ui.recipe.value, units });
      this.#ui.recipe.value = JSON.stringify(JSON.parse(suggested), null, 1);
    } catch (e) {
      this.#host.showError(e.message, 'sensitivity');
      return;
    }
    await this.#host.rerun(this);
  }

  #download(kind) {
    const last = this.last;
    if (!last) return;
    const base = `${last.name.replace(/\.onnx$/i, '')}${this.name === 'A' ? '' : `.${this.name.toLowerCase()}`}`;
    const [data, type, name] = {
      model: [last.compressed, 'application/octet-stream', `${base}.squished.onnx`],
      json: [JSON.stringify(last.report, null, 2), 'application/json', `${base}.compare.json`],
      md: [last.markdown, 'text/markdown', `${base}.compare.md`],
      recipe: [JSON.stringify(last.recipe, null, 2), 'application/json', `${base}.recipe.json`],
    }[kind];
    downloadFile(data, type, name);
  }
}
