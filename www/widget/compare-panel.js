// The "Compress & compare" card: the inputs, two sides (A and B, each a
// recipe with a worker of its own; B may be off), then compression and
// comparison of each side in turn — never both at once, so each latency is
// measured alone on the cores — and a summary of the original, A and B
// together above each side's full report. Cancel terminates the running
// worker; on any error the previous results and the recipes stay on screen.
import { h } from '../ui/format.js';
import { renderSideCharts, renderSides } from '../ui/sides-view.js';
import { renderExamples } from '../ui/examples-view.js';
import { InputsPanel } from './inputs-panel.js';
import { PRESETS, Side, formatStages, stageClock } from './side.js';

export { PRESETS };

export class ComparePanel {
  #getModel;
  #ui = {};
  #abort = null;
  #emit;
  #ready;
  #inputs = new InputsPanel();
  #sides;

  /**
   * `getModel()` → { blob: Blob, name, demo: { samples, labels } | null };
   * `emit(type, detail)` tells the element's listeners (compressed, compared,
   * error); `ready()` resolves when the element has loaded its model.
   */
  constructor(getModel, emit = () => {}, ready = async () => {}) {
    this.#getModel = getModel;
    this.#emit = emit;
    this.#ready = ready;
    const host = {
      getModel: () => this.#getModel(),
      emit: (type, detail) => this.#emit(type, detail),
      busy: (label, task) => this.#busy(label, task),
      progress: (p) => this.#progress(p),
      rerun: (side) => this.#compare([side]),
      other: (side) => this.#sides.find((s) => s !== side),
      showError: (message, stage) => this.#showError(message, stage),
    };
    this.#sides = [new Side('A', host), new Side('B', host)];
    const ui = this.#ui;
    ui.go = h('button', { class: 'primary', 'data-testid': 'compare', onclick: () => this.#compare() }, 'Compress & compare');
    ui.cancel = h('button', { 'data-testid': 'cancel', hidden: '', onclick: () => this.#abort?.abort() }, 'Cancel');
    ui.progress = h('progress', { hidden: '', max: 1, value: 0, 'aria-label': 'progress' });
    ui.status = h('span', { class: 'status', 'data-testid': 'compare-status', 'aria-live': 'polite' });
    ui.error = h('div', { class: 'error', role: 'alert', 'data-testid': 'compare-error', hidden: '' });
    ui.summary = h('div', { 'data-testid': 'sides-summary' });
    ui.charts = h('div', { class: 'side-charts', 'data-testid': 'sides-charts' });
    this.element = h('section', { class: 'card', 'data-testid': 'compare-card' },
      h('h3', {}, 'Compress & compare'),
      h('div', { class: 'two' },
        h('div', { class: 'sides' }, this.#sides.map((s) => s.editor)),
        this.#inputs.element),
      ui.actions = h('div', { class: 'row' }, ui.go, ui.cancel, ui.progress, ui.status),
      ui.error, ui.summary, ui.charts, h('div', { class: 'side-columns' }, this.#sides.map((s) => s.results)));
  }

  /** Reads the inputs as this card would, through `call` (a worker holding the model under 'model'): the sweep's inputs. */
  readInputs(call, model, signal) {
    return this.#inputs.read(call, model, signal);
  }

  /** Puts `nodes` (the element's share controls) after the card's buttons. */
  addActions(...nodes) {
    this.#ui.actions.after(h('div', { class: 'row' }, nodes));
  }

  get #a() {
    return this.#sides[0];
  }

  /** The last compressed model of side A and its recipe, if it was made from the model loaded now. */
  compressed() {
    const last = this.#a.last;
    return last && last.model === this.#getModel() ? { bytes: last.compressed, recipe: last.recipe } : null;
  }

  modelChanged() {
    this.#inputs.modelChanged(!!this.#getModel()?.demo);
  }

  /** The element's `recipe` attribute: side A's recipe, checked when run. */
  setRecipe(text) {
    this.#a.setRecipe(text);
  }

  setInputFile(name, bytes) {
    this.#inputs.setInputFile(name, bytes);
  }

  setTokenizer(file) {
    this.#inputs.setTokenizer(file);
  }

  /** What a shared link restores: both recipes and the input settings. */
  settings() {
    const [a, b] = this.#sides;
    return { a: a.recipeText(), b: b.enabled ? b.recipeText() : null, inputs: this.#inputs.settings() };
  }

  /** Input settings only (a built-in demo's). */
  applyInputs(settings) {
    this.#inputs.applySettings(settings);
  }

  applySettings(s) {
    const [a, b] = this.#sides;
    if (typeof s.a === 'string') a.setRecipe(s.a);
    if (typeof s.b === 'string') b.setRecipe(s.b);
    else b.switchOff();
    if (s.inputs) this.#inputs.applySettings(s.inputs);
  }

  terminate() {
    this.#sides.forEach((s) => s.terminate());
  }

  /** Decodes `model` in side A's worker and returns its summary; on failure the model opened before stays. */
  open(model, signal) {
    return this.#a.open(model, signal);
  }

  /** Asks side A's worker about the model loaded now (opened first if needed): the model view's questions. */
  async inspect(method, args = {}) {
    const model = this.#getModel();
    if (!model) throw new Error('no model is loaded yet');
    await this.#a.ensureOpen(model);
    return this.#a.call(method, { key: 'model', ...args });
  }

  /** Runs every side's last compressed model (made from the model loaded now) on `inputs`: [{ side, result }]. */
  async runCompressed(inputs) {
    const model = this.#getModel();
    const out = [];
    for (const side of this.#sides) {
      if (!side.enabled || side.last?.model !== model || !side.holdsCompressed()) continue;
      const result = await side.call('run', { key: 'compressed', inputs: inputs() }).catch(() => null);
      if (result) out.push({ side: side.name, result });
    }
    return out;
  }

  #progress({ stage, done, total }) {
    this.#ui.progress.max = Math.max(1, total);
    this.#ui.progress.value = done;
    this.#ui.status.textContent = `${stage}… ${total > 1 ? `${done}/${total}` : ''}`;
  }

  #showError(message, stage) {
    this.#ui.error.textContent = message;
    this.#ui.error.hidden = false;
    this.#emit('error', { message, stage });
  }

  /**
   * Runs `task(signal)` with the progress bar and Cancel shown; errors keep
   * the screen. A string the task returns becomes the status. Returns null,
   * or the error (shown, and emitted unless it was a cancel).
   */
  async #busy(label, task) {
    const ui = this.#ui;
    this.#abort = new AbortController();
    ui.go.disabled = true;
    this.#sides.forEach((s) => s.setBusy(true));
    ui.cancel.hidden = false;
    ui.progress.hidden = false;
    ui.status.textContent = `${label}…`;
    ui.error.hidden = true;
    try {
      const status = await task(this.#abort.signal);
      if (typeof status === 'string') ui.status.textContent = status;
      return null;
    } catch (e) {
      if (e.name === 'AbortError') ui.status.textContent = 'Cancelled. The previous results are kept.';
      else {
        ui.status.textContent = '';
        this.#showError(e.message, label.toLowerCase());
      }
      return e;
    } finally {
      ui.go.disabled = false;
      this.#sides.forEach((s) => s.setBusy(false));
      ui.cancel.hidden = true;
      ui.progress.hidden = true;
      this.#abort = null;
    }
  }

  /** Compress & compare as the button does: resolves with the `compared` detail, rejects with what went wrong. */
  async run() {
    const outcome = await this.#compare();
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  /**
   * Compresses and compares the enabled sides (or only `which`), one after
   * the other, on inputs read once. Returns side A's `compared` detail (the
   * element's event), or the Error shown.
   */
  async #compare(which = null) {
    // A first click on an element that has not started yet starts it, then runs.
    try {
      await this.#ready();
    } catch (e) {
      return e;
    }
    const model = this.#getModel();
    if (!model) return new Error('no model is loaded yet');
    const sides = (which ?? this.#sides).filter((s) => s.enabled);
    let recipes;
    try {
      recipes = sides.map((s) => s.recipe());
    } catch (e) {
      this.#showError(e.message, 'recipe');
      return e;
    }
    const t0 = performance.now();
    let detail = null;
    const error = await this.#busy('Compressing', async (signal) => {
      const clock = stageClock();
      await this.#a.ensureOpen(model, signal);
      const inputs = await this.#inputs.read((m, args, sig) => this.#a.call(m, args, sig), model, signal);
      clock.lap('inputs');
      const options = this.#inputs.options();
      const laps = [`inputs ${clock.stages.inputs.toFixed(1)} s`];
      for (const [i, side] of sides.entries()) {
        if (sides.length > 1) this.#ui.status.textContent = `Side ${side.name}: compressing…`;
        const d = await side.run(model, recipes[i], inputs, options, signal);
        laps.push(`${side.name}: ${formatStages(d.stages)}`);
        renderExamples(side.examplesElement, side.last.report, inputs, model);
        const compared = { ...headline(d.report), recipe: d.recipe, report: d.report, markdown: side.last.markdown };
        if (side.name === 'A') detail = compared;
        this.#emit('compared', { ...compared, side: side.name });
      }
      for (const s of this.#sides) if (!s.enabled) s.results.hidden = true;
      const shown = this.#sides.filter((s) => s.enabled && s.last?.model === model).map((s) => ({ name: s.name, last: s.last }));
      renderSides(this.#ui.summary, shown);
      renderSideCharts(this.#ui.charts, shown);
      const samples = this.#a.last?.report.samples ?? 0;
      return `Compared ${samples} input set(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s (${laps.join('; ')}).`;
    });
    return error ?? detail;
  }
}

/** What an embedding page most likely shows of a report (the `compared` event's detail has the full report too). */
export function headline(report) {
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
